import {describe, expect, it} from 'vitest'

import type {StopReason} from '../../src/results/format.js'
import type {StormRun} from '../../src/engine/storm.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {ResolvedTarget} from '../../src/plan/target.js'
import {logBucketEdges, renderLatencyChart} from '../../src/report/latency-chart.js'
import {describeWorkers, renderTextReport} from '../../src/report/text.js'
import {newLatencyHistogram} from '../../src/results/histogram.js'
import {StormRecorder} from '../../src/results/recorder.js'
import type {LabInfo, StormResult} from '../../src/results/format.js'
import {LAB_KERNEL_SYSCTLS, buildResult, textReport} from '../helpers/synthetic-result.js'

const TARGET: ResolvedTarget = {requested: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, family: 4}
const TOOL = {name: 'connstorm', version: '0.1.0'}

/** Connect latencies from intended start, µs: an immediate cluster and the 1 s and 2 s SYN retransmits. */
const IMMEDIATE_US = [295, 300, 310, 320, 330]
const AFTER_ONE_SYN_RETRY_US = [1_028_000, 1_030_000, 1_031_000, 1_033_000]
const AFTER_TWO_SYN_RETRIES_US = [2_048_000, 2_050_000, 2_052_000]

/** 12 connects in three clusters, 2 refused, 1 EPROTO, 1 timeout of our own: 16 attempted. */
function ladderRecorder(): StormRecorder {
  const recorder = new StormRecorder()
  for (let i = 0; i < 16; i++) recorder.recordStart(20)
  for (const us of [...IMMEDIATE_US, ...AFTER_ONE_SYN_RETRY_US, ...AFTER_TWO_SYN_RETRIES_US]) recorder.recordConnected(us, us - 2)
  recorder.recordFailure('refused', 150, 'ECONNREFUSED')
  recorder.recordFailure('refused', 160, 'ECONNREFUSED')
  recorder.recordFailure('other', 500, 'EPROTO')
  recorder.recordFailure('timeout', 15_000_000)
  return recorder
}

function run(recorder: StormRecorder, overrides: Partial<StormRun> = {}): StormRun {
  return {
    recorder,
    startedAt: new Date('2025-11-25T12:00:00.000Z'),
    durationMs: 15_012.3456,
    startWindowMs: 1.25,
    stopReason: 'completed',
    pending: 0,
    notStarted: 0,
    eventLoopDelayUs: {p50: 120, p99: 2400, max: 5100},
    ...overrides,
  }
}

function ladderResult(overrides: Partial<StormRun> = {}, lab?: LabInfo): StormResult {
  return buildResult(run(ladderRecorder(), overrides), {tool: TOOL, target: TARGET, plan: buildPlan({burst: '16'}), ...(lab ? {lab} : {})})
}

/** The chart rows of a text report: between its heading and the blank line after it. */
function chartRows(report: string): string[] {
  const lines = report.split('\n')
  const heading = lines.findIndex((line) => line.startsWith('connect latency from actual start'))
  expect(heading, 'chart heading').toBeGreaterThan(0)
  const end = lines.indexOf('', heading + 1)
  expect(end, 'blank line after the chart').toBeGreaterThan(heading)
  return lines.slice(heading + 1, end)
}

interface ChartRow {
  low: string
  high: string
  bar: number
  count: number
  cumulativePercent: string
}

function parseRow(line: string): ChartRow | 'gap' {
  if (line.trim() === '⋮') return 'gap'
  const match = /^\s*(.+?) – (.+?)  (█+)\s+(\d+)\s+([\d.]+)%$/.exec(line)
  expect(match, `chart row: ${JSON.stringify(line)}`).not.toBeNull()
  return {low: match![1]!, high: match![2]!, bar: match![3]!.length, count: Number(match![4]), cumulativePercent: match![5]!}
}

describe('logBucketEdges', () => {
  /** k of an edge 1 s × 2^(k/4) */
  const quarterOctavesFromOneSecond = (edge: number): number => Math.log2(edge / 1_000_000) * 4

  it('spaces edges 4 per octave, at 1 s × 2^(k/4)', () => {
    const edges = logBucketEdges(1000, 100_000)
    const k0 = Math.round(quarterOctavesFromOneSecond(edges[0]!))
    for (const [i, edge] of edges.entries()) {
      expect(quarterOctavesFromOneSecond(edge)).toBeCloseTo(k0 + i, 9)
      if (i >= 1) expect(edge / edges[i - 1]!).toBeCloseTo(2 ** 0.25, 12)
      if (i >= 4) expect(edge / edges[i - 4]!).toBeCloseTo(2, 12)
    }
  })

  it('starts at or below the minimum and ends above the maximum, with no spare bucket', () => {
    const edges = logBucketEdges(300, 2_050_000)
    expect(edges[0]).toBeLessThanOrEqual(300)
    expect(edges[1]).toBeGreaterThan(300)
    expect(edges.at(-1)).toBeGreaterThan(2_050_000)
    expect(edges.at(-2)).toBeLessThanOrEqual(2_050_000)
    // k from −47 (290 µs) to 5 (2.38 s)
    expect(edges).toHaveLength(53)
    expect(edges[0]).toBeCloseTo(290.334, 3)
  })

  it('has 1 s and 2 s as edges, so connects after the first SYN retransmits (≈1.03 s, ≈2.05 s) sit just above one', () => {
    const edges = logBucketEdges(300, 2_050_000)
    expect(edges).toContain(1_000_000)
    expect(edges).toContain(2_000_000)
    const lowerEdgeOf = (us: number): number | undefined => edges.find((edge, i) => us >= edge && us < edges[i + 1]!)
    expect(lowerEdgeOf(1_030_000)).toBe(1_000_000)
    expect(lowerEdgeOf(2_050_000)).toBe(2_000_000)
    expect(lowerEdgeOf(999_000)).toBeLessThan(1_000_000)
  })

  it('covers min..max for every whole value up to 70 000 µs, around every power of two and around 1 s × 2^m', () => {
    const values = Array.from({length: 70_000}, (_, i) => i + 1)
    for (let p = 1; p <= 40; p++) values.push(2 ** p - 1, 2 ** p, 2 ** p + 1)
    for (let m = -6; m <= 10; m++) {
      const edge = 1_000_000 * 2 ** m
      values.push(Math.floor(edge) - 1, Math.floor(edge), Math.ceil(edge), Math.ceil(edge) + 1)
    }
    const uncovered = values.filter((value) => {
      const edges = logBucketEdges(value, value)
      return !(edges.length === 2 && edges[0]! <= value && value < edges[1]!)
    })
    expect(uncovered).toEqual([])
  })

  it('covers a wide range in one go, from 1 µs to 10 minutes', () => {
    const edges = logBucketEdges(1, 600_000_000)
    expect(edges[0]).toBeLessThanOrEqual(1)
    expect(edges[1]).toBeGreaterThan(1)
    expect(edges.at(-1)).toBeGreaterThan(600_000_000)
    expect(edges.at(-2)).toBeLessThanOrEqual(600_000_000)
  })

  it('treats a minimum below 1 µs as 1 µs', () => {
    expect(logBucketEdges(0, 1)).toEqual(logBucketEdges(1, 1))
    expect(logBucketEdges(0.3, 1)).toEqual(logBucketEdges(1, 1))
    expect(logBucketEdges(1, 1)).toHaveLength(2)
  })
})

describe('renderLatencyChart', () => {
  it('draws nothing for an empty histogram', () => {
    expect(renderLatencyChart(newLatencyHistogram())).toEqual([])
  })

  it('draws one full-width row for a single cluster, without gaps', () => {
    const histogram = newLatencyHistogram()
    for (const us of IMMEDIATE_US) histogram.recordValue(us)
    const rows = renderLatencyChart(histogram).map(parseRow)
    expect(rows).toEqual([{low: '290 µs', high: '345 µs', bar: 40, count: 5, cumulativePercent: '100.0'}])
  })
})

describe('buildResult latency summaries', () => {
  it('counts, min and max match what was recorded', () => {
    const {latencyUs, counts} = ladderResult()
    expect(latencyUs.fromIntended).toMatchObject({count: 12, min: 295})
    expect(latencyUs.fromIntended.max).toBeGreaterThanOrEqual(2_052_000)
    expect(latencyUs.fromIntended.max).toBeLessThan(2_052_000 * 1.001)
    expect(latencyUs.failedFromActual.count).toBe(4)
    expect(counts).toMatchObject({attempted: 16, connected: 12, failed: 4, pending: 0, notStarted: 0, kernelTimeouts: 0, otherErrnos: {EPROTO: 1}})
  })

  it('never reports a percentile below the minimum: every connect took 1.029 s, so p50 and p99 read 1.03 s', () => {
    const recorder = new StormRecorder()
    for (let i = 0; i < 10; i++) {
      recorder.recordStart(10)
      recorder.recordConnected(1_029_000, 1_028_000)
    }
    const result = buildResult(run(recorder), {tool: TOOL, target: TARGET, plan: buildPlan({burst: '10'})})
    const summary = result.latencyUs.fromIntended
    // The histogram keeps 3 significant digits (0.1 %): every figure must be within that of 1.029 s.
    for (const key of ['min', 'p50', 'p90', 'p99', 'p999', 'max'] as const) {
      expect(summary[key], key).toBeGreaterThanOrEqual(summary.min)
      expect(Math.abs(summary[key] - 1_029_000) / 1_029_000, key).toBeLessThan(0.001)
    }
    expect(textReport(result)).toMatch(/from intended start  min 1\.03 s  p50 1\.03 s  p90 1\.03 s  p99 1\.03 s/)
  })
})

describe('renderTextReport', () => {
  it('puts connects delayed ~1 s and ~2 s on separate chart rows, set apart from the immediate ones by "⋮"', () => {
    const rows = chartRows(textReport(ladderResult())).map(parseRow)
    expect(rows).toEqual([
      {low: '290 µs', high: '345 µs', bar: 40, count: 5, cumulativePercent: '41.7'},
      'gap',
      {low: '1.00 s', high: '1.19 s', bar: 32, count: 4, cumulativePercent: '75.0'},
      'gap',
      {low: '2.00 s', high: '2.38 s', bar: 24, count: 3, cumulativePercent: '100.0'},
    ])
  })

  it('counts every outcome, with shares of the finished connects and the errno of each other failure', () => {
    const report = textReport(ladderResult())
    expect(report).toContain(
      'outcomes  connected 12 (75.0%) · timeout 1 (6.3%) · refused 2 (12.5%) · reset 0 · addrNotAvail 0 · fileLimit 0 · unreachable 0 · other 1 (6.3%)  [other: EPROTO ×1]',
    )
    expect(report).toMatch(/^failures  time to failure .*\(n=4\)$/m)
  })

  it('states target, plan, run and latency summaries', () => {
    const lines = textReport(ladderResult()).split('\n')
    expect(lines[0]).toBe('connstorm storm → 127.0.0.1:8080')
    expect(lines).toContain('plan      burst of 16 connects; concurrency ≤ 10000, timeout 15.0 s per connect, close rst, deadline 20.0 s')
    expect(lines).toContain('run       completed after 15.0 s; 16 started in 1.3 ms (12,800 starts/s)')
    expect(lines.find((line) => line.startsWith('latency   from intended start'))).toMatch(/min 295 µs .* max 2\.05 s  \(n=12\)$/)
    expect(lines.find((line) => line.startsWith('self      '))).toMatch(/late starts 0 of 16/)
    expect(lines.some((line) => line.startsWith('PARTIAL'))).toBe(false)
  })

  it('marks an interrupted run as PARTIAL and says what was left in flight or never started', () => {
    const result = ladderResult({stopReason: 'interrupted', pending: 3, notStarted: 5})
    expect(result.partial).toBe(true)
    const lines = textReport(result).split('\n')
    expect(lines[1]).toBe('PARTIAL   interrupted: the figures below cover only what was measured before the stop')
    expect(lines.find((line) => line.startsWith('run       '))).toMatch(/^run       stopped after /)
    expect(lines).toContain('          3 still in flight when the run stopped (not counted as failed), 5 never started')
  })

  it('says how many SYN retransmits the connects cut off by the stop had surely sent, in the outcomes and in the verdict', () => {
    // Ctrl-C 1.6 s into a burst of 50 against a stalled backlog-8 listener: 9 in at once, 41 still in
    // SYN-SENT. On the default ladder the 1 s retransmit had left (its window closes at 1.23 s), the
    // 2 s one had not: each had sent at least 1.
    const recorder = new StormRecorder()
    for (let i = 0; i < 50; i++) recorder.recordStart(20)
    for (let i = 0; i < 9; i++) recorder.recordConnected(300, 298)
    const kernel = {netns: 'shared', sysctls: {...LAB_KERNEL_SYSCTLS}, counterDeltas: {TcpExtTCPSynRetrans: 41, TcpExtListenOverflows: 41}, listener: {effectiveBacklog: 8, peakQueue: 9, samples: 5, source: 'ss' as const}}
    const result = buildResult(run(recorder, {stopReason: 'interrupted', pending: 41, durationMs: 1600.4, startWindowMs: 0.4}), {tool: TOOL, target: TARGET, plan: buildPlan({burst: '50'}), kernel})
    const lines = textReport(result).split('\n')
    expect(lines).toContain('          41 still in flight when the run stopped (not counted as failed; each still waiting after ≥ 1 SYN retransmit), 0 never started')
    expect(lines.find((line) => line.startsWith('verdict   '))).toBe(
      "verdict   41 still waiting after ≥ 1 SYN retransmit: the listener's accept queue (8+1) was full; no counter verdict: 41 connects were still in flight when the run stopped",
    )
  })

  it('names the hard deadline when that is what stopped the run', () => {
    const report = textReport(ladderResult({stopReason: 'deadline' satisfies StopReason}))
    expect(report).toContain('PARTIAL   hard deadline (--max-duration 20.0 s) reached: the figures below cover only what was measured before the stop')
  })

  it('says that no connect succeeded, and draws no chart, when every connect failed', () => {
    const recorder = new StormRecorder()
    for (let i = 0; i < 25; i++) {
      recorder.recordStart(10)
      recorder.recordFailure('refused', 120, 'ECONNREFUSED')
    }
    const report = textReport(buildResult(run(recorder), {tool: TOOL, target: TARGET, plan: buildPlan({burst: '25'})}))
    expect(report).toContain('latency   no connect succeeded')
    expect(report).toMatch(/refused 25 \(100\.0%\)/)
    expect(report).not.toContain('connect latency from intended start')
  })

  it('describes the built-in lab target when there is one', () => {
    const lab: LabInfo = {
      backlog: 4,
      effectiveBacklog: 4,
      somaxconn: 4096,
      stallMs: 1500,
      stallEveryMs: null,
      stallForMs: null,
      acceptRate: null,
      onAccept: 'close',
      accepted: 12,
    }
    const lines = textReport(ladderResult({}, lab)).split('\n')
    expect(lines[0]).toBe('connstorm storm → 127.0.0.1:8080, the built-in lab target')
    expect(lines).toContain('lab       backlog 4 (effective 4, accept queue holds 5); accepts nothing for the first 1.50 s; on accept: close; accepted 12')
  })

  it('is a pure function of the result: the same output twice, and after a JSON round trip', () => {
    const result = ladderResult({stopReason: 'interrupted', pending: 1, notStarted: 2})
    const before = structuredClone(result)
    const first = textReport(result)
    expect(textReport(result)).toBe(first)
    expect(result).toStrictEqual(before)
    const saved = JSON.parse(JSON.stringify(result)) as StormResult
    expect(textReport(saved)).toBe(first)
    expect(first).toContain('PARTIAL')
    expect(first).toContain('⋮')
  })

  it('warns that latencies include the event loop’s lag only where the event loop timed the connects, not on the native loop', () => {
    const lagged = {p50: 15_000, p99: 16_000, max: 19_000}
    const warning = "warning   connstorm's own event loop lagged (p99 16 ms): latencies include that delay"
    expect(textReport(ladderResult({eventLoopDelayUs: lagged, connectPath: 'net'}))).toContain(warning)
    expect(textReport(ladderResult({eventLoopDelayUs: lagged, connectPath: 'handle'}))).toContain(warning)
    expect(textReport(ladderResult({eventLoopDelayUs: lagged, connectPath: 'native'}))).not.toContain('own event loop lagged')
    // 10 ms is where it starts: 9.9 ms on net.Socket says nothing.
    expect(textReport(ladderResult({eventLoopDelayUs: {p50: 5000, p99: 9900, max: 12_000}, connectPath: 'net'}))).not.toContain('own event loop lagged')
  })
})

describe('the limits line: connects that failed on this machine, not at the target', () => {
  it('names the limit and the fix under the outcomes, and says when --force overrode the pre-flight', async () => {
    const {syntheticResult, onStep} = await import('../helpers/synthetic-result.js')
    const result = syntheticResult({plan: {burst: '1000', close: 'hold'}, connects: [onStep(0, 229)], failures: {fileLimit: 771}})
    result.clientLimits = {openFiles: 256, portRange: [32_768, 60_999], problems: ['open files: the plan keeps up to 1000 sockets open but this process may open 256 files']}
    const lines = textReport(result).split('\n')
    const at = lines.findIndex((line) => line.startsWith('outcomes'))
    expect(lines.slice(at + 1, at + 4)).toEqual([
      'limits    771 connects (fileLimit) failed on this machine before a SYN was sent — open files: this process may open 256 files and the plan keeps up to 1000 sockets open',
      '          fix: ulimit -n 1064 before the run (LimitNOFILE=1064 for a systemd service; the hard limit too: Node raises the soft limit to it), or lower --concurrency',
      'forced    the pre-flight refused this plan and --force ran it: open files: the plan keeps up to 1000 sockets open but this process may open 256 files',
    ])
  })
})

describe('describeWorkers', () => {
  it('gives each --workers thread its own starts, late starts and event-loop p99, in thread order', () => {
    const line = describeWorkers([
      {attempted: 100, lateStarts: 99, eventLoopDelayUs: {p50: 91, p99: 530, max: 2900}},
      {attempted: 100, lateStarts: 32, eventLoopDelayUs: null},
    ])
    expect(line).toBe('per thread: #1 100 started, 99 late, loop p99 530 µs · #2 100 started, 32 late, loop not sampled')
  })
})
