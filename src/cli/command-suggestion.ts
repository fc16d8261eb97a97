/**
 * What connstorm says when the first word is not one of its commands: the nearest command, as a
 * suggestion only. connstorm sends traffic, so a typo is never "corrected" by running something.
 */

/**
 * Edits that turn `a` into `b`: insert, delete, substitute one character, or swap two adjacent
 * ones (the optimal-string-alignment distance). The swap counts once because it is the commonest
 * typing slip ('strom' for 'storm'), which plain Levenshtein would count as two substitutions.
 */
export function editDistance(a: string, b: string): number {
  // rows[i][j]: edits between the first i characters of a and the first j of b.
  const rows: number[][] = Array.from({length: a.length + 1}, (_, i) => Array.from({length: b.length + 1}, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i]!
    const above = rows[i - 1]!
    for (let j = 1; j <= b.length; j++) {
      const substitution = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + substitution)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1)
      row[j] = best
    }
  }
  return rows[a.length]![b.length]!
}

/**
 * How far a word may be from a command and still be taken for a typo of it: one edit for a word
 * of up to three letters (two edits would turn 'ls' into 'lab'), two for longer ones ('repot',
 * 'stomr'). Any further and the word is more likely something else than a slip.
 */
export function maxTypoDistance(word: string): number {
  return word.length <= 3 ? 1 : 2
}

/**
 * The command `word` most likely misspells, or undefined when none is within
 * {@link maxTypoDistance}. Case is ignored (commands are lower case). Ties go to the command
 * first in alphabetical order, so the answer never depends on the order oclif lists them in.
 */
export function nearestCommand(word: string, commands: readonly string[]): string | undefined {
  const typed = word.toLowerCase()
  let nearest: {command: string; distance: number} | undefined
  for (const command of [...commands].sort()) {
    const distance = editDistance(typed, command)
    if (distance > maxTypoDistance(typed)) continue
    if (nearest === undefined || distance < nearest.distance) nearest = {command, distance}
  }
  return nearest?.command
}

/** The one line printed on stderr (exit 2) for a word that is not a command. */
export function notACommandMessage(bin: string, word: string, commands: readonly string[]): string {
  const suggestion = nearestCommand(word, commands)
  const hint = suggestion === undefined ? '' : ` Did you mean '${suggestion}'?`
  return `${bin}: '${word}' is not a ${bin} command.${hint} See ${bin} help.`
}
