import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

// @ts-expect-error: a plain .mjs script with no type declarations; the test only calls it.
import {COMMANDS_DOC, commandNames, renderCommandsDoc} from '../../scripts/commands-doc.mjs'

describe('docs/commands.md', () => {
  // Seven oclif start-ups in parallel take ~1 s of CPU each; on 2 shared cores they can queue.
  it('is what the commands print with --help today (else: npm run docs)', {timeout: 60_000}, async () => {
    const names: string[] = commandNames()
    expect(names).toEqual(['storm', 'analyze', 'inspect', 'lab', 'merge', 'report', 'reproduce'])
    const fresh: string = await renderCommandsDoc(names)
    const committed = readFileSync(COMMANDS_DOC, 'utf8')
    expect(committed, 'docs/commands.md is stale: run npm run docs').toBe(fresh)
  })
})
