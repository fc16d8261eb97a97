import type {ThresholdOutcome} from '../results/format.js'

/** One line per threshold: `threshold p99<200ms          held    (p99 = 183 ms)`, expressions aligned. */
export function renderThresholds(outcomes: readonly ThresholdOutcome[]): string[] {
  const width = Math.max(0, ...outcomes.map((outcome) => outcome.expr.length))
  return outcomes.map((outcome) => {
    const name = /^\s*([^<>=!]*?)\s*[<>=!]/.exec(outcome.expr)?.[1] || outcome.expr
    const measured = outcome.display.startsWith('≥') ? `${name} ${outcome.display}` : `${name} = ${outcome.display}`
    return `threshold ${outcome.expr.padEnd(width)}  ${outcome.held ? 'held  ' : 'FAILED'}  (${measured})`
  })
}
