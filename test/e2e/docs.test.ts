import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

// @ts-expect-error: a plain .mjs script with no type declarations; the test only calls it.
import {COMMANDS_DOC, commandNames, renderCommandsDoc} from '../../scripts/commands-doc.mjs'

describe('docs/commands.md', () => {
  // Eight oclif start-ups in parallel take ~1 s of CPU each; on 2 shared cores they can queue.
  it('is what the commands print with --help today (else: npm run docs)', {timeout: 60_000}, async () => {
    const names: string[] = commandNames()
    expect(names).toEqual(['storm', 'analyze', 'inspect', 'lab', 'merge', 'report', 'reproduce', 'search', 'watch'])
    const fresh: string = await renderCommandsDoc(names)
    const committed = readFileSync(COMMANDS_DOC, 'utf8')
    expect(committed, 'docs/commands.md is stale: run npm run docs').toBe(fresh)
  })
})

describe('examples/incidents/README.md', () => {
  it('is what the incident catalog says today (else: npm run docs)', async () => {
    // @ts-expect-error: a plain .mjs script with no type declarations; the test only calls it.
    const {INCIDENTS_DOC, renderIncidentsDoc} = await import('../../scripts/incidents-doc.mjs')
    expect(readFileSync(INCIDENTS_DOC as string, 'utf8'), 'examples/incidents/README.md is stale: run npm run docs').toBe(await renderIncidentsDoc())
  })
})
