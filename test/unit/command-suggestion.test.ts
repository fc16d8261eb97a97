import {describe, expect, it} from 'vitest'

import {editDistance, nearestCommand, notACommandMessage} from '../../src/cli/command-suggestion.js'

// connstorm's visible commands, as the CLI lists them (its own and oclif's help and autocomplete).
const COMMANDS = ['analyze', 'autocomplete', 'help', 'inspect', 'lab', 'merge', 'report', 'reproduce', 'storm']

describe('the edit distance between a typed word and a command', () => {
  it('is 0 for the same word and the length of the other for an empty one', () => {
    expect(editDistance('storm', 'storm')).toBe(0)
    expect(editDistance('', 'lab')).toBe(3)
    expect(editDistance('lab', '')).toBe(3)
  })

  it('counts one insertion, one deletion or one substitution as 1', () => {
    expect(editDistance('stom', 'storm')).toBe(1)
    expect(editDistance('storms', 'storm')).toBe(1)
    expect(editDistance('stirm', 'storm')).toBe(1)
  })

  it('counts two swapped neighbours as 1, not as two substitutions', () => {
    expect(editDistance('strom', 'storm')).toBe(1)
    expect(editDistance('lba', 'lab')).toBe(1)
  })

  it('adds up separate edits', () => {
    // 'ls' → 'la' (substitute) → 'lab' (insert)
    expect(editDistance('ls', 'lab')).toBe(2)
    // every one of the five letters differs
    expect(editDistance('xyzzy', 'storm')).toBe(5)
  })
})

describe('the command a mistyped word is taken for', () => {
  it('is the command one swap away: strom → storm', () => {
    expect(nearestCommand('strom', COMMANDS)).toBe('storm')
  })

  it('is the command within two edits for a word of four letters or more: repot → report, anlyse → analyze', () => {
    expect(nearestCommand('repot', COMMANDS)).toBe('report')
    // 'anlyse': insert 'a', substitute 's' → 'z'
    expect(nearestCommand('anlyse', COMMANDS)).toBe('analyze')
  })

  it('ignores case: STORM → storm', () => {
    expect(nearestCommand('STORM', COMMANDS)).toBe('storm')
  })

  it('is the nearer of two close commands: reproduc → reproduce (1 edit), not report', () => {
    expect(nearestCommand('reproduc', COMMANDS)).toBe('reproduce')
  })

  it('is nothing for a word far from every command', () => {
    expect(nearestCommand('xyzzy', COMMANDS)).toBeUndefined()
    expect(nearestCommand('connect', COMMANDS)).toBeUndefined()
  })

  it('allows a short word one edit only: lb → lab, but not ls (2 edits from lab)', () => {
    expect(nearestCommand('lb', COMMANDS)).toBe('lab')
    expect(nearestCommand('ls', COMMANDS)).toBeUndefined()
  })

  it('breaks a tie alphabetically, whatever order the commands come in', () => {
    // 'mab' is one substitution from both 'lab' and 'mar'.
    expect(nearestCommand('mab', ['mar', 'lab'])).toBe('lab')
    expect(nearestCommand('mab', ['lab', 'mar'])).toBe('lab')
  })
})

describe('the line printed for a word that is not a command', () => {
  it('suggests the nearest command and points to help', () => {
    expect(notACommandMessage('connstorm', 'strom', COMMANDS)).toBe("connstorm: 'strom' is not a connstorm command. Did you mean 'storm'? See connstorm help.")
  })

  it('has no suggestion when no command is close', () => {
    expect(notACommandMessage('connstorm', 'xyzzy', COMMANDS)).toBe("connstorm: 'xyzzy' is not a connstorm command. See connstorm help.")
  })
})
