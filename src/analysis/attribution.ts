import type {Attribution, StepCount} from '../results/format.js'
import type {SynLadder} from '../results/format.js'

/**
 * How late a retransmitted SYN may really leave, measured in docs/kernel.md §2: about 2.4 % per step
 * (jiffy rounding) plus up to 0.2 s of timer-wheel slack on the long steps. We allow 3 % and
 * 0.2 s, plus the round trip and a little of the load generator's own delay.
 */
export const STEP_DRIFT = 0.03
export const STEP_SLACK_MS = 200
/** Never early by more than this (timer granularity): a step's window opens just before it. */
export const STEP_EARLY_MS = 50
/** A connect that needed no retransmit completes within RTT + this (tool and scheduling delay). */
export const DIRECT_SLACK_MS = 100
/** The RTT allowance is the fastest connect, but never more than this share of the initial RTO. */
const MAX_RTT_SHARE_OF_RTO = 0.25

export interface StepWindow {
  retransmits: number
  atMs: number
  fromMs: number
  toMs: number
}

/** One latency value with how many connects had it (a histogram bucket). */
export interface LatencyCount {
  latencyMs: number
  count: number
}

/** The latency range in which a connect whose k-th retransmitted SYN got through completes. */
export function stepWindows(sendTimesMs: readonly number[], rttAllowanceMs: number): StepWindow[] {
  return sendTimesMs.map((atMs, retransmits) =>
    retransmits === 0
      ? {retransmits, atMs, fromMs: 0, toMs: rttAllowanceMs + DIRECT_SLACK_MS}
      : {retransmits, atMs, fromMs: atMs - STEP_EARLY_MS, toMs: atMs * (1 + STEP_DRIFT) + STEP_SLACK_MS + rttAllowanceMs},
  )
}

export interface AttributionInput {
  ladder: SynLadder
  /** connect latencies from the actual start (the moment the first SYN left), ascending */
  connected: readonly LatencyCount[]
  /** connects that ended as `timeout` after waiting timeoutMs */
  timedOut: number
  timeoutMs: number
  /** times to failure of connects that failed otherwise (refused, reset …), from the actual start */
  failedEarly: readonly LatencyCount[]
  /** connects still in SYN-SENT when the run stopped (Ctrl-C, --max-duration) */
  pending?: number
  /** the least time any of them had been in flight by then (0: unknown) */
  pendingForMs?: number
}

/**
 * Puts every connected connect on the ladder step whose window holds its latency (the SYN that
 * got through was the k-th retransmit), or between steps when no window does. Never forces a
 * connect onto a step.
 */
export function attributeToSteps(input: AttributionInput): Attribution {
  const {ladder, connected} = input
  const total = (buckets: readonly LatencyCount[]): number => buckets.reduce((sum, bucket) => sum + bucket.count, 0)
  const finished = total(connected) + input.timedOut + total(input.failedEarly)
  const share = (n: number): number => (finished > 0 ? n / finished : 0)
  const fastest = connected.find((bucket) => bucket.count > 0)?.latencyMs ?? 0
  const rttAllowanceMs = Math.min(fastest, ladder.initialRtoMs * MAX_RTT_SHARE_OF_RTO)
  const windows = stepWindows(ladder.sendTimesMs, rttAllowanceMs)

  const perStep = windows.map(() => [] as LatencyCount[])
  const between: LatencyCount[] = []
  for (const bucket of connected) {
    const index = windows.findIndex((window) => bucket.latencyMs >= window.fromMs && bucket.latencyMs <= window.toMs)
    if (index === -1) between.push(bucket)
    else perStep[index]!.push(bucket)
  }

  const steps: StepCount[] = []
  let expectedSynRetrans = 0
  for (const [index, buckets] of perStep.entries()) {
    const connects = buckets.reduce((sum, bucket) => sum + bucket.count, 0)
    if (connects === 0) continue
    const window = windows[index]!
    steps.push({retransmits: window.retransmits, atMs: window.atMs, connects, share: share(connects), observedMedianMs: median(buckets)!})
    expectedSynRetrans += window.retransmits * connects
  }

  // A timed-out connect had every SYN dropped that surely left before the timeout fired.
  const sentBeforeTimeout = windows.filter((window) => window.retransmits > 0 && window.toMs < input.timeoutMs).length
  const ambiguous = windows.some((window) => window.retransmits > 0 && window.fromMs <= input.timeoutMs && input.timeoutMs <= window.toMs)
  const timedOut = input.timedOut > 0 ? [{atLeastRetransmits: sentBeforeTimeout, connects: input.timedOut}] : []
  expectedSynRetrans += sentBeforeTimeout * input.timedOut

  // A connect still in SYN-SENT when the run stopped had every SYN dropped that surely left before
  // the stop: the kernel retransmits on its ladder whether or not anyone waits for the answer.
  const pending = input.pending ?? 0
  const sentBeforeStop = windows.filter((window) => window.retransmits > 0 && window.toMs < (input.pendingForMs ?? 0)).length
  const stillPending = pending > 0 ? [{atLeastRetransmits: sentBeforeStop, connects: pending}] : []

  // A failure answered on step k (a RST to the k-th SYN) still cost k retransmits.
  const failedPerStep = new Map<number, number>()
  for (const bucket of input.failedEarly) {
    const window = windows.find((candidate) => bucket.latencyMs >= candidate.fromMs && bucket.latencyMs <= candidate.toMs)
    if (window) failedPerStep.set(window.retransmits, (failedPerStep.get(window.retransmits) ?? 0) + bucket.count)
  }
  const failedSteps = [...failedPerStep.entries()].sort(([a], [b]) => a - b).map(([retransmits, connects]) => ({retransmits, connects}))
  for (const step of failedSteps) expectedSynRetrans += step.retransmits * step.connects

  const betweenConnects = total(between)
  return {
    steps,
    timedOut,
    pending: stillPending,
    failedSteps,
    betweenSteps: {connects: betweenConnects, share: share(betweenConnects), observedMedianMs: median(between)},
    expectedSynRetrans,
    expectedIsLowerBound: ambiguous && input.timedOut > 0,
    rttAllowanceMs,
  }
}

/** Weighted median of ascending buckets; null when empty. */
function median(buckets: readonly LatencyCount[]): number | null {
  const total = buckets.reduce((sum, bucket) => sum + bucket.count, 0)
  if (total === 0) return null
  let seen = 0
  for (const bucket of buckets) {
    seen += bucket.count
    if (seen * 2 >= total) return bucket.latencyMs
  }
  // Stryker disable next-line UnaryOperator: unreachable: after the last bucket seen = total > 0, so seen * 2 >= total has returned
  return buckets.at(-1)!.latencyMs
}
