import {spawnSync} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import {INCIDENTS} from '../../src/incidents/catalog.js'
import {runCli} from '../helpers/cli.js'

const isRoot = process.getuid?.() === 0
const hasTools = ['unshare', 'ip'].every((tool) => !spawnSync(tool, ['-V'], {stdio: 'ignore'}).error)

describe('connstorm reproduce --list', () => {
  it('lists at least 11 incidents, each with its symptom and expected diagnosis', async () => {
    const run = await runCli(['reproduce', '--list', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const {incidents} = JSON.parse(run.stdout) as {incidents: {name: string; symptom: string; expected: string}[]}
    expect(incidents.length).toBeGreaterThanOrEqual(11)
    for (const incident of incidents) expect(incident.symptom.length * incident.expected.length).toBeGreaterThan(0)
  })

  it('refuses an unknown incident with one line and exit 2', async () => {
    const run = await runCli(['reproduce', 'no-such-incident'])
    expect(run.code).toBe(2)
    expect(run.stderr.trim()).toMatch(/^connstorm reproduce: NAME: invalid value 'no-such-incident': expected one of java-default-backlog/)
  })
})

// Each incident runs in a network namespace of its own (--isolate): root only; CI runs as root.
// They run three at a time to keep the suite short; every diagnosis allows for a whole ladder step
// (≥ 1 s) of scheduling noise, far more than running side by side adds. The tolerance of each check
// is written next to it in src/incidents/catalog.ts.
describe.skipIf(!isRoot || !hasTools).concurrent('every incident reproduces and is diagnosed as written (root)', () => {
  it.each(INCIDENTS.map((incident) => [incident.name]))('%s', async (name) => {
    const run = await runCli(['reproduce', name, '--json'], {killAfterMs: 60_000})
    const result = JSON.parse(run.stdout) as {incident: {matched: boolean; mismatches: string[]}}
    expect(result.incident.mismatches).toEqual([])
    expect(run.code).toBe(0)
    expect(run.elapsedMs).toBeLessThan(30_000)
  })
})
