import {InvalidOptionError} from '../errors.js'
import {MICROS_PER_UNIT} from './units.js'
import type {ThresholdUnit} from '../results/format.js'

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
  unit: ThresholdUnit
}

export const LATENCY_KEYS = ['min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const
export type LatencyKey = (typeof LATENCY_KEYS)[number]
export const OUTCOME_METRICS = ['connected', 'timeout', 'refused', 'reset', 'addrNotAvail', 'fileLimit', 'unreachable', 'other'] as const
export type OutcomeMetric = (typeof OUTCOME_METRICS)[number]
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
/** The units a latency limit may be written in (no 'h': no connect latency is that long). */
const DURATION_UNITS = ['us', 'µs', 'μs', 'ms', 's', 'm']
const DURATION_UNIT_LIST = 'us, µs, ms, s, m'

type MetricKind = 'latency' | 'share' | 'count' | 'rate'

/** lower-cased name or alias → canonical name */
const CANONICAL = new Map<string, string>([
  ...THRESHOLD_METRICS.map((name): [string, string] => [name.toLowerCase(), name]),
  ['p99.9', 'p999'],
  ['actual.p99.9', 'actual.p999'],
])

export function kindOf(metric: string): MetricKind {
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
  // None of the three groups is optional, so each always takes part in a match (at worst as '').
  const metricText = match[1]!
  const operatorText = match[2]!
  const valueText = match[3]!
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
  // The unit group is not optional: it always takes part in a match ('' when no unit follows).
  const unitText = number[2]!
  const threshold = (value: number, unit: Threshold['unit']): Threshold => ({expr: expr.trim(), metric, operator, value, unit})

  switch (kindOf(metric)) {
    case 'latency': {
      if (unitText === '') return fail(`a duration with a unit (${DURATION_UNIT_LIST}) for ${metric}: a bare number is ambiguous, like ${metric}${exampleLimit(metric)}`)
      const factor = DURATION_UNITS.includes(unitText) ? MICROS_PER_UNIT[unitText] : undefined
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

