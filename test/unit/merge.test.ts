import {describe, expect, it} from 'vitest'

import type {KernelObservation} from '../../src/results/format.js'
import type {StormRun} from '../../src/engine/storm.js'
import {UsageError} from '../../src/errors.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {ResolvedTarget} from '../../src/plan/target.js'
import {type MergeSource, mergeResults} from '../../src/results/merge.js'
import {StormRecorder} from '../../src/results/recorder.js'
import type {StormResult} from '../../src/results/format.js'
import {buildResult, mergeAndDiagnose} from '../helpers/synthetic-result.js'

const TARGET: ResolvedTarget = {requested: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, family: 4}
const TOOL = {name: 'connstorm', version: '0.1.0'}
/** This machine's ladder (tcp_syn_retries=6, linear_timeouts=4): SYNs at 0, 1, 2, 3, 4, 5, 7 … s. */
const SYSCTLS = {'net.ipv4.tcp_syn_retries': '6', 'net.ipv4.tcp_syn_linear_timeouts': '4'}

interface ShardOptions {
  shard?: string
  startedAt?: string
  durationMs?: number
  /** connect latencies from the actual start, µs */
  connectedUs?: number[]
  failures?: ['refused' | 'other' | 'timeout', number, string | undefined][]
  kernel?: KernelObservation | null
  run?: Partial<StormRun>
  /** connects started but still in flight when the run stopped */
  pending?: number
  plan?: Record<string, string>
}

/** One shard's result file, built the way `storm` builds it. */
function shard(options: ShardOptions = {}): StormResult {
  const connectedUs = options.connectedUs ?? [300, 310, 320, 1_030_000]
  const failures = options.failures ?? [['refused', 150, 'ECONNREFUSED']]
  const recorder = new StormRecorder()
  const pending = options.pending ?? 0
  for (let i = 0; i < connectedUs.length + failures.length + pending; i++) recorder.recordStart(20)
  for (const us of connectedUs) {
    recorder.recordConnected(us + 5, us)
    recorder.timeline.record(us / 1000, 'connected')
  }
  for (const [outcome, us, errno] of failures) {
    recorder.recordFailure(outcome, us, errno)
    recorder.timeline.record(us / 1000, 'failed')
  }
  const plan = buildPlan({burst: '10', shard: options.shard ?? '1/2', ...options.plan})
  const run: StormRun = {
    recorder,
    probes: null,
    startedAt: new Date(options.startedAt ?? '2025-11-25T12:00:00.000Z'),
    durationMs: options.durationMs ?? 3000,
    startWindowMs: 2,
    stopReason: 'completed',
    pending: 0,
    notStarted: 0,
    heldAtEnd: 0,
    eventLoopDelayUs: {p50: 100, p99: 2000, max: 5000},
    connectPath: 'native',
    pending,
    ...options.run,
  }
  const kernel = options.kernel === undefined ? {netns: 'isolated', sysctls: SYSCTLS, counterDeltas: {TcpExtTCPSynRetrans: 1, TcpActiveOpens: 5}, listener: null} as const : options.kernel
  return buildResult(run, {tool: TOOL, target: TARGET, plan, ...(kernel ? {kernel} : {})})
}

function sources(...results: StormResult[]): MergeSource[] {
  return results.map((result, index) => ({file: `shard${index + 1}.json`, result}))
}

function mergeError(list: MergeSource[]): UsageError {
  try {
    mergeResults(list)
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    return error as UsageError
  }
  expect.fail('mergeResults did not throw')
}

/** Shard 1/2: 4 connected (3 at once, 1 on ladder step 1), 1 refused. Shard 2/2, 250 ms later: 3 at once, 1 on step 2, 1 EPROTO. */
function twoShards(): MergeSource[] {
  return sources(
    shard({}),
    shard({
      shard: '2/2',
      startedAt: '2025-11-25T12:00:00.250Z',
      durationMs: 3100,
      connectedUs: [400, 410, 2_050_000, 420],
      failures: [['other', 500, 'EPROTO']],
      kernel: {netns: 'isolated', sysctls: SYSCTLS, counterDeltas: {TcpExtTCPSynRetrans: 2, TcpActiveOpens: 5}, listener: null},
      run: {eventLoopDelayUs: {p50: 150, p99: 1500, max: 9000}, heldAtEnd: 0},
    }),
  )
}

describe('mergeResults: refuses what is not one storm split in shards', () => {
  it('needs at least two files', () => {
    expect(() => mergeResults(sources(shard(), shard({shard: '2/2'})).slice(0, 1), {allowMissing: true})).toThrow('FILE: merge needs at least two result files')
  })

  it('names the one shard missing of three, and refuses the partial storm', () => {
    const error = mergeError(sources(shard({shard: '1/3'}), shard({shard: '3/3'})))
    expect(error.message).toBe('FILE: shard 2 of 3 missing (the files hold 1, 3); a partial storm is no verdict (--allow-missing merges what is there)')
    expect(error.code).toBe('SHARD_MISSING')
  })

  it('names every missing shard before saying two files are needed', () => {
    expect(mergeError(sources(shard({shard: '2/4'}))).message).toBe('FILE: shards 1, 3, 4 of 4 missing (the files hold 2); a partial storm is no verdict (--allow-missing merges what is there)')
  })

  it('merges a partial storm only when allowed, and records which shards it lacks', () => {
    const merged = mergeResults(sources(shard({shard: '1/3'}), shard({shard: '2/3'})), {allowMissing: true})
    expect(merged.merge.missingShards).toEqual([3])
    expect(merged.counts.attempted).toBe(10)
  })

  it('records no missing shard when the split is whole', () => {
    expect(mergeResults(twoShards()).merge).not.toHaveProperty('missingShards')
  })

  it('names a plan field the shards disagree on, with both values, unless forced', () => {
    const list = sources(shard(), shard({shard: '2/2', plan: {timeout: '5s'}}))
    expect(mergeError(list).message).toBe('FILE: plan.timeoutMs differs: shard1.json has 15000, shard2.json has 5000 (--force merges anyway)')
    expect(mergeResults(list, {force: true}).plan.timeoutMs).toBe(15_000)
  })

  it('refuses shards of different splits (1/2 and 2/3)', () => {
    const list = sources(shard(), shard({shard: '2/3'}))
    expect(mergeError(list).message).toBe('FILE: plan.shard differs: shard1.json and shard2.json are not shards of the same split (--force merges anyway)')
  })

  it('refuses results from kernels with different SYN ladders', () => {
    const classic = {netns: 'isolated', sysctls: {'net.ipv4.tcp_syn_retries': '6', 'net.ipv4.tcp_syn_linear_timeouts': '0'}, counterDeltas: null, listener: null} as const
    const list = sources(shard(), shard({shard: '2/2', kernel: classic}))
    expect(mergeError(list).message).toBe(
      'FILE: ladder.sendTimesMs differs: shard1.json has [0,1000,2000,3000,4000,5000,7000,11000,19000,35000,67000], shard2.json has [0,1000,3000,7000,15000,31000,63000] (--force merges anyway)',
    )
  })

  it('refuses the same shard twice, even when forced, naming both files', () => {
    expect(() => mergeResults(sources(shard(), shard()), {force: true})).toThrow(
      'FILE: shard1.json and shard2.json are both shard 1/2 (a pod that ran twice?); each shard belongs in the merge once',
    )
  })

  it('refuses a shard twice even when another is missing (a restarted pod is named first)', () => {
    const error = mergeError(sources(shard({shard: '2/3'}), shard({shard: '2/3'})))
    expect(error.message).toBe('FILE: shard1.json and shard2.json are both shard 2/3 (a pod that ran twice?); each shard belongs in the merge once')
    expect(error.code).toBe('SHARD_TWICE')
  })

  it('finds a shard given twice among files without shards (forced)', () => {
    const unsharded = (): StormResult => shard({plan: {shard: undefined as unknown as string}})
    expect(() => mergeResults(sources(shard(), unsharded(), unsharded(), shard()), {force: true})).toThrow(
      'FILE: shard1.json and shard4.json are both shard 1/2 (a pod that ran twice?); each shard belongs in the merge once',
    )
  })

  it('merges results without shards (two hosts running the same plan)', () => {
    const merged = mergeResults(sources(shard({plan: {shard: undefined as unknown as string}}), shard({plan: {shard: undefined as unknown as string}})))
    expect(merged.counts.attempted).toBe(10)
    expect(merged.plan.connects).toBe(20)
  })
})

describe('mergeResults: one result of the whole storm', () => {
  it('sums the counts and keeps every errno', () => {
    const merged = mergeResults(twoShards())
    expect(merged.counts).toEqual({
      attempted: 10,
      connected: 8,
      failed: 2,
      pending: 0,
      notStarted: 0,
      byOutcome: {connected: 8, timeout: 0, refused: 1, reset: 0, addrNotAvail: 0, fileLimit: 0, unreachable: 0, other: 1},
      otherErrnos: {EPROTO: 1},
      kernelTimeouts: 0,
    })
  })

  it('counts pending, not-started and kernel timeouts of every shard, and failed without the pending', () => {
    const merged = mergeResults(
      sources(
        shard({failures: [['timeout', 15_000_000, 'ETIMEDOUT']], pending: 2, run: {notStarted: 3, stopReason: 'interrupted'}}),
        shard({shard: '2/2', failures: [['timeout', 15_000_000, 'ETIMEDOUT']], pending: 1, run: {notStarted: 4}}),
      ),
    )
    expect(merged.counts.attempted).toBe(13)
    expect(merged.counts.pending).toBe(3)
    expect(merged.counts.notStarted).toBe(7)
    expect(merged.counts.kernelTimeouts).toBe(2)
    // 13 attempted − 8 connected − 3 pending: the two timeouts
    expect(merged.counts.failed).toBe(2)
  })

  it('adds the histograms: percentiles of the union, min and max of all shards', () => {
    const merged = mergeResults(twoShards())
    expect(merged.latencyUs.fromActual.count).toBe(8)
    expect(merged.latencyUs.fromActual.min).toBe(300)
    expect(merged.latencyUs.fromActual.p50).toBe(400)
    // HDR's 3 significant digits: 2 050 000 µs is stored in a 1 024 µs-wide bucket
    expect(merged.latencyUs.fromActual.max).toBeGreaterThanOrEqual(2_050_000)
    expect(merged.latencyUs.fromActual.max).toBeLessThan(2_052_000)
    expect(merged.latencyUs.fromIntended.min).toBe(305)
    expect(merged.latencyUs.failedFromActual.count).toBe(2)
    expect(merged.latencyUs.failedFromActual.min).toBe(150)
    expect(merged.latencyUs.failedFromActual.max).toBe(500)
  })

  it('starts at the earliest shard and ends at the last one to end', () => {
    const merged = mergeResults(twoShards())
    expect(merged.startedAt).toBe('2025-11-25T12:00:00.000Z')
    // the second shard ends 250 + 3100 ms after the first one started
    expect(merged.durationMs).toBe(3350)
    expect(merged.merge).toEqual({files: 2, startSpreadMs: 250})
  })

  it('lists each source with its counts and its start skew from the earliest', () => {
    const merged = mergeResults(twoShards())
    expect(merged.sources).toEqual([
      {file: 'shard1.json', startedAt: '2025-11-25T12:00:00.000Z', durationMs: 3000, target: merged.target, shard: {index: 1, count: 2, totalConnects: 10}, counts: {attempted: 5, connected: 4, failed: 1}, startSkewMs: 0},
      {file: 'shard2.json', startedAt: '2025-11-25T12:00:00.250Z', durationMs: 3100, target: merged.target, shard: {index: 2, count: 2, totalConnects: 10}, counts: {attempted: 5, connected: 4, failed: 1}, startSkewMs: 250},
    ])
  })

  it('takes a shard\'s own start skew (--start-at) over the spread of the start times', () => {
    const list = twoShards()
    list[1]!.result.self.startSkewMs = 7
    expect(mergeResults(list).sources.map((source) => source.startSkewMs)).toEqual([0, 7])
  })

  it('plans the whole storm: the shards\' connects summed, no shard', () => {
    const merged = mergeResults(twoShards())
    expect(merged.plan.connects).toBe(10)
    expect(merged.plan.shard).toBeUndefined()
    expect(merged.plan.burst).toBe(10)
  })

  it('keeps the worst event loop of the shards, figure by figure', () => {
    const merged = mergeResults(twoShards())
    expect(merged.self.eventLoopDelayUs).toEqual({p50: 150, p99: 2000, max: 9000})
  })

  it('has no event-loop figure when no shard had one', () => {
    const merged = mergeResults(sources(shard({run: {eventLoopDelayUs: null}}), shard({shard: '2/2', run: {eventLoopDelayUs: null}})))
    expect(merged.self.eventLoopDelayUs).toBeNull()
  })

  it('takes the start lag of the shard with the worst p99, and sums the late starts', () => {
    const list = twoShards()
    list[0]!.result.self.startLagUs = {count: 5, min: 1, mean: 2, p50: 2, p90: 3, p99: 40, p999: 40, max: 40}
    list[1]!.result.self.startLagUs = {count: 5, min: 1, mean: 9, p50: 9, p90: 9, p99: 900, p999: 900, max: 900}
    list[0]!.result.self.lateStarts = 1
    list[1]!.result.self.lateStarts = 2
    const merged = mergeResults(list)
    expect(merged.self.startLagUs.p99).toBe(900)
    expect(merged.self.lateStarts).toBe(3)
    expect(merged.self.lateStartThresholdUs).toBe(1000)
  })

  it('names the connect path only when every shard used the same one', () => {
    expect(mergeResults(twoShards()).self.connectPath).toBe('native')
    const mixed = sources(shard(), shard({shard: '2/2', run: {connectPath: 'net'}}))
    expect(mergeResults(mixed).self).not.toHaveProperty('connectPath')
  })

  it('sums the achieved rates and held connections, keeps the longest start window', () => {
    const list = twoShards()
    list[0]!.result.achievedRate = 1000
    list[1]!.result.achievedRate = 1500
    list[0]!.result.startWindowMs = 4
    list[1]!.result.startWindowMs = 9
    list[0]!.result.heldAtEnd = 3
    list[1]!.result.heldAtEnd = 4
    const merged = mergeResults(list)
    expect(merged.achievedRate).toBe(2500)
    expect(merged.startWindowMs).toBe(9)
    expect(merged.heldAtEnd).toBe(7)
  })

  it('is partial when one shard was, and reports the worst stop: interrupted over deadline over completed', () => {
    const stop = (a: StormRun['stopReason'], b: StormRun['stopReason']) => {
      const merged = mergeResults(sources(shard({run: {stopReason: a}}), shard({shard: '2/2', run: {stopReason: b}})))
      return [merged.stopReason, merged.partial]
    }
    expect(stop('completed', 'completed')).toEqual(['completed', false])
    expect(stop('completed', 'deadline')).toEqual(['deadline', true])
    expect(stop('deadline', 'interrupted')).toEqual(['interrupted', true])
    expect(stop('interrupted', 'completed')).toEqual(['interrupted', true])
  })

  it('puts each shard\'s timeline at its own start: the second one 250 ms (25 bins) later', () => {
    const merged = mergeResults(twoShards())
    const {binMs, connected, failed} = merged.timeline!
    expect(binMs).toBe(10)
    // shard 1: 3 connects in bin 0, one at 1030 ms (bin 103); shard 2: 3 at 250 ms (bin 25), one at 2300 ms (bin 230)
    expect(connected[0]).toBe(3)
    expect(connected[25]).toBe(3)
    expect(connected[103]).toBe(1)
    expect(connected[230]).toBe(1)
    expect(connected.reduce((a, b) => a + b, 0)).toBe(8)
    expect(failed[0]).toBe(1)
    expect(failed[25]).toBe(1)
    expect(failed.reduce((a, b) => a + b, 0)).toBe(2)
  })

  it('drops what belongs to one run only: lab, advice, verification, thresholds, probe', () => {
    const merged = mergeResults(twoShards())
    for (const key of ['lab', 'recommendations', 'advice', 'verification', 'thresholds', 'probe', 'acceptWait', 'afterConnect'] as const) {
      expect(merged[key], key).toBeUndefined()
    }
  })
})

describe('mergeResults: the diagnosis computed again from the merged data', () => {
  it('attributes the union to ladder steps: 6 at once, 1 on step 1, 1 on step 2', () => {
    const {attribution} = mergeAndDiagnose(twoShards())
    expect(attribution!.steps.map((step) => [step.retransmits, step.connects])).toEqual([
      [0, 6],
      [1, 1],
      [2, 1],
    ])
    expect(attribution!.expectedSynRetrans).toBe(3)
  })

  it('sums the shards\' counters and corroborates: 1 + 2 retransmits seen, 3 expected', () => {
    const {kernel} = mergeAndDiagnose(twoShards())
    expect(kernel!.counterDeltas).toEqual({TcpExtTCPSynRetrans: 3, TcpActiveOpens: 10})
    expect(kernel!.netns).toBe('isolated')
    expect(kernel!.listener).toBeNull()
    expect(kernel!.corroborated).toBe(true)
    expect(kernel!.corroboration).toEqual({corroborated: true, expected: 3, observed: 3, reason: 'kernel counters agree'})
  })

  it('gives no verdict when one shard could not read its counters', () => {
    const list = twoShards()
    list[1]!.result.kernel!.counterDeltas = null
    const {kernel} = mergeAndDiagnose(list)
    expect(kernel!.counterDeltas).toBeNull()
    expect(kernel!.corroborated).toBeNull()
  })

  it('has no counters and a shared namespace when a later shard did not look at the kernel', () => {
    // forced: without the kernel the second file has no SYN ladder to compare
    const merged = mergeResults(sources(shard(), shard({shard: '2/2', kernel: null})), {force: true})
    expect(merged.kernel).toStrictEqual({netns: 'shared', sysctls: SYSCTLS, counterDeltas: null, listener: null})
  })

  it('merges files written before a timeline or a histogram was recorded, from what the others hold', () => {
    const first = shard()
    const second = shard({shard: '2/2', connectedUs: [500], failures: [['refused', 2000, 'ECONNREFUSED']]})
    delete first.timeline
    delete (first.histograms as Partial<StormResult['histograms']>).failedEarlyFromActual
    const merged = mergeResults(sources(first, second))
    expect(merged.timeline).toEqual({binMs: 10, connected: [1], failed: [1]})
    expect(merged.latencyUs.failedEarlyFromActual).toMatchObject({count: 1, min: 2000, max: 2000})
  })

  it('counts the namespace as shared when one shard ran outside its own', () => {
    const list = twoShards()
    list[1]!.result.kernel!.netns = 'shared'
    expect(mergeAndDiagnose(list).kernel!.netns).toBe('shared')
  })

  it('places a failure answered on step 1 (a RST to the first retransmit) in the failed steps', () => {
    const list = sources(shard({failures: [['refused', 1_020_000, 'ECONNREFUSED']]}), shard({shard: '2/2'}))
    for (const {result} of list) result.kernel!.counterDeltas = {TcpExtTCPSynRetrans: 2, TcpActiveOpens: 5}
    const {attribution, kernel} = mergeAndDiagnose(list)
    // shard 2's refused connect was answered at once (step 0)
    expect(attribution!.failedSteps).toEqual([
      {retransmits: 0, connects: 1},
      {retransmits: 1, connects: 1},
    ])
    // 2 connects on step 1 (one per shard) and the refused one answered on step 1
    expect(attribution!.expectedSynRetrans).toBe(3)
    expect(kernel!.corroboration!.observed).toBe(4)
  })

  it('counts connects that never sent a SYN out of the active opens it expects', () => {
    const list = sources(shard({failures: [['other', 100, 'EPROTO']]}), shard({shard: '2/2'}))
    list[0]!.result.counts.byOutcome.addrNotAvail = 1
    list[0]!.result.kernel!.counterDeltas = {TcpExtTCPSynRetrans: 1, TcpActiveOpens: 4}
    // 10 attempted, 1 without a SYN: TcpActiveOpens 4 + 5 = 9 matches, so a verdict is given
    expect(mergeAndDiagnose(list).kernel!.corroboration).toEqual({corroborated: true, expected: 2, observed: 2, reason: 'kernel counters agree'})
  })

  it('counts a timed-out connect as 7 dropped SYNs: retransmits 1, 2, 3, 4, 5, 7 and 11 s left before the 15 s timeout', () => {
    const list = sources(shard({failures: [['timeout', 15_000_000, undefined]]}), shard({shard: '2/2'}))
    const {attribution} = mergeAndDiagnose(list)
    expect(attribution!.timedOut).toEqual([{atLeastRetransmits: 7, connects: 1}])
  })

  it('has no attribution and no kernel when the first shard did not look at the kernel', () => {
    const merged = mergeAndDiagnose(sources(shard({kernel: null}), shard({shard: '2/2', kernel: null})))
    expect(merged.attribution).toBeNull()
    expect(merged.kernel).toBeNull()
  })
})
