import {afterEach, describe, expect, it} from 'vitest'

import {RUN_JS, runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {connectsBetween, parseJsonResult} from '../helpers/result.js'

// Rates, start lags, an admission within 100 ms and EMFILE outcomes that a slow start would shift:
// this file needs a quiet machine and runs one at a time (vitest.config.ts). The outcomes that
// time nothing so close are storm-outcomes.test.ts's, side by side.
afterEach(stopAllLabs)

describe('connstorm storm against real listeners on loopback', () => {
  it('admits exactly backlog+1 connects at once; the rest connect on a SYN retransmit after the stall', async () => {
    // The built-in lab stalls from the storm's first connect, so a slow-starting CLI on a loaded
    // machine cannot miss the stall (a lab started by the test, 3 s before a storm CLI that took
    // longer to start, once let a sixth in). The 1 s SYNs meet the stall; a later one gets in.
    const run = await runCli(['storm', '--lab-backlog', '4', '--lab-stall', '1.5s', '--burst', '20', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.counts).toMatchObject({attempted: 20, connected: 20, failed: 0})
    expect(connectsBetween(result, 0, 100_000)).toBe(5)
    expect(connectsBetween(result, 1_000_000, Number.MAX_SAFE_INTEGER)).toBe(15)
    expect(result.target).toMatchObject({host: '127.0.0.1', family: 4, lab: true})
  })

  it('keeps an open-loop rate of 2000/s: 2000 ± 400 connects in each of the 3 seconds, the last start at 3 s within 2 %, late starts counted as the start-lag histogram shows', async () => {
    const lab = await startLab(['--backlog', '4096'])
    const run = await runCli(['storm', lab.address, '--rate', '2000', '--duration', '3s', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.plan).toMatchObject({mode: 'rate', rate: 2000, durationMs: 3000, connects: 6000})
    expect(result.counts).toMatchObject({attempted: 6000, connected: 6000, failed: 0})
    // Starts per second over the window from the first to the last start: the last start ~3 s in.
    expect(Math.abs(result.achievedRate - 2000) / 2000).toBeLessThan(0.02)

    // Spread over the window, not bunched: loopback connects complete ~0.1 ms after they start, so
    // completions per second are starts per second. Tolerance 400 = 200 ms of starts: a start may
    // lag its schedule by up to ~170 ms on this 2-core machine under load (seen 165 ms at load 11),
    // which moves the starts of that stall into the next second.
    const {binMs, connected} = result.timeline!
    const perSecond = [0, 0, 0, 0]
    for (const [bin, n] of connected.entries()) perSecond[Math.min(3, Math.floor((bin * binMs) / 1000))]! += n
    for (const second of [0, 1, 2]) expect(Math.abs(perSecond[second]! - 2000), `second ${second}: ${perSecond.join(', ')}`).toBeLessThanOrEqual(400)
    expect(perSecond[3]).toBeLessThanOrEqual(400) // only what lagged past 3 s
    expect(connected[0]).toBeGreaterThan(0) // the first connect within the first bin
    expect(connected.length * binMs).toBeGreaterThanOrEqual(3000) // the last one after 2.99 s at least

    // A late start is one more than 1 ms behind its schedule; the count must agree with the start-lag
    // histogram's percentiles (a band of ±2 µs around 1 ms left out for the histogram's rounding).
    expect(result.self.lateStartThresholdUs).toBe(1000)
    const {lateStarts, startLagUs} = result.self
    expect(startLagUs.count).toBe(6000)
    for (const [percentile, lag] of [[50, startLagUs.p50], [90, startLagUs.p90], [99, startLagUs.p99]] as const) {
      const above = 6000 * (1 - percentile / 100)
      if (lag <= 998) expect(lateStarts, `p${percentile} = ${lag} µs`).toBeLessThanOrEqual(above)
      if (lag >= 1002) expect(lateStarts, `p${percentile} = ${lag} µs`).toBeGreaterThanOrEqual(above)
    }
    if (startLagUs.max <= 998) expect(lateStarts).toBe(0)
    if (startLagUs.min >= 1002) expect(lateStarts).toBe(6000)
  })

  it('caps connects in flight with --concurrency and counts the starts that had to wait as late', async () => {
    const lab = await startLab(['--backlog', '1', '--stall', '60s'])
    // 2 fit the queue and connect at once; the next 2 block on dropped SYNs until their 500 ms
    // timeout, so the last 2 cannot start before then.
    const run = await runCli(['storm', lab.address, '--burst', '6', '--concurrency', '2', '--timeout', '500ms', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.counts).toMatchObject({attempted: 6, connected: 2, failed: 4, pending: 0})
    expect(result.counts.byOutcome).toMatchObject({connected: 2, timeout: 4})
    // Starts 5 and 6 waited ~500 ms for a slot: late. (The others may pass the 1 ms mark too when
    // the machine is loaded: all 6 were seen late at load 13, so no upper bound but the 6 starts.)
    expect(result.self.lateStarts).toBeGreaterThanOrEqual(2)
    // The longest wait is one timeout (plus up to 200 ms for a loaded machine), never two; and at
    // least half the starts (the 3rd smallest lag) waited for no timeout at all.
    expect(result.self.startLagUs.max).toBeGreaterThanOrEqual(450_000)
    expect(result.self.startLagUs.max).toBeLessThan(700_000)
    expect(result.self.startLagUs.p50).toBeLessThan(450_000)
    // Two rounds of 500 ms timeouts, one after the other; a third round would end at ≥ 1.5 s.
    expect(result.durationMs).toBeGreaterThanOrEqual(1000)
    expect(result.durationMs).toBeLessThan(1500)
  })

  it('charges a start that waited for a slot with that wait in its latency from intended start', async () => {
    // Each probe holds its slot until its 300 ms timeout (the lab never sends), so the last 2 of 4
    // start ~300 ms late and then connect at once.
    const lab = await startLab(['--backlog', '64', '--on-accept', 'hold'])
    const run = await runCli(['storm', lab.address, '--burst', '4', '--concurrency', '2', '--probe', 'banner', '--probe-timeout', '300ms', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.counts).toMatchObject({attempted: 4, connected: 4, failed: 0})
    expect(result.probe!.outcomes).toMatchObject({ok: 0, probeTimeout: 4})
    expect(result.latencyUs.fromIntended.max).toBeGreaterThanOrEqual(290_000)
    expect(result.latencyUs.fromActual.max).toBeLessThan(100_000)
  })

})

describe('the socket path', () => {
  it('the native loop, bare TCP handles and net.Socket give the same outcomes, EMFILE included', async () => {
    const {execFile} = await import('node:child_process')
    const {promisify} = await import('node:util')
    const execFileAsync = promisify(execFile)
    // 256 files, a lab that never accepts: 9 connect, the SYN_SENT ones keep their files until
    // --timeout, and the rest cannot get a socket at all.
    const script = `ulimit -n 256 && exec "${process.execPath}" "${RUN_JS}" storm --burst 1000 --lab-stall 60s --timeout 1s --force --json`
    // The three runs go side by side: each has its own lab and its own file limit, and the outcome
    // depends on neither time nor the kernel's shared counters (the lab never accepts).
    const runs = await Promise.all((['native', 'handle', 'net'] as const).map(async (path) => {
      const env = path === 'native' ? process.env : {...process.env, CONNSTORM_SOCKET_PATH: path}
      const {stdout} = await execFileAsync('bash', ['-c', script], {encoding: 'utf8', env})
      return parseJsonResult(stdout)
    }))
    expect(runs.map((run) => run.self.connectPath)).toEqual(['native', 'handle', 'net'])
    const [native, ...others] = runs.map((run) => run.counts.byOutcome)
    expect(native!.fileLimit).toBeGreaterThan(500)
    expect(native!.connected).toBe(9)
    for (const other of others) {
      // The native loop holds an epoll descriptor of its own, and the queue sampler's netlink
      // socket comes and goes: a couple of files fewer for connects, nothing else differs.
      expect(Math.abs(other.fileLimit - native!.fileLimit)).toBeLessThanOrEqual(3)
      expect(other).toEqual({...native, fileLimit: other.fileLimit, timeout: native!.timeout + native!.fileLimit - other.fileLimit})
    }
  })
})
