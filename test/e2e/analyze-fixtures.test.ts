import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/results/', import.meta.url))

// Five runs of different shapes, saved with storm --out (merge --out for the last) and analyzed by
// the code of that day. A saved run must read and report identically for as long as schema 1
// lives: the diagnosis is a pure function of the file, whatever the code around it becomes.
describe('analyze FILE reports a saved run exactly as it did when it was saved', () => {
  it.each(['lab-burst', 'rate', 'probe', 'verify', 'merged'])('%s', async (name) => {
    const run = await runCli(['analyze', `${FIXTURES}${name}.json`])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(readFileSync(`${FIXTURES}${name}.analyze.txt`, 'utf8'))
  })
})
