import {InvalidOptionError} from '../errors.js'
import {formatMicros} from '../plan/units.js'
import type {LatencySummary} from '../results/histogram.js'
import type {StormResult} from '../results/result.js'

/**
 * CI thresholds in k6's style: `--threshold 'p99<200ms' --threshold 'synRetransmits==0'`.
 * Parsed before any traffic (a malformed one is a one-line InvalidOptionError naming --threshold),
 * evaluated against the finished StormResult. A threshold on a value this run could not measure
 * FAILS and says 'unknown': it never passes silently.
 *
 * Grammar: `<metric> <op> <number><unit?>`, whitespace around each token allowed; numbers are plain
 * decimals (no sign, no exponent, no separators); metric names are matched ignoring case.
 *
 * Metrics (the names are public interface):
 *
 *   Connect latency of connected connects, from the INTENDED start (includes any wait for a slot:
 *   the coordinated-omission-safe view, result.latencyUs.fromIntended). The value needs a duration
 *   unit (us, µs, ms, s, m): "p99<200" is refused as ambiguous. Unknown (fails) when nothing connected.
 *     min, mean, p50, p90, p99, p999 (also written p99.9), max
 *   The same from the ACTUAL start (the moment the OS was asked to connect, result.latencyUs.fromActual):
 *     actual.min, actual.mean, actual.p50, actual.p90, actual.p99, actual.p999 (actual.p99.9), actual.max
 *
 *   How connects ended (result.counts): a bare number compares the count, a number with '%' the share
 *   of counts.attempted (0 attempted → share 0).
 *     connected, timeout, refused, reset, addrNotAvail, fileLimit, unreachable, other — one outcome each
 *     failed        — every finished connect that did not connect (counts.failed)
 *     betweenSteps  — connected, but far from every SYN-retransmit step: slowness that is not SYN loss
 *                     (result.attribution.betweenSteps.connects; unknown without a SYN ladder).
 *                     Its '%' is of attempted too, like every other '%' here (the text report shows
 *                     the same connects as a share of the finished ones; equal unless the run stopped early).
 *     lateStarts    — connects started more than result.self.lateStartThresholdUs behind schedule
 *
 *   Counts only ('%' is refused):
 *     synRetransmits  — SYN retransmits the attribution accounts for (result.attribution.expectedSynRetrans);
 *                       unknown when the kernel's SYN ladder was not read. When the attribution marks
 *                       it as a lower bound it shows as '≥ n', and a threshold holds only if it holds for
 *                       every value ≥ n (so 'synRetransmits<5' fails on '≥ 3').
 *     pending         — connects still in flight when the run stopped (counts.pending)
 *     listenOverflows — the kernel's TcpExtListenOverflows delta over the run
 *                       (result.kernel.counterDeltas; unknown when the counters were not read). It is
 *                       the counter of connstorm's network namespace: it sees a listener there (the
 *                       lab, a local target), not one on another machine.
 *
 *   Per second:
 *     achievedRate — connect starts per second over the start window (result.achievedRate);
 *                    the value may be written 2000, 2000/s, 2.5k or 2.5k/s.
 */

export type ThresholdOperator = '<' | '<=' | '>' | '>=' | '==' | '!='

export interface Threshold {
  /** the expression as given, trimmed */
  expr: string
  /** the canonical metric name (one of THRESHOLD_METRICS; 'p99.9' is stored as 'p999') */
  metric: string
  operator: ThresholdOperator
  /** the limit, in `unit`: µs for latencies, percent (1 = 1 %), a count, or starts per second */
  value: number
  unit: 'us' | 'percent' | 'count' | 'per-second'
}

export interface ThresholdOutcome {
  expr: string
  held: boolean
  /** the measured value in `unit`; null when this run could not measure it (then held is false) */
  value: number | null
  unit: Threshold['unit']
  /** the measured value in human form: '183 ms', '0.4 %', '12', '1990/s', '≥ 3', 'unknown' */
  display: string
}

const LATENCY_KEYS = ['min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const
type LatencyKey = (typeof LATENCY_KEYS)[number]
const OUTCOME_METRICS = ['connected', 'timeout', 'refused', 'reset', 'addrNotAvail', 'fileLimit', 'unreachable', 'other'] as const
type OutcomeMetric = (typeof OUTCOME_METRICS)[number]
const SHARE_METRICS = [...OUTCOME_METRICS, 'failed', 'betweenSteps', 'lateStarts'] as const
const COUNT_METRICS = ['synRetransmits', 'pending', 'listenOverflows'] as const
const RATE_METRICS = ['achievedRate'] as const

/** Every metric a threshold may name, canonical spelling ('p99.9' and 'actual.p99.9' are accepted too). */
export const THRESHOLD_METRICS: readonly string[] = Object.freeze([
  ...LATENCY_KEYS,
  ...LATENCY_KEYS.map((key) => `actual.${key}`),
  ...SHARE_METRICS,
  ...COUNT_METRICS,
  ...RATE_METRICS,
])

const OPTION = '--threshold'
const FORM = '<metric><op><value> with op one of < <= > >= == !=, like p99<200ms, timeout<1% or synRetransmits==0'
const OPERATORS: readonly ThresholdOperator[] = ['<', '<=', '>', '>=', '==', '!=']
/** Operators people reach for that we do not take, with what they probably meant. */
const MISTAKEN_OPERATORS: Record<string, string> = {
  '=': "'=' is not an operator: use == for equality",
  '===': "'===' is not an operator: use == for equality",
  '=>': "'=>' is not an operator: use >=",
  '=<': "'=<' is not an operator: use <=",
  '<>': "'<>' is not an operator: use !=",
  '!': "'!' is not an operator: use !=",
  '!==': "'!==' is not an operator: use !=",
}
const DURATION_UNITS_US: Record<string, number> = {us: 1, µs: 1, μs: 1, ms: 1000, s: 1_000_000, m: 60_000_000}
const DURATION_UNIT_LIST = 'us, µs, ms, s, m'

type MetricKind = 'latency' | 'share' | 'count' | 'rate'

/** lower-cased name or alias → canonical name */
const CANONICAL = new Map<string, string>([
  ...THRESHOLD_METRICS.map((name): [string, string] => [name.toLowerCase(), name]),
  ['p99.9', 'p999'],
  ['actual.p99.9', 'actual.p999'],
])

function kindOf(metric: string): MetricKind {
  if ((SHARE_METRICS as readonly string[]).includes(metric)) return 'share'
  if ((COUNT_METRICS as readonly string[]).includes(metric)) return 'count'
  if ((RATE_METRICS as readonly string[]).includes(metric)) return 'rate'
  return 'latency'
}

/** Parses one --threshold expression; throws InvalidOptionError (naming --threshold and the accepted form) when malformed. */
export function parseThreshold(expr: string): Threshold {
  const shown = printable(expr)
  const fail = (accepted: string): never => {
    throw new InvalidOptionError(OPTION, shown, accepted)
  }
  const match = /^([^<>=!]*)([<>=!]+)([^]*)$/.exec(expr)
  if (!match) return fail(FORM)
  const [, metricText = '', operatorText = '', valueText = ''] = match
  const name = metricText.trim()
  if (name === '') return fail(`a metric before the operator: ${FORM}`)
  const metric = CANONICAL.get(name.toLowerCase())
  if (metric === undefined) {
    return fail(`a metric, one of ${THRESHOLD_METRICS.join(', ')} ('${printable(name)}' is none of them), like p99<200ms`)
  }
  const mistaken = MISTAKEN_OPERATORS[operatorText]
  if (mistaken !== undefined) return fail(`an operator < <= > >= == or != (${mistaken}), like ${metric}${exampleLimit(metric)}`)
  const operator = OPERATORS.find((candidate) => candidate === operatorText)
  if (operator === undefined) return fail(`an operator < <= > >= == or != ('${operatorText}' is none of them), like ${metric}${exampleLimit(metric)}`)

  const limitText = valueText.trim()
  if (limitText === '') return fail(`a value after the operator, like ${metric}${exampleLimit(metric)}`)
  const number = /^(\d+(?:\.\d+)?|\.\d+)\s*([^]*)$/.exec(limitText)
  const amount = number ? Number(number[1]) : Number.NaN
  if (!number || !Number.isFinite(amount)) {
    return fail(`a plain non-negative number after the operator (no sign, exponent or separators), like ${metric}${exampleLimit(metric)}`)
  }
  const unitText = number[2] ?? ''
  const threshold = (value: number, unit: Threshold['unit']): Threshold => ({expr: expr.trim(), metric, operator, value, unit})

  switch (kindOf(metric)) {
    case 'latency': {
      if (unitText === '') return fail(`a duration with a unit (${DURATION_UNIT_LIST}) for ${metric}: a bare number is ambiguous, like ${metric}${exampleLimit(metric)}`)
      const factor = DURATION_UNITS_US[unitText]
      if (factor === undefined) return fail(`a duration in ${DURATION_UNIT_LIST} for ${metric} ('${printable(unitText)}' is not one), like ${metric}${exampleLimit(metric)}`)
      // Whole nanoseconds, as parseDurationMs keeps whole microseconds of a millisecond value.
      const us = Math.round(amount * factor * 1000) / 1000
      if (!Number.isFinite(us)) return fail(`a finite duration for ${metric}, like ${metric}${exampleLimit(metric)}`)
      return threshold(us, 'us')
    }
    case 'share': {
      if (unitText === '%') {
        if (amount > 100) return fail(`a share from 0% to 100% for ${metric}, like ${metric === 'connected' ? 'connected>=99%' : `${metric}<1%`}`)
        return threshold(amount, 'percent')
      }
      if (unitText === '') {
        if (!Number.isInteger(amount)) return fail(`a whole count or a share with % for ${metric}, like ${metric}${exampleLimit(metric)} or ${metric}<0.5%`)
        return threshold(amount, 'count')
      }
      return fail(`a whole count or a share with % for ${metric} ('${printable(unitText)}' is neither), like ${metric}${exampleLimit(metric)} or ${metric}<1%`)
    }
    case 'count': {
      if (unitText === '%') return fail(`a whole count for ${metric}: it is not a share of connects, so % does not apply, like ${metric}${exampleLimit(metric)}`)
      if (unitText !== '') return fail(`a whole count for ${metric} without a unit ('${printable(unitText)}' given), like ${metric}${exampleLimit(metric)}`)
      if (!Number.isInteger(amount)) return fail(`a whole count for ${metric}, like ${metric}${exampleLimit(metric)}`)
      return threshold(amount, 'count')
    }
    case 'rate': {
      const rate = /^(k)?\s*(\/\s*s)?$/i.exec(unitText)
      if (!rate) return fail(`a rate per second for ${metric} like 2000, 2000/s or 2.5k/s ('${printable(unitText)}' is not a rate unit)`)
      return threshold(rate[1] ? Math.round(amount * 1000 * 1000) / 1000 : amount, 'per-second')
    }
  }
}

function exampleLimit(metric: string): string {
  switch (kindOf(metric)) {
    case 'latency':
      return '<200ms'
    case 'share':
      return metric === 'connected' ? '>=99%' : '==0'
    case 'count':
      return '==0'
    case 'rate':
      return '>=1000/s'
  }
}

/** The expression as it goes into a one-line message: control characters (a newline) escaped. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (char) => JSON.stringify(char).slice(1, -1))
}

interface Measurement {
  value: number | null
  /** the value is a lower bound of the true one */
  atLeast?: boolean
}

/** Every threshold against the result, in the given order. */
export function evaluateThresholds(thresholds: readonly Threshold[], result: StormResult): ThresholdOutcome[] {
  return thresholds.map((threshold) => {
    const {value, atLeast = false} = measure(threshold, result)
    if (value === null) return {expr: threshold.expr, held: false, value: null, unit: threshold.unit, display: 'unknown'}
    const held = atLeast ? holdsForEveryValueFrom(value, threshold) : compare(value, threshold.operator, threshold.value)
    const display = atLeast ? `≥ ${formatCount(value)}` : displayOf(value, threshold)
    return {expr: threshold.expr, held, value, unit: threshold.unit, display}
  })
}

function measure(threshold: Threshold, result: StormResult): Measurement {
  const {metric, unit} = threshold
  const known = (value: number | null | undefined): Measurement => ({value: typeof value === 'number' && Number.isFinite(value) ? value : null})
  const ofAttempted = (count: number): Measurement => {
    if (unit !== 'percent') return known(count)
    const attempted = result.counts.attempted
    // count·100 / attempted, in that order: 7 of 100 is exactly 7, not 7.000000000000001.
    return known(attempted > 0 ? (count * 100) / attempted : 0)
  }
  if (metric.startsWith('actual.')) return latency(result.latencyUs.fromActual, metric.slice('actual.'.length) as LatencyKey)
  if ((LATENCY_KEYS as readonly string[]).includes(metric)) return latency(result.latencyUs.fromIntended, metric as LatencyKey)
  if ((OUTCOME_METRICS as readonly string[]).includes(metric)) return ofAttempted(result.counts.byOutcome[metric as OutcomeMetric])
  switch (metric) {
    case 'failed':
      return ofAttempted(result.counts.failed)
    case 'lateStarts':
      return ofAttempted(result.self.lateStarts)
    case 'betweenSteps':
      return result.attribution ? ofAttempted(result.attribution.betweenSteps.connects) : {value: null}
    case 'synRetransmits':
      return result.attribution ? {...known(result.attribution.expectedSynRetrans), atLeast: result.attribution.expectedIsLowerBound} : {value: null}
    case 'pending':
      return known(result.counts.pending)
    case 'listenOverflows':
      return known(result.kernel?.counterDeltas?.TcpExtListenOverflows)
    case 'achievedRate':
      return known(result.achievedRate)
    default:
      throw new Error(`thresholds: no measurement for metric '${metric}'`)
  }

  function latency(summary: LatencySummary, key: LatencyKey): Measurement {
    // An empty summary is all zeros: with nothing connected there is no latency to hold to a limit.
    return summary.count > 0 ? known(summary[key]) : {value: null}
  }
}

function compare(measured: number, operator: ThresholdOperator, limit: number): boolean {
  switch (operator) {
    case '<':
      return measured < limit
    case '<=':
      return measured <= limit
    case '>':
      return measured > limit
    case '>=':
      return measured >= limit
    case '==':
      return measured === limit
    case '!=':
      return measured !== limit
  }
}

/** For a value known only as ≥ bound: held only when it holds for every value from the bound up. */
function holdsForEveryValueFrom(bound: number, threshold: Threshold): boolean {
  switch (threshold.operator) {
    case '>':
    case '>=':
      return compare(bound, threshold.operator, threshold.value)
    case '!=':
      return bound > threshold.value
    default:
      return false
  }
}

/**
 * The measured value, short, but never rounded onto or across the limit: p99 = 199.6 ms against
 * p99<200ms shows as '199.6 ms', not '200 ms', and 2.052 s against p99<2.05s as '2.052 s', not
 * '2.05 s'; the shown value is on the same side of the limit as the measured one.
 */
function displayOf(value: number, threshold: Threshold): string {
  const side = Math.sign(value - threshold.value)
  const faithful = (candidates: readonly Shown[], exact: string): string =>
    candidates.find((candidate) => Math.sign(candidate.shown - threshold.value) === side)?.text ?? exact
  switch (threshold.unit) {
    case 'us':
      return faithful(latencyCandidates(value), `${value} µs`)
    case 'percent':
      return faithful(decimalCandidates(value, 1, ' %'), `${value} %`)
    case 'per-second':
      return faithful(decimalCandidates(value, 0, '/s'), `${value}/s`)
    case 'count':
      return formatCount(value)
  }
}

interface Shown {
  text: string
  /** the number the text shows, in the value's unit */
  shown: number
}

function latencyCandidates(us: number): Shown[] {
  const short = formatMicros(us)
  const parts = /^([\d.]+) (s|ms|µs)$/.exec(short)
  if (!parts) return []
  const unit = parts[2]!
  const scale = DURATION_UNITS_US[unit]!
  const shownUs = (text: string): number => Math.round(Number(text) * scale * 1000) / 1000
  const decimals = parts[1]!.split('.')[1]?.length ?? 0
  const candidates: Shown[] = [{text: short, shown: shownUs(parts[1]!)}]
  for (let d = decimals + 1; d <= decimals + 6; d++) {
    const number = (us / scale).toFixed(d)
    candidates.push({text: `${number} ${unit}`, shown: shownUs(number)})
  }
  return candidates
}

/** value.toFixed(d) for d from `from` up, trailing zeros dropped; below 1, at least 2 significant digits (0.05 %, not 0.1 %). */
function decimalCandidates(value: number, from: number, suffix: string): Shown[] {
  const candidates: Shown[] = []
  let d = value > 0 && value < 1 ? Math.min(12, Math.max(from, Math.ceil(-Math.log10(value)) + 1)) : from
  for (const last = d + 6; d <= last; d++) {
    const number = trimZeros(value.toFixed(d))
    candidates.push({text: `${number}${suffix}`, shown: Number(number)})
  }
  return candidates
}

function trimZeros(number: string): string {
  return number.includes('.') ? number.replace(/\.?0+$/, '') : number
}

function formatCount(value: number): string {
  return String(value)
}

/** One line per threshold: `threshold p99<200ms          held    (p99 = 183 ms)`, expressions aligned. */
export function renderThresholds(outcomes: readonly ThresholdOutcome[]): string[] {
  const width = Math.max(0, ...outcomes.map((outcome) => outcome.expr.length))
  return outcomes.map((outcome) => {
    const name = /^\s*([^<>=!]*?)\s*[<>=!]/.exec(outcome.expr)?.[1] || outcome.expr
    const measured = outcome.display.startsWith('≥') ? `${name} ${outcome.display}` : `${name} = ${outcome.display}`
    return `threshold ${outcome.expr.padEnd(width)}  ${outcome.held ? 'held  ' : 'FAILED'}  (${measured})`
  })
}
