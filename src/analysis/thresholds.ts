import {MICROS_PER_UNIT, formatMicros} from '../plan/units.js'
import {LATENCY_KEYS, type LatencyKey, OUTCOME_METRICS, type OutcomeMetric, type Threshold, type ThresholdOperator} from '../plan/thresholds.js'
import type {LatencySummary} from '../results/histogram.js'
import type {StormResult, ThresholdOutcome} from '../results/format.js'

/**
 * Evaluates --threshold expressions (grammar and metrics: plan/thresholds.ts) against a finished
 * result. A threshold on a value this run could not measure FAILS and says 'unknown': it never
 * passes silently.
 */

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
  // Number.isFinite is false for null and undefined too; it does not narrow the type, hence the cast.
  const known = (value: number | null | undefined): Measurement => ({value: Number.isFinite(value) ? (value as number) : null})
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
  // Stryker disable next-line ArrayDeclaration: a list holding a string instead of none: the string has no .shown, so displayOf's find matches nothing and shows the exact value, as with []
  if (!parts) return []
  const unit = parts[2]!
  const scale = MICROS_PER_UNIT[unit]!
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
  // Stryker disable next-line ArrayDeclaration: a string put first has no .shown, so displayOf's find skips it: the same candidates are found
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
