import {describe, expect, it} from 'vitest'

import {type CliResult, runCli} from '../helpers/cli.js'
import {parseJsonResult} from '../helpers/result.js'
import type {StormResult} from '../../src/results/format.js'

/**
 * A machine where the native addon was not built (no compiler at `npm ci`) runs every storm on the
 * JavaScript paths: bare TCP handles for connect-and-close, net.Socket for probes and holds, and
 * no TCP_INFO, so the attribution is inferred from latency. CONNSTORM_ADDON=off makes this machine
 * one of those. The outcomes are the kernel's, so they are the same; the `self` line says which
 * code made the connects, and why.
 */
function stormWithoutAddon(args: string[]): Promise<CliResult> {
  return runCli(['storm', ...args], {env: {CONNSTORM_ADDON: 'off'}})
}

async function jsonStorm(args: string[]): Promise<StormResult> {
  const run = await stormWithoutAddon([...args, '--json'])
  expect(run.code, run.stderr).toBe(0)
  return parseJsonResult(run.stdout)
}

const NO_ADDON = 'the native addon is not built, or is turned off'

describe.concurrent('without the native addon (CONNSTORM_ADDON=off)', () => {
  it('connects and closes on bare TCP handles: a lab of backlog 4 stalled 1.5 s admits 5 of a burst of 20 at once, the other 15 later, all connected; the attribution is inferred, not counted', async () => {
    const result = await jsonStorm(['--lab-backlog', '4', '--lab-stall', '1.5s', '--burst', '20'])
    expect(result.self.connectPath).toBe('handle')
    expect(result.self.connectPathWhy).toBe(`${NO_ADDON}: bare TCP handles on the event loop`)
    expect(result.counts.byOutcome.connected).toBe(20)
    expect(result.attribution!.steps[0]).toMatchObject({retransmits: 0, connects: 5})
    expect(result.attribution!.steps.slice(1).reduce((sum, step) => sum + step.connects, 0)).toBe(15)
    // No TCP_INFO reader without the addon: each connect's retransmits are read off its latency
    // (an attribution without a source is inferred; 'counted' would need the kernel's per-connect count).
    expect(result.attribution!.source).toBeUndefined()
    expect(result.attribution!.steps.map((step) => step.source ?? null)).toEqual([null, null])
  })

  it('probes the first byte on net.Socket: 5 banners, all ok', async () => {
    const result = await jsonStorm(['--lab-on-accept', 'banner', '--burst', '5', '--probe', 'banner'])
    expect(result.self.connectPath).toBe('net')
    expect(result.self.connectPathWhy).toBe(`${NO_ADDON}: a probe or --close hold on net.Socket`)
    expect(result.probe!.outcomes.ok).toBe(5)
  })

  it('holds connections on net.Socket until --max-duration: all 5 held at the end', async () => {
    const result = await jsonStorm(['--burst', '5', '--close', 'hold', '--max-duration', '1s'])
    expect(result.self.connectPath).toBe('net')
    expect(result.counts.byOutcome.connected).toBe(5)
    expect(result.heldAtEnd).toBe(5)
  })

  it('says so on the self line of the text report', async () => {
    const run = await stormWithoutAddon(['--burst', '3'])
    expect(run.code, run.stderr).toBe(0)
    const self = run.stdout.split('\n').find((line) => line.startsWith('self '))
    expect(self).toMatch(/; connects made on bare TCP handles \(the native addon is not built, or is turned off: bare TCP handles on the event loop\)$/)
  })
})
