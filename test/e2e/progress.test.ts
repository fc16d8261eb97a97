import {execFileSync} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import {RUN_JS, runCli} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'

// A pseudo-terminal comes from util-linux `script`.
const noScript = skipUnless({tools: ['script']}, 'the progress line on a TTY')

/** Runs the CLI under a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function onTty(args: string[]): string {
  // A wide terminal, so that the progress line is not cut at 80 columns.
  const command = `stty cols 200; ${[process.execPath, RUN_JS, ...args].map((part) => `'${part}'`).join(' ')}`
  return execFileSync('script', ['-qfec', command, '/dev/null'], {encoding: 'utf8', timeout: 30_000})
}

describe('live progress', () => {
  it('prints nothing on stderr when stderr is not a TTY', async () => {
    const run = await runCli(['storm', '--lab-stall', '0', '--burst', '20'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toBe('')
  })

  it.skipIf(noScript)('shows launched / connected / failed / in flight / elapsed and the ladder steps on a TTY', () => {
    const screen = onTty(['storm', '--lab-stall', '1.2s', '--burst', '30'])
    expect(screen).toMatch(/30\/30 launched \| connected \d+ \| failed 0 \| in flight \d+ \| [\d.]+ s \| steps k0 9/)
    expect(screen).toMatch(/verdict {3}21 of 30 connects/)
  })

  it.skipIf(noScript)('stays silent with --quiet and with --json, even on a TTY', () => {
    expect(onTty(['storm', '--lab-stall', '0', '--burst', '10', '--quiet'])).not.toMatch(/launched \|/)
    const json = onTty(['storm', '--lab-stall', '0', '--burst', '10', '--json'])
    expect(json).not.toMatch(/launched \|/)
    expect(JSON.parse(json.slice(json.indexOf('{'))).counts.connected).toBe(10)
  })
})
