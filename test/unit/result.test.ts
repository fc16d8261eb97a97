import {describe, expect, it} from 'vitest'

import type {KernelObservation} from '../../src/results/format.js'
import type {StormRun} from '../../src/engine/storm.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {ResolvedTarget} from '../../src/plan/target.js'
import {ProbeRecorder} from '../../src/probe/recorder.js'
import {StormRecorder} from '../../src/results/recorder.js'
import type {ResultContext} from '../../src/run/build-result.js'
import {buildResult} from '../helpers/synthetic-result.js'

const TARGET: ResolvedTarget = {requested: 'localhost:8080', host: '127.0.0.1', port: 8080, family: 4}
const TOOL = {name: 'connstorm', version: '0.1.0'}
const SYSCTLS = {'net.ipv4.tcp_syn_retries': '6', 'net.ipv4.tcp_syn_linear_timeouts': '4', 'net.ipv4.tcp_abort_on_overflow': '0'}

/** 5 attempted: 3 connected at once, 1 after one SYN retransmit (~1.03 s), 1 timed out after 15 s by the kernel. */
function recorder(): StormRecorder {
  const recorder = new StormRecorder()
  for (const lag of [10, 20, 1500, 30, 2500]) recorder.recordStart(lag)
  for (const us of [300, 310, 320, 1_030_000]) recorder.recordConnected(us + 5, us)
  recorder.recordFailure('timeout', 15_000_000, 'ETIMEDOUT')
  return recorder
}

function run(overrides: Partial<StormRun> = {}): StormRun {
  return {
    recorder: recorder(),
    probes: null,
    startedAt: new Date('2025-11-25T12:00:00.000Z'),
    durationMs: 15_012.3456,
    startWindowMs: 1.23456,
    stopReason: 'completed',
    pending: 0,
    notStarted: 0,
    heldAtEnd: 0,
    eventLoopDelayUs: {p50: 120, p99: 2400, max: 5100},
    connectPath: 'handle',
    ...overrides,
  }
}

function context(overrides: Partial<ResultContext> = {}): ResultContext {
  return {tool: TOOL, target: TARGET, plan: buildPlan({burst: '5'}), ...overrides}
}

function kernel(overrides: Partial<KernelObservation> = {}): KernelObservation {
  return {netns: 'isolated', sysctls: SYSCTLS, counterDeltas: {TcpExtTCPSynRetrans: 8, TcpActiveOpens: 5}, listener: null, ...overrides}
}

describe('buildResult: what the run did', () => {
  it('writes schema 1, the tool, the start instant and the target as requested and resolved', () => {
    const result = buildResult(run(), context())
    expect(result.schemaVersion).toBe(1)
    expect(result.tool).toEqual(TOOL)
    expect(result.startedAt).toBe('2025-11-25T12:00:00.000Z')
    expect(result.target).toEqual({host: '127.0.0.1', port: 8080, family: 4, lab: false, requested: 'localhost:8080'})
    expect(result).not.toHaveProperty('lab')
  })

  it('marks a lab target and keeps what the lab reported', () => {
    const lab = {backlog: 8, effectiveBacklog: 8, somaxconn: 4096, stallMs: 0, stallEveryMs: null, stallForMs: null, acceptRate: null, onAccept: 'close', handlerDelayMs: 0, accepted: 4}
    const result = buildResult(run(), context({lab}))
    expect(result.target.lab).toBe(true)
    expect(result.lab).toEqual(lab)
  })

  it('writes a burst plan with only the fields a burst has', () => {
    expect(buildResult(run(), context()).plan).toEqual({mode: 'burst', connects: 5, burst: 5, concurrency: 10_000, timeoutMs: 15_000, close: 'rst', maxDurationMs: 20_000})
  })

  it('writes a rate plan with its rate and duration, shard, start instant, workers and sources', () => {
    const plan = buildPlan({rate: '100', duration: '2s', shard: '2/4', 'start-at': '2025-11-25T12:00:00.000Z', workers: '2', source: '127.0.0.2'}, Date.parse('2025-11-25T11:59:59.000Z'))
    expect(buildResult(run(), context({plan})).plan).toEqual({
      mode: 'rate',
      connects: 50,
      rate: 100,
      durationMs: 2000,
      concurrency: 10_000,
      timeoutMs: 15_000,
      close: 'rst',
      maxDurationMs: 22_000,
      shard: {index: 2, count: 4, totalConnects: 200},
      startAt: '2025-11-25T12:00:00.000Z',
      workers: 2,
      sources: ['127.0.0.2'],
    })
  })

  it('writes a waves plan with its waves and interval', () => {
    const plan = buildPlan({waves: '3', burst: '2', interval: '1s'})
    expect(buildResult(run(), context({plan})).plan).toEqual({mode: 'waves', connects: 6, burst: 2, waves: 3, intervalMs: 1000, concurrency: 10_000, timeoutMs: 15_000, close: 'rst', maxDurationMs: 22_000})
  })

  it('counts outcomes, errnos, kernel timeouts, pending and never-started connects', () => {
    const result = buildResult(run({pending: 2, notStarted: 7}), context())
    expect(result.counts).toEqual({
      attempted: 5,
      connected: 4,
      failed: 1,
      pending: 2,
      notStarted: 7,
      byOutcome: {connected: 4, timeout: 1, refused: 0, reset: 0, addrNotAvail: 0, fileLimit: 0, unreachable: 0, other: 0},
      otherErrnos: {},
      kernelTimeouts: 1,
    })
  })

  it('summarizes and encodes the four latency histograms', () => {
    const result = buildResult(run(), context())
    expect(result.latencyUs.fromActual).toMatchObject({count: 4, min: 300, p50: 310})
    expect(result.latencyUs.fromIntended).toMatchObject({count: 4, min: 305, p50: 315})
    expect(result.latencyUs.failedFromActual).toMatchObject({count: 1})
    expect(Object.keys(result.histograms)).toEqual(['fromIntended', 'fromActual', 'failedFromActual', 'failedEarlyFromActual'])
    for (const encoded of Object.values(result.histograms)) expect(encoded).toMatch(/^[A-Za-z0-9+/]+=*$/)
  })

  it('reports its own health: event loop, late starts over 1 ms, start lag, connect path', () => {
    const {self} = buildResult(run(), context())
    expect(self.eventLoopDelayUs).toEqual({p50: 120, p99: 2400, max: 5100})
    // lags of 1500 and 2500 µs are over the 1000 µs threshold
    expect(self.lateStarts).toBe(2)
    expect(self.lateStartThresholdUs).toBe(1000)
    expect(self.startLagUs).toMatchObject({count: 5, min: 10, max: 2500})
    expect(self.connectPath).toBe('handle')
    expect(self).not.toHaveProperty('startSkewMs')
    expect(self).not.toHaveProperty('workers')
  })

  it('reports how late the run started after --start-at, and each worker', () => {
    const plan = buildPlan({burst: '5', 'start-at': '2025-11-25T11:59:59.990Z'}, Date.parse('2025-11-25T11:59:59.000Z'))
    const workers = [{attempted: 3, lateStarts: 1, eventLoopDelayUs: null}, {attempted: 2, lateStarts: 1, eventLoopDelayUs: null}]
    const {self} = buildResult(run({workers}), context({plan}))
    expect(self.startSkewMs).toBe(10)
    expect(self.workers).toEqual(workers)
  })

  it('rounds durations and the rate to 3 decimals', () => {
    const result = buildResult(run(), context())
    expect(result.durationMs).toBe(15_012.346)
    expect(result.startWindowMs).toBe(1.235)
    // 5 starts in 1.23456 ms
    expect(result.achievedRate).toBe(4050.026)
  })

  it('gives a kept rate schedule exactly its rate: 5 starts spanning 4 gaps of 10 ms at 100/s', () => {
    const plan = buildPlan({rate: '100', duration: '50ms'})
    expect(buildResult(run({startWindowMs: 40}), context({plan})).achievedRate).toBe(100)
  })

  it('gives kept waves their burst rate: 5 starts over 40 ms plus one gap of 1000 ms / 5', () => {
    const plan = buildPlan({waves: '1', burst: '5', interval: '1s'})
    // 5 · 1000 / (40 + 200)
    expect(buildResult(run({startWindowMs: 40}), context({plan})).achievedRate).toBe(20.833)
  })

  it('gives a rate of 0 when nothing started, or when a burst started in no measurable time', () => {
    expect(buildResult(run({recorder: new StormRecorder()}), context()).achievedRate).toBe(0)
    expect(buildResult(run({startWindowMs: 0}), context()).achievedRate).toBe(0)
  })

  it('is partial unless it completed, and says why it stopped', () => {
    expect(buildResult(run(), context())).toMatchObject({partial: false, stopReason: 'completed'})
    expect(buildResult(run({stopReason: 'deadline'}), context())).toMatchObject({partial: true, stopReason: 'deadline'})
    expect(buildResult(run({stopReason: 'interrupted'}), context())).toMatchObject({partial: true, stopReason: 'interrupted'})
  })

  it('keeps held connections, the timeline and the client limits', () => {
    const r = recorder()
    r.timeline.record(5, 'connected')
    const clientLimits = {openFiles: {soft: 1024, hard: 4096}, portRange: {low: 32768, high: 60999}, problems: []} as never
    const result = buildResult(run({recorder: r, heldAtEnd: 3}), context({clientLimits}))
    expect(result.heldAtEnd).toBe(3)
    expect(result.timeline).toEqual({binMs: 10, connected: [1], failed: [0]})
    expect(result.clientLimits).toBe(clientLimits)
    expect(buildResult(run(), context())).not.toHaveProperty('clientLimits')
  })
})

describe('buildResult: the diagnosis', () => {
  it('has no ladder, attribution or kernel when the kernel was not looked at', () => {
    const result = buildResult(run(), context())
    expect(result.ladder).toBeNull()
    expect(result.attribution).toBeNull()
    expect(result.kernel).toBeNull()
  })

  it('keeps the kernel observation but gives no verdict when the ladder sysctls are unknown', () => {
    const observed = kernel({sysctls: {'net.ipv4.tcp_syn_retries': 'unknown'}})
    const result = buildResult(run(), context({kernel: observed}))
    expect(result.ladder).toBeNull()
    expect(result.attribution).toBeNull()
    expect(result.kernel).toEqual({...observed, corroborated: null, corroboration: null})
  })

  it('writes the ladder of the sysctls read: retransmits at 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s, give-up at 131 s', () => {
    const {ladder} = buildResult(run(), context({kernel: kernel()}))
    expect(ladder).toEqual({synRetries: '6', linearTimeouts: '4', sendTimesMs: [0, 1000, 2000, 3000, 4000, 5000, 7000, 11_000, 19_000, 35_000, 67_000], giveUpMs: 131_000})
  })

  it('puts 3 connects on step 0 and 1 on step 1, the timeout as 7 dropped SYNs: 1 + 7 = 8 expected', () => {
    const {attribution, kernel: seen} = buildResult(run(), context({kernel: kernel()}))
    expect(attribution!.steps.map((step) => [step.retransmits, step.connects])).toEqual([
      [0, 3],
      [1, 1],
    ])
    expect(attribution!.timedOut).toEqual([{atLeastRetransmits: 7, connects: 1}])
    expect(attribution!.expectedSynRetrans).toBe(8)
    expect(seen!.corroboration).toEqual({corroborated: true, expected: 8, observed: 8, reason: 'kernel counters agree'})
    expect(seen!.corroborated).toBe(true)
  })

  it('does not count connects that sent no SYN (EADDRNOTAVAIL, EMFILE) as active opens', () => {
    const r = recorder()
    r.recordStart(10)
    r.recordStart(10)
    r.recordFailure('addrNotAvail', 5, 'EADDRNOTAVAIL')
    r.recordFailure('fileLimit', 5, 'EMFILE')
    // 7 attempted, 2 without a SYN: 5 active opens make the counters this storm's alone
    const {kernel: seen} = buildResult(run({recorder: r}), context({kernel: kernel()}))
    expect(seen!.corroborated).toBe(true)
  })

  it('puts a refused connect answered by the first retransmit on failed step 1', () => {
    const r = recorder()
    r.recordStart(10)
    r.recordFailure('refused', 1_020_000, 'ECONNREFUSED')
    const {attribution, kernel: seen} = buildResult(run({recorder: r}), context({kernel: kernel({counterDeltas: {TcpExtTCPSynRetrans: 9, TcpActiveOpens: 6}})}))
    expect(attribution!.failedSteps).toEqual([{retransmits: 1, connects: 1}])
    expect(seen!.corroboration!.expected).toBe(9)
    expect(seen!.corroborated).toBe(true)
  })

  it('gives no verdict while connects were still in flight', () => {
    const {kernel: seen} = buildResult(run({pending: 1}), context({kernel: kernel()}))
    expect(seen!.corroborated).toBeNull()
    expect(seen!.corroboration!.reason).toBe('1 connects were still in flight when the run stopped')
  })
})

describe('buildResult: after connect and the probe', () => {
  it('finds nothing after connect without a probe and without resets', () => {
    const result = buildResult(run(), context())
    expect(result.afterConnect).toEqual({mechanisms: [], sentence: null})
    expect(result).not.toHaveProperty('probe')
    expect(result).not.toHaveProperty('acceptWait')
  })

  it('counts handshake resets after connect even without a probe', () => {
    const r = recorder()
    r.recordStart(10)
    r.recordFailure('reset', 300, 'ECONNRESET')
    const result = buildResult(run({recorder: r}), context({kernel: kernel({sysctls: {...SYSCTLS, 'net.ipv4.tcp_abort_on_overflow': '1'}})}))
    expect(result.afterConnect!.mechanisms).toEqual(['abortOnOverflow'])
    expect(result.afterConnect!.sentence).toMatch(/^1 were reset \(1 during the handshake\): tcp_abort_on_overflow=1/)
  })

  it('reads the probes with the listener\'s counters when the listener is in our namespace', () => {
    const probes = new ProbeRecorder()
    probes.record({outcome: 'ok', respondedAt: 1400, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}, 1000, 1000.5)
    probes.record({outcome: 'probeTimeout', respondedAt: null, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}, 1000, 1000.5)
    probes.record({outcome: 'resetAfterConnect', respondedAt: null, tlsDoneAt: null, headersAt: null, status: null, errorCode: 'ECONNRESET'}, 1000, 1000.5)
    const listener = {effectiveBacklog: 8, peakQueue: 9, samples: 20, source: 'netlink'} as const
    const observed = kernel({listener, counterDeltas: {TcpExtTCPSynRetrans: 8, TcpActiveOpens: 5, TcpExtListenOverflows: 4, TcpExtSyncookiesRecv: 0, TcpExtTCPReqQFullDoCookies: 1}})
    const probe = {spec: {kind: 'banner'} as const, timeoutMs: 2000, insecure: false, expect: 'SSH-'}
    const result = buildResult(run({probes}), context({kernel: observed, probe}))
    expect(result.afterConnect!.mechanisms).toEqual(['ackDropped', 'resetAfterConnect'])
    expect(result.afterConnect!.sentence).toContain('TcpExtListenOverflows +4, TcpExtSyncookiesRecv +0, TcpExtTCPReqQFullDoCookies +1 agree')
    expect(result.afterConnect!.sentence).toContain('1 connected but were answered ≥ 200 ms later, 1 never answered')
    expect(result.probe).toMatchObject({
      kind: 'banner',
      description: 'wait for the server to speak first',
      timeoutMs: 2000,
      insecure: false,
      expect: 'SSH-',
      outcomes: {ok: 1, probeTimeout: 1, resetAfterConnect: 1, closedBeforeReply: 0, tlsError: 0, unexpectedReply: 0, probeError: 0},
      httpStatus: {},
      errorCodes: {ECONNRESET: 1},
      pending: 0,
    })
    expect(result.probe!.latencyUs.firstByte).toMatchObject({count: 1})
    expect(result.probe!.latencyUs.responseAfterConnect).toMatchObject({count: 1})
    expect(result.probe!.latencyUs.tlsHandshake.count).toBe(0)
    expect(result.probe!.latencyUs.httpHeaders.count).toBe(0)
    expect(Object.keys(result.probe!.histograms)).toEqual(['firstByteUs', 'tlsHandshakeUs', 'httpHeadersUs', 'responseAfterConnectUs'])
    // answered 399.5 ms after connect: HDR keeps 399 500 µs to 3 significant digits
    expect(result.acceptWait!.admittedNotAccepted).toBe(1)
    expect(result.acceptWait!.delayUs.p50).toBeGreaterThanOrEqual(399_360)
    expect(result.acceptWait!.delayUs.p50).toBeLessThanOrEqual(399_615)
  })

  it('does not blame the accept queue without the listener\'s counters (a remote target)', () => {
    const probes = new ProbeRecorder()
    probes.record({outcome: 'ok', respondedAt: 1400, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}, 1000, 1000.5)
    const observed = kernel({counterDeltas: {TcpExtTCPSynRetrans: 8, TcpActiveOpens: 5, TcpExtListenOverflows: 4}})
    const probe = {spec: {kind: 'banner'} as const, timeoutMs: 2000, insecure: false, expect: null}
    expect(buildResult(run({probes}), context({kernel: observed, probe})).afterConnect!.mechanisms).toEqual(['acceptWaitUnattributed'])
  })

  it('reads missing listener counters as 0: no overflow means a slow application', () => {
    const probes = new ProbeRecorder()
    probes.record({outcome: 'ok', respondedAt: 1400, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}, 1000, 1000.5)
    const listener = {effectiveBacklog: 8, peakQueue: 1, samples: 20, source: 'netlink'} as const
    const observed = kernel({listener})
    const probe = {spec: {kind: 'banner'} as const, timeoutMs: 2000, insecure: false, expect: null}
    expect(buildResult(run({probes}), context({kernel: observed, probe})).afterConnect!.mechanisms).toEqual(['slowApplication'])
  })
})
