import {afterEach, describe, expect, it} from 'vitest'

import {nativeAddon} from '../../src/native/addon.js'
import {closedPort, runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {parseJsonResult} from '../helpers/result.js'

afterEach(stopAllLabs)

// The native connect loop (native/connect-loop.c) makes the connects of every storm that only
// connects and closes. Most of the suite's storms run through it (the default path); these
// tests pin down what is particular to it.
describe('the native connect loop', () => {
  it('is built by npm ci on a machine with a C compiler (this one: see README "Install")', () => {
    expect(nativeAddon, 'build/Release/connstorm.node is missing: run npm ci (scripts/build-native.sh says why it failed)').not.toBeNull()
  })

  it('keeps a paced schedule: every start counted once, at the asked rate, none charged less than its connect', async () => {
    const lab = await startLab(['--backlog', '4096'])
    const run = await runCli(['storm', lab.address, '--rate', '4000', '--duration', '1s', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe('native')
    expect(result.counts).toMatchObject({attempted: 4000, connected: 4000, pending: 0, notStarted: 0})
    expect(result.achievedRate).toBeGreaterThan(3960)
    expect(result.achievedRate).toBeLessThan(4040)
    expect(result.startWindowMs).toBeGreaterThan(990)
    expect(result.latencyUs.fromIntended.count).toBe(4000)
    expect(result.latencyUs.fromIntended.min).toBeGreaterThanOrEqual(result.latencyUs.fromActual.min)
    // The timeline gets each connect once, at the time the loop saw it end.
    expect(result.timeline!.connected.reduce((sum, n) => sum + n, 0)).toBe(4000)
  })

  it('connects to ::1, closes with FIN when asked, and times out what the listener drops', async () => {
    const lab = await startLab(['--host', '::1', '--backlog', '2', '--stall', '60s'])
    const run = await runCli(['storm', lab.address, '--burst', '10', '--close', 'fin', '--timeout', '600ms', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe('native')
    expect(result.target.family).toBe(6)
    expect(result.counts.byOutcome).toMatchObject({connected: 3, timeout: 7})
    expect(result.latencyUs.failedFromActual.min).toBeGreaterThanOrEqual(590_000)
  })

  it('ends the run when the loop ends, not at its next 50 ms drain', async () => {
    const port = await closedPort()
    const durations = []
    for (let i = 0; i < 3; i++) {
      const run = await runCli(['storm', `127.0.0.1:${port}`, '--burst', '10', '--json'])
      const result = parseJsonResult(run.stdout)
      expect(result.counts.byOutcome.refused).toBe(10)
      durations.push(result.durationMs)
    }
    // 10 refusals take well under a millisecond; the best of three keeps a loaded machine's stall out.
    expect(Math.min(...durations)).toBeLessThan(40)
  })

  it('is not used where a stream is needed (--probe, --close hold) or with --source', async () => {
    const lab = await startLab(['--backlog', '64'])
    const paths = []
    for (const flags of [['--probe', 'send:x', '--probe-timeout', '200ms'], ['--close', 'hold', '--max-duration', '500ms'], ['--source', '127.0.0.1']]) {
      const run = await runCli(['storm', lab.address, '--burst', '3', ...flags, '--json'])
      expect(run.code, run.stderr).toBe(0)
      paths.push(parseJsonResult(run.stdout).self.connectPath)
    }
    expect(paths).toEqual(['net', 'net', 'handle'])
  })
})
