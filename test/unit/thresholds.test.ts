import {describe, expect, it} from 'vitest'

import type {KernelObservation} from '../../src/results/format.js'
import {THRESHOLD_METRICS, type Threshold, parseThreshold} from '../../src/plan/thresholds.js'
import type {ThresholdOutcome} from '../../src/results/format.js'
import {evaluateThresholds} from '../../src/analysis/thresholds.js'
import {renderThresholds} from '../../src/report/threshold-text.js'
import type {StormRun} from '../../src/engine/storm.js'
import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {ResolvedTarget} from '../../src/plan/target.js'
import {StormRecorder} from '../../src/results/recorder.js'
import type {StormResult} from '../../src/results/format.js'
import type {LatencySummary} from '../../src/results/histogram.js'
import {buildResult} from '../helpers/synthetic-result.js'

const TARGET: ResolvedTarget = {requested: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, family: 4}
const TOOL = {name: 'connstorm', version: '0.1.0'}

/** This machine's SYN ladder (sends at 0, 1, 2, 3, 4, 5, 7, 11 … s) and counters that moved during the run. */
function kernel(counterDeltas: Record<string, number> | null = {TcpExtTCPSynRetrans: 17, TcpActiveOpens: 16, TcpExtListenOverflows: 3}): KernelObservation {
  return {
    netns: 'isolated',
    sysctls: {'net.ipv4.tcp_syn_retries': '6', 'net.ipv4.tcp_syn_linear_timeouts': '4'},
    counterDeltas,
    listener: null,
  }
}

/**
 * 16 attempted: 12 connected (5 at once, 4 after one SYN retransmit ≈1.03 s, 3 after two ≈2.05 s),
 * 2 refused, 1 EPROTO, 1 timed out after the plan's timeout.
 */
function ladderRecorder(): StormRecorder {
  const recorder = new StormRecorder()
  for (let i = 0; i < 16; i++) recorder.recordStart(20)
  for (const us of [295, 300, 310, 320, 330, 1_028_000, 1_030_000, 1_031_000, 1_033_000, 2_048_000, 2_050_000, 2_052_000]) recorder.recordConnected(us, us - 2)
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
    heldAtEnd: 0,
    eventLoopDelayUs: {p50: 120, p99: 2400, max: 5100},
    ...overrides,
  }
}

interface ResultOptions {
  recorder?: StormRecorder
  run?: Partial<StormRun>
  kernel?: KernelObservation
  /** the plan's --timeout (default 15s) */
  timeout?: string
}

function result(options: ResultOptions = {}): StormResult {
  const recorder = options.recorder ?? ladderRecorder()
  const plan = buildPlan({burst: String(Math.max(1, recorder.attempted)), ...(options.timeout ? {timeout: options.timeout} : {})})
  return buildResult(run(recorder, options.run), {tool: TOOL, target: TARGET, plan, ...(options.kernel ? {kernel: options.kernel} : {})})
}

/** The ladder storm as this kernel saw it: attribution and counters known. */
const withKernel = (): StormResult => result({kernel: kernel()})
/** The same storm where the kernel was not looked at (another OS): attribution and counters unknown. */
const withoutKernel = (): StormResult => result()

/**
 * The ladder storm with some of its latency-from-intended figures replaced. The recorder only makes
 * whole microseconds, and formatMicros prints them all in fixed notation; the values set here (a
 * fractional mean, an absurdly large p99) test what the display does with any number a result holds.
 */
function withIntended(figures: Partial<LatencySummary>): StormResult {
  const storm = withKernel()
  return {...storm, latencyUs: {...storm.latencyUs, fromIntended: {...storm.latencyUs.fromIntended, ...figures}}}
}

/** A storm of `attempted` connects of which the first `reset` were reset and the rest connected in 0.3 ms. */
function resets(reset: number, attempted: number): StormResult {
  const recorder = new StormRecorder()
  for (let i = 0; i < attempted; i++) recorder.recordStart(0)
  for (let i = 0; i < reset; i++) recorder.recordFailure('reset', 300, 'ECONNRESET')
  for (let i = reset; i < attempted; i++) recorder.recordConnected(300, 300)
  return result({recorder})
}

function outcomeOf(expr: string, of: StormResult): ThresholdOutcome {
  const [outcome] = evaluateThresholds([parseThreshold(expr)], of)
  expect(outcome, expr).toBeDefined()
  return outcome!
}

/** The error parseThreshold throws for expr (failing the test when it throws none). */
function parseError(expr: string): InvalidOptionError {
  try {
    parseThreshold(expr)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError)
    return error as InvalidOptionError
  }
  expect.fail(`parseThreshold(${JSON.stringify(expr)}) did not throw`)
}

describe('parseThreshold', () => {
  const good: [string, Omit<Threshold, 'expr'>][] = [
    ['p99<200ms', {metric: 'p99', operator: '<', value: 200_000, unit: 'us'}],
    ['p50<=1.5s', {metric: 'p50', operator: '<=', value: 1_500_000, unit: 'us'}],
    ['p90 > 250us', {metric: 'p90', operator: '>', value: 250, unit: 'us'}],
    ['min>=87µs', {metric: 'min', operator: '>=', value: 87, unit: 'us'}],
    // U+03BC GREEK SMALL LETTER MU, which some keyboards type for µ (U+00B5 MICRO SIGN)
    ['min>=87\u03bcs', {metric: 'min', operator: '>=', value: 87, unit: 'us'}],
    ['mean!=0.5ms', {metric: 'mean', operator: '!=', value: 500, unit: 'us'}],
    ['max<2m', {metric: 'max', operator: '<', value: 120_000_000, unit: 'us'}],
    ['p999<3s', {metric: 'p999', operator: '<', value: 3_000_000, unit: 'us'}],
    ['p99.9<3s', {metric: 'p999', operator: '<', value: 3_000_000, unit: 'us'}],
    ['p50<.25s', {metric: 'p50', operator: '<', value: 250_000, unit: 'us'}],
    ['actual.p99<10ms', {metric: 'actual.p99', operator: '<', value: 10_000, unit: 'us'}],
    ['actual.p99.9 == 1 s', {metric: 'actual.p999', operator: '==', value: 1_000_000, unit: 'us'}],
    ['P99<1s', {metric: 'p99', operator: '<', value: 1_000_000, unit: 'us'}],
    ['timeout<1%', {metric: 'timeout', operator: '<', value: 1, unit: 'percent'}],
    ['timeout < 0.5 %', {metric: 'timeout', operator: '<', value: 0.5, unit: 'percent'}],
    ['connected>=99.9%', {metric: 'connected', operator: '>=', value: 99.9, unit: 'percent'}],
    ['connected>=100%', {metric: 'connected', operator: '>=', value: 100, unit: 'percent'}],
    ['refused==0', {metric: 'refused', operator: '==', value: 0, unit: 'count'}],
    ['reset==0', {metric: 'reset', operator: '==', value: 0, unit: 'count'}],
    ['addrnotavail==0%', {metric: 'addrNotAvail', operator: '==', value: 0, unit: 'percent'}],
    ['fileLimit==0', {metric: 'fileLimit', operator: '==', value: 0, unit: 'count'}],
    ['unreachable<=2', {metric: 'unreachable', operator: '<=', value: 2, unit: 'count'}],
    ['other<1', {metric: 'other', operator: '<', value: 1, unit: 'count'}],
    ['failed<=3', {metric: 'failed', operator: '<=', value: 3, unit: 'count'}],
    ['betweenSteps<5%', {metric: 'betweenSteps', operator: '<', value: 5, unit: 'percent'}],
    ['lateStarts==0', {metric: 'lateStarts', operator: '==', value: 0, unit: 'count'}],
    ['synRetransmits==0', {metric: 'synRetransmits', operator: '==', value: 0, unit: 'count'}],
    ['pending==0', {metric: 'pending', operator: '==', value: 0, unit: 'count'}],
    ['listenOverflows==0', {metric: 'listenOverflows', operator: '==', value: 0, unit: 'count'}],
    ['achievedRate>=2000', {metric: 'achievedRate', operator: '>=', value: 2000, unit: 'per-second'}],
    ['achievedRate>=2000/s', {metric: 'achievedRate', operator: '>=', value: 2000, unit: 'per-second'}],
    ['achievedRate > 2.5k/s', {metric: 'achievedRate', operator: '>', value: 2500, unit: 'per-second'}],
    ['achievedRate >= 2.5 k / s', {metric: 'achievedRate', operator: '>=', value: 2500, unit: 'per-second'}],
  ]

  it.each(good)('reads %j', (expr, expected) => {
    expect(parseThreshold(expr)).toEqual({expr: expr.trim(), ...expected})
  })

  it('keeps the expression as written, trimmed, for the report line', () => {
    expect(parseThreshold('  p99.9 < 1.5s \n').expr).toBe('p99.9 < 1.5s')
  })

  const bad: [string, string | RegExp][] = [
    ['', '<metric><op><value>'],
    ['   ', '<metric><op><value>'],
    ['p99', '<metric><op><value>'],
    ['<200ms', 'a metric before the operator'],
    ['p99<', 'a value after the operator'],
    ['p99<200', 'a bare number is ambiguous'],
    ['actual.p99<200', 'a bare number is ambiguous'],
    ['p99=200ms', 'use == for equality'],
    ['p99===200ms', 'use == for equality'],
    ['p99=>200ms', "'=>' is not an operator: use >="],
    ['p99=<200ms', "'=<' is not an operator: use <="],
    ['p99<>200ms', 'use !='],
    ['p99!==200ms', "'!==' is not an operator: use !="],
    ['p99!200ms', 'use !='],
    ['p99<<200ms', "'<<' is none of them"],
    ['p99 < = 200ms', 'a plain non-negative number'],
    ['latency<200ms', "'latency' is none of them"],
    ['p98<200ms', "'p98' is none of them"],
    ['actual.p98<1s', "'actual.p98' is none of them"],
    ['p 99<200ms', "'p 99' is none of them"],
    ['p99<-5ms', 'a plain non-negative number'],
    ['p99<1e3ms', "'e3ms' is not one"],
    ['p99<1,5ms', "',5ms' is not one"],
    ['p99<ms', 'a plain non-negative number'],
    ['p99<NaNms', 'a plain non-negative number'],
    ['p99<200mss', "'mss' is not one"],
    ['p99<1h', "'h' is not one"],
    ['p99<5%', "'%' is not one"],
    ['p99<200ms<300ms', "'ms<300ms' is not one"],
    ['timeout<5ms', "'ms' is neither"],
    ['timeout<0.5', 'a whole count or a share with %'],
    ['timeout<150%', 'a share from 0% to 100%'],
    ['synRetransmits<1%', '% does not apply'],
    ['listenOverflows>=1.5', 'a whole count for listenOverflows'],
    ['pending<5%', '% does not apply'],
    ['pending<5s', "without a unit ('s' given)"],
    ['achievedRate>5ms', "'ms' is not a rate unit"],
    ['achievedRate>-5', 'a plain non-negative number'],
    ['p99\n<200', 'a bare number is ambiguous'],
  ]

  it.each(bad)('refuses %j with a one-line error that names --threshold and the accepted form', (expr, says) => {
    const error = parseError(expr)
    expect(error).toBeInstanceOf(UsageError)
    expect(error.option).toBe('--threshold')
    expect(error.message).toMatch(/^--threshold: invalid value '.*': expected /)
    expect(error.message).not.toMatch(/[\n\r]/)
    if (typeof says === 'string') expect(error.message).toContain(says)
    else expect(error.message).toMatch(says)
  })

  // Each refusal above is aimed: the same expression with only the named mistake mended parses.
  // A parser that refused too broadly (any '=', any '%', any count metric) would fail here.
  const mended: [bad: string, good: string, expected: Omit<Threshold, 'expr'>][] = [
    ['p99<200', 'p99<200ms', {metric: 'p99', operator: '<', value: 200_000, unit: 'us'}],
    ['p99=200ms', 'p99==200ms', {metric: 'p99', operator: '==', value: 200_000, unit: 'us'}],
    ['p99=>200ms', 'p99>=200ms', {metric: 'p99', operator: '>=', value: 200_000, unit: 'us'}],
    ['p99=<200ms', 'p99<=200ms', {metric: 'p99', operator: '<=', value: 200_000, unit: 'us'}],
    ['p99<>200ms', 'p99!=200ms', {metric: 'p99', operator: '!=', value: 200_000, unit: 'us'}],
    ['p98<200ms', 'p99<200ms', {metric: 'p99', operator: '<', value: 200_000, unit: 'us'}],
    ['p99<1h', 'p99<1s', {metric: 'p99', operator: '<', value: 1_000_000, unit: 'us'}],
    ['timeout<5ms', 'timeout<5', {metric: 'timeout', operator: '<', value: 5, unit: 'count'}],
    ['timeout<150%', 'timeout<15%', {metric: 'timeout', operator: '<', value: 15, unit: 'percent'}],
    ['synRetransmits<1%', 'synRetransmits<1', {metric: 'synRetransmits', operator: '<', value: 1, unit: 'count'}],
    ['listenOverflows>=1.5', 'listenOverflows>=2', {metric: 'listenOverflows', operator: '>=', value: 2, unit: 'count'}],
    ['achievedRate>5ms', 'achievedRate>5/s', {metric: 'achievedRate', operator: '>', value: 5, unit: 'per-second'}],
  ]

  it.each(mended)('refuses %j but reads it with only that mistake mended, %j', (wrong, right, expected) => {
    expect(parseError(wrong)).toBeInstanceOf(UsageError)
    expect(parseThreshold(right)).toEqual({expr: right, ...expected})
  })

  it('lists every metric when the metric is unknown', () => {
    expect(parseError('p98<200ms').message).toBe(
      "--threshold: invalid value 'p98<200ms': expected a metric, one of min, mean, p50, p90, p99, p999, max, " +
        'actual.min, actual.mean, actual.p50, actual.p90, actual.p99, actual.p999, actual.max, ' +
        'connected, timeout, refused, reset, addrNotAvail, fileLimit, unreachable, other, failed, betweenSteps, lateStarts, ' +
        "synRetransmits, pending, listenOverflows, achievedRate ('p98' is none of them), like p99<200ms",
    )
  })

  // The whole sentence, for the refusals whose wording depends on the metric: each ends with an
  // example the user can copy, written in the metric's own kind of limit.
  const sentences: [expr: string, expected: string][] = [
    ['p99<200', 'a duration with a unit (us, µs, ms, s, m) for p99: a bare number is ambiguous, like p99<200ms'],
    ['p99=200ms', "an operator < <= > >= == or != ('=' is not an operator: use == for equality), like p99<200ms"],
    ['refused=0', "an operator < <= > >= == or != ('=' is not an operator: use == for equality), like refused==0"],
    ['connected=99%', "an operator < <= > >= == or != ('=' is not an operator: use == for equality), like connected>=99%"],
    ['pending=0', "an operator < <= > >= == or != ('=' is not an operator: use == for equality), like pending==0"],
    ['achievedRate=1000', "an operator < <= > >= == or != ('=' is not an operator: use == for equality), like achievedRate>=1000/s"],
    ['timeout<150%', 'a share from 0% to 100% for timeout, like timeout<1%'],
    ['connected>=101%', 'a share from 0% to 100% for connected, like connected>=99%'],
  ]

  it.each(sentences)('refuses %j saying: expected %s', (expr, expected) => {
    expect(parseError(expr).message).toBe(`--threshold: invalid value '${expr}': expected ${expected}`)
  })

  it('refuses a number too long to be a finite double, rather than holding a rate to Infinity', () => {
    // 400 nines: a plain decimal by the grammar, but Number() of it is Infinity.
    const expr = `achievedRate>${'9'.repeat(400)}`
    expect(parseError(expr).message).toBe(
      `--threshold: invalid value '${expr}': expected a plain non-negative number after the operator (no sign, exponent or separators), like achievedRate>=1000/s`,
    )
  })

  it('refuses a latency limit that is finite as written but not in microseconds', () => {
    // 10^300 minutes is a finite double; in µs (× 6·10^7) it passes the largest double, 1.8·10^308.
    const expr = `max<1${'0'.repeat(300)}m`
    expect(parseError(expr).message).toBe(`--threshold: invalid value '${expr}': expected a finite duration for max, like max<200ms`)
  })

  it('shows a newline in the expression escaped, so the error stays on one line', () => {
    expect(parseError('p9\n9<1s').message).toContain(String.raw`'p9\n9<1s'`)
  })

  it('names each supported metric in THRESHOLD_METRICS, and every name there parses', () => {
    expect([...THRESHOLD_METRICS]).toEqual([
      'min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max',
      'actual.min', 'actual.mean', 'actual.p50', 'actual.p90', 'actual.p99', 'actual.p999', 'actual.max',
      'connected', 'timeout', 'refused', 'reset', 'addrNotAvail', 'fileLimit', 'unreachable', 'other', 'failed',
      'betweenSteps', 'lateStarts', 'synRetransmits', 'pending', 'listenOverflows', 'achievedRate',
    ])
    for (const metric of THRESHOLD_METRICS) {
      const limit = metric === 'achievedRate' ? '>=1/s' : /^(actual\.)?(min|mean|p\d+|max)$/.test(metric) ? '<1s' : '==0'
      expect(parseThreshold(`${metric}${limit}`).metric).toBe(metric)
    }
  })
})

describe('evaluateThresholds: latency', () => {
  it('fails p99<10ms when the measured p99 is 2.05 s, and says so', () => {
    expect(outcomeOf('p99<10ms', withKernel())).toEqual({expr: 'p99<10ms', held: false, value: 2_052_000, unit: 'us', display: '2.05 s'})
  })

  it('holds p99<=2.1s and p50<1.1s for the same run', () => {
    expect(outcomeOf('p99<=2.1s', withKernel())).toMatchObject({held: true, display: '2.05 s'})
    expect(outcomeOf('p50<1.1s', withKernel())).toMatchObject({held: true, display: '1.03 s'})
  })

  it('holds <= on the limit itself and fails it above, for p99 = 2.052 s', () => {
    expect(outcomeOf('p99<=2.052s', withKernel())).toMatchObject({held: true, value: 2_052_000})
    expect(outcomeOf('p99<=2s', withKernel())).toMatchObject({held: false, value: 2_052_000})
  })

  it('holds != unless the value is exactly the limit, for p99 = 2.052 s', () => {
    expect(outcomeOf('p99!=2s', withKernel())).toMatchObject({held: true, value: 2_052_000})
    expect(outcomeOf('p99!=2052ms', withKernel())).toMatchObject({held: false, value: 2_052_000})
  })

  it('reads min, mean, max and p99.9 from the summary of latency from intended start', () => {
    const {fromIntended} = withKernel().latencyUs
    expect(outcomeOf('min<1ms', withKernel())).toMatchObject({held: true, value: fromIntended.min, display: '295 µs'})
    expect(outcomeOf('mean>500ms', withKernel())).toMatchObject({held: true, value: fromIntended.mean})
    expect(outcomeOf('max>=2s', withKernel())).toMatchObject({held: true, value: fromIntended.max})
    expect(outcomeOf('p99.9>=2s', withKernel())).toMatchObject({held: true, value: fromIntended.p999})
  })

  it('measures from the intended start, so a queue wait counts, and actual.* from the actual start, so it does not', () => {
    // 10 connects that each waited 40 ms for a slot, then connected in 0.3 ms.
    const recorder = new StormRecorder()
    for (let i = 0; i < 10; i++) {
      recorder.recordStart(40_000)
      recorder.recordConnected(40_300, 300)
    }
    const queued = result({recorder})
    expect(outcomeOf('p99<10ms', queued)).toMatchObject({held: false, value: 40_300, display: '40 ms'})
    expect(outcomeOf('actual.p99<10ms', queued)).toMatchObject({held: true, display: '300 µs'})
    expect(outcomeOf('lateStarts==0', queued)).toMatchObject({held: false, value: 10, display: '10'})
    expect(outcomeOf('lateStarts>=100%', queued)).toMatchObject({held: true, value: 100, display: '100 %'})
  })

  it('fails a latency threshold as unknown when nothing connected, in either direction', () => {
    const recorder = new StormRecorder()
    recorder.recordStart(0)
    recorder.recordFailure('refused', 100, 'ECONNREFUSED')
    const noneConnected = result({recorder})
    for (const expr of ['p99<1s', 'p99>=0us', 'actual.max<1m', 'mean!=0ms']) {
      expect(outcomeOf(expr, noneConnected), expr).toMatchObject({held: false, value: null, unit: 'us', display: 'unknown'})
    }
  })

  it('never rounds the shown value onto or across the limit', () => {
    const recorder = new StormRecorder()
    for (let i = 0; i < 10; i++) {
      recorder.recordStart(0)
      recorder.recordConnected(199_600, 199_600)
    }
    const near = result({recorder})
    const p99 = near.latencyUs.fromIntended.p99
    expect(p99).toBeLessThan(200_000)
    // formatMicros alone would print '200 ms' for both.
    expect(outcomeOf('p99<200ms', near)).toMatchObject({held: true, display: `${(p99 / 1000).toFixed(1)} ms`})
    expect(outcomeOf('p99>=200ms', near).display).not.toBe('200 ms')
    // 2.052 s against 2.05 s: shown as 2.052 s, not as the limit itself.
    expect(outcomeOf('p99<2.05s', withKernel())).toMatchObject({held: false, display: '2.052 s'})
    expect(outcomeOf('p99==2.05s', withKernel())).toMatchObject({held: false, display: '2.052 s'})
  })

  it('adds digits until the shown value is on the right side of the limit, up to six more than the short form', () => {
    // A mean of 1.50000001 s: 10 ns above 1.5 s. The short form '1.50 s' has 2 decimals; only the 8th shows the 10 ns.
    expect(outcomeOf('mean>1.5s', withIntended({mean: 1_500_000.01}))).toMatchObject({held: true, value: 1_500_000.01, display: '1.50000001 s'})
  })

  it('shows the exact value in µs when no shortened form lands on the right side of the limit', () => {
    // 1 ns above 1.5 s: eight decimals of a second (10 ns) all read 1.50000000 s, which is the limit itself.
    expect(outcomeOf('mean>1.5s', withIntended({mean: 1_500_000.001}))).toMatchObject({held: true, display: '1500000.001 µs'})
    // 10^33 µs: formatMicros would print '1e+27 s', which is no fixed-point number, so the value is shown as it is.
    expect(outcomeOf('p99>1s', withIntended({p99: 1e33}))).toMatchObject({held: true, value: 1e33, display: '1e+33 µs'})
  })
})

describe('evaluateThresholds: outcomes', () => {
  it('compares a share of attempted with %, and the count without', () => {
    const storm = withKernel()
    expect(outcomeOf('timeout<1%', storm)).toEqual({expr: 'timeout<1%', held: false, value: 6.25, unit: 'percent', display: '6.3 %'})
    expect(outcomeOf('timeout<=6.25%', storm)).toMatchObject({held: true, value: 6.25})
    expect(outcomeOf('timeout==1', storm)).toEqual({expr: 'timeout==1', held: true, value: 1, unit: 'count', display: '1'})
    expect(outcomeOf('refused==12.5%', storm)).toMatchObject({held: true, display: '12.5 %'})
    expect(outcomeOf('refused<2', storm)).toMatchObject({held: false, value: 2, display: '2'})
    expect(outcomeOf('connected>=75%', storm)).toMatchObject({held: true, value: 75, display: '75 %'})
    expect(outcomeOf('connected>=99%', storm)).toMatchObject({held: false, value: 75})
    expect(outcomeOf('other<1', storm)).toMatchObject({held: false, value: 1})
    expect(outcomeOf('reset==0%', storm)).toMatchObject({held: true, value: 0, display: '0 %'})
    expect(outcomeOf('addrNotAvail==0', storm)).toMatchObject({held: true, value: 0})
    expect(outcomeOf('fileLimit==0', storm)).toMatchObject({held: true})
    expect(outcomeOf('unreachable==0', storm)).toMatchObject({held: true})
  })

  it('counts as failed every finished connect that did not connect (refused, other, timeout)', () => {
    expect(outcomeOf('failed==4', withKernel())).toMatchObject({held: true, value: 4})
    expect(outcomeOf('failed<25%', withKernel())).toMatchObject({held: false, value: 25, display: '25 %'})
  })

  it('gives exact shares where the decimal is exact: 7 timeouts of 100 is 7 %, not 7.000000000000001 %', () => {
    const recorder = new StormRecorder()
    for (let i = 0; i < 100; i++) recorder.recordStart(0)
    for (let i = 0; i < 93; i++) recorder.recordConnected(300, 300)
    for (let i = 0; i < 7; i++) recorder.recordFailure('timeout', 1_000_000)
    expect(outcomeOf('timeout<=7%', result({recorder}))).toMatchObject({held: true, value: 7, display: '7 %'})
  })

  it('takes a share of 0 attempted as 0, so timeout<1% holds and connected>=99% fails', () => {
    const nothing = result({recorder: new StormRecorder()})
    expect(outcomeOf('timeout<1%', nothing)).toMatchObject({held: true, value: 0, display: '0 %'})
    expect(outcomeOf('connected>=99%', nothing)).toMatchObject({held: false, value: 0})
  })

  it('shows a small share with enough digits that it does not read as 0 %', () => {
    const recorder = new StormRecorder()
    for (let i = 0; i < 2000; i++) recorder.recordStart(0)
    for (let i = 0; i < 1999; i++) recorder.recordConnected(300, 300)
    recorder.recordFailure('reset', 300, 'ECONNRESET')
    expect(outcomeOf('reset<1%', result({recorder}))).toMatchObject({held: true, value: 0.05, display: '0.05 %'})
    expect(outcomeOf('reset<0.05%', result({recorder}))).toMatchObject({held: false, display: '0.05 %'})
  })

  it('holds != when the count or share differs from the limit, and fails it when equal', () => {
    // 1 timeout and 2 refused of 16 attempted.
    const storm = withKernel()
    expect(outcomeOf('timeout!=0', storm)).toMatchObject({held: true, value: 1})
    expect(outcomeOf('refused!=2', storm)).toMatchObject({held: false, value: 2})
    expect(outcomeOf('refused!=12.5%', storm)).toMatchObject({held: false, value: 12.5})
  })

  it('shows a share below 1 % with two significant digits: 1 reset of 300 is 0.33 %', () => {
    expect(outcomeOf('reset<1%', resets(1, 300))).toMatchObject({held: true, value: 100 / 300, display: '0.33 %'})
  })

  it('drops trailing zeros from a shown share: 1 reset of 1001 (0.0999 %) shows as 0.1 %, not 0.100 %', () => {
    expect(outcomeOf('reset<1%', resets(1, 1001))).toMatchObject({held: true, display: '0.1 %'})
  })

  it('adds up to six decimals to a share to keep it on the right side of the limit, else shows it exactly', () => {
    // 1 of 3 is 33.333333333333336 % in binary floating point (100 / 3).
    const third = resets(1, 3)
    // 33.333333 % is the limit itself at 6 decimals; the 7th, 33.3333333 %, is above it.
    expect(outcomeOf('reset>33.333333%', third)).toMatchObject({held: true, value: 33.333333333333336, display: '33.3333333 %'})
    // Every form up to 7 decimals reads at most the limit 33.3333333 %: the exact value is shown.
    expect(outcomeOf('reset>33.3333333%', third)).toMatchObject({held: true, display: '33.333333333333336 %'})
  })

  it('reads pending from the run, as a count', () => {
    expect(outcomeOf('pending==0', withKernel())).toMatchObject({held: true, value: 0})
    expect(outcomeOf('pending==0', result({run: {pending: 3, stopReason: 'deadline'}}))).toMatchObject({held: false, value: 3, display: '3'})
  })

  it('reads achievedRate in starts per second', () => {
    const storm = withKernel()
    expect(storm.achievedRate).toBe(12_800)
    expect(outcomeOf('achievedRate>=10k/s', storm)).toEqual({expr: 'achievedRate>=10k/s', held: true, value: 12_800, unit: 'per-second', display: '12800/s'})
    expect(outcomeOf('achievedRate>20000', storm)).toMatchObject({held: false, display: '12800/s'})
  })

  it('shows a rate of 1/s or more in whole starts per second, with decimals only where the limit needs them', () => {
    // 16 starts over a 2.5 s start window (a burst: no last gap to add) is 6.4/s.
    const slow = result({run: {startWindowMs: 2500}})
    expect(slow.achievedRate).toBe(6.4)
    expect(outcomeOf('achievedRate>1', slow)).toMatchObject({held: true, value: 6.4, display: '6/s'})
    // '6/s' would read as the limit itself.
    expect(outcomeOf('achievedRate>6', slow)).toMatchObject({held: true, display: '6.4/s'})
  })

  it('shows a rate exactly when no shortened form lands on the right side of the limit', () => {
    // A merged result adds the runs' rates: 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
    const merged = {...withKernel(), achievedRate: 0.1 + 0.2}
    expect(outcomeOf('achievedRate>0.3', merged)).toMatchObject({held: true, display: '0.30000000000000004/s'})
  })

  it('fails as unknown a measured value that is not a finite number, instead of comparing it', () => {
    for (const achievedRate of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const outcome = outcomeOf('achievedRate>=0', {...withKernel(), achievedRate})
      expect(outcome, String(achievedRate)).toEqual({expr: 'achievedRate>=0', held: false, value: null, unit: 'per-second', display: 'unknown'})
    }
  })
})

describe('evaluateThresholds: what the kernel showed', () => {
  it('holds synRetransmits<=17 and fails synRetransmits==0 when the attribution counts 17', () => {
    // 4 connects after one retransmit, 3 after two, and the timed-out one had 7 SYNs dropped before 15 s.
    const storm = withKernel()
    expect(storm.attribution).toMatchObject({expectedSynRetrans: 17, expectedIsLowerBound: false})
    expect(outcomeOf('synRetransmits==0', storm)).toEqual({expr: 'synRetransmits==0', held: false, value: 17, unit: 'count', display: '17'})
    expect(outcomeOf('synRetransmits<=17', storm)).toMatchObject({held: true, value: 17})
  })

  it('treats a lower-bound count as "≥ n": only thresholds true for every value from n up hold', () => {
    // A 1 s timeout falls inside the first retransmit's window: the timed-out connect's retransmits are uncertain.
    const storm = result({kernel: kernel(), timeout: '1s'})
    expect(storm.attribution).toMatchObject({expectedSynRetrans: 10, expectedIsLowerBound: true})
    expect(outcomeOf('synRetransmits<20', storm)).toMatchObject({held: false, value: 10, display: '≥ 10'})
    expect(outcomeOf('synRetransmits==10', storm)).toMatchObject({held: false, display: '≥ 10'})
    expect(outcomeOf('synRetransmits>=5', storm)).toMatchObject({held: true, display: '≥ 10'})
    expect(outcomeOf('synRetransmits>10', storm)).toMatchObject({held: false})
    expect(outcomeOf('synRetransmits!=0', storm)).toMatchObject({held: true})
    expect(outcomeOf('synRetransmits!=12', storm)).toMatchObject({held: false})
  })

  it('holds > and >= on a lower bound when the bound itself satisfies them, and != only when the bound is past the limit', () => {
    // ≥ 10: every possible value is > 5 and >= 10; 10 itself may be the value, so != 10 is not sure to hold, != 9 is.
    const storm = result({kernel: kernel(), timeout: '1s'})
    expect(outcomeOf('synRetransmits>5', storm)).toMatchObject({held: true, display: '≥ 10'})
    expect(outcomeOf('synRetransmits>=10', storm)).toMatchObject({held: true})
    expect(outcomeOf('synRetransmits>=11', storm)).toMatchObject({held: false})
    expect(outcomeOf('synRetransmits!=10', storm)).toMatchObject({held: false})
    expect(outcomeOf('synRetransmits!=9', storm)).toMatchObject({held: true})
    expect(outcomeOf('synRetransmits<=100', storm)).toMatchObject({held: false})
  })

  it('counts connects between ladder steps, as a count or a share of attempted', () => {
    // One connect at 500 ms: far from the direct window and from the first retransmit at 1 s.
    const recorder = ladderRecorder()
    recorder.recordStart(20)
    recorder.recordConnected(500_000, 500_000)
    const storm = result({recorder, kernel: kernel()})
    expect(storm.attribution?.betweenSteps.connects).toBe(1)
    expect(outcomeOf('betweenSteps==0', storm)).toMatchObject({held: false, value: 1, display: '1'})
    expect(outcomeOf('betweenSteps<5%', storm)).toMatchObject({held: false, value: (1 * 100) / 17, display: '5.9 %'})
    expect(outcomeOf('betweenSteps<10%', storm)).toMatchObject({held: true})
    expect(outcomeOf('betweenSteps==0', withKernel())).toMatchObject({held: true, value: 0})
  })

  it("reads listenOverflows from the kernel's TcpExtListenOverflows delta", () => {
    expect(outcomeOf('listenOverflows==0', withKernel())).toEqual({expr: 'listenOverflows==0', held: false, value: 3, unit: 'count', display: '3'})
    expect(outcomeOf('listenOverflows<=3', withKernel())).toMatchObject({held: true, value: 3})
  })

  it('fails synRetransmits, betweenSteps and listenOverflows as unknown when the kernel was not looked at, whatever the operator', () => {
    const blind = withoutKernel()
    expect(blind.attribution).toBeNull()
    expect(blind.kernel).toBeNull()
    for (const expr of ['synRetransmits==0', 'synRetransmits!=0', 'synRetransmits>=0', 'betweenSteps==0', 'betweenSteps<100%', 'listenOverflows==0', 'listenOverflows>=0']) {
      const outcome = outcomeOf(expr, blind)
      expect(outcome, expr).toEqual({expr, held: false, value: null, unit: parseThreshold(expr).unit, display: 'unknown'})
    }
  })

  it('fails listenOverflows as unknown when the kernel was looked at but its counters could not be read', () => {
    const storm = result({kernel: kernel(null)})
    expect(outcomeOf('listenOverflows==0', storm)).toMatchObject({held: false, value: null, display: 'unknown'})
    // the ladder came from the sysctls, so the attribution is still known
    expect(outcomeOf('synRetransmits==17', storm)).toMatchObject({held: true, value: 17})
  })

  it('evaluates every threshold, in the order given, even after one fails', () => {
    const thresholds = ['synRetransmits==0', 'p99<10ms', 'timeout<10%', 'listenOverflows==0'].map(parseThreshold)
    const outcomes = evaluateThresholds(thresholds, withoutKernel())
    expect(outcomes.map((outcome) => [outcome.expr, outcome.held])).toEqual([
      ['synRetransmits==0', false],
      ['p99<10ms', false],
      ['timeout<10%', true],
      ['listenOverflows==0', false],
    ])
    expect(evaluateThresholds([], withoutKernel())).toEqual([])
  })

  it('refuses to evaluate a metric it has no measurement for (a threshold that did not come from parseThreshold)', () => {
    const made: Threshold = {expr: 'latency<1s', metric: 'latency', operator: '<', value: 1_000_000, unit: 'us'}
    expect(() => evaluateThresholds([made], withKernel())).toThrow(new Error("thresholds: no measurement for metric 'latency'"))
  })
})

describe('renderThresholds', () => {
  it('prints one aligned line per threshold: held or FAILED, and the measured value', () => {
    const thresholds = ['p99<10ms', 'timeout<10%', 'synRetransmits==0', 'achievedRate>=10k/s'].map(parseThreshold)
    expect(renderThresholds(evaluateThresholds(thresholds, withoutKernel()))).toEqual([
      'threshold p99<10ms             FAILED  (p99 = 2.05 s)',
      'threshold timeout<10%          held    (timeout = 6.3 %)',
      'threshold synRetransmits==0    FAILED  (synRetransmits = unknown)',
      'threshold achievedRate>=10k/s  held    (achievedRate = 12800/s)',
    ])
  })

  it('names the metric as the user wrote it, and shows a lower bound as "≥ n"', () => {
    const thresholds = ['p99.9 < 3s', 'synRetransmits>=5'].map(parseThreshold)
    expect(renderThresholds(evaluateThresholds(thresholds, result({kernel: kernel(), timeout: '1s'})))).toEqual([
      'threshold p99.9 < 3s         held    (p99.9 = 2.05 s)',
      'threshold synRetransmits>=5  held    (synRetransmits ≥ 10)',
    ])
  })

  it('prints nothing for no thresholds', () => {
    expect(renderThresholds([])).toEqual([])
  })
})
