import type {Attribution, CountedRetransmits, StepCount} from '../results/format.js'
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
  /**
   * The kernel's own count of each connect's SYN retransmits (TCP_INFO, counts.countedRetransmits),
   * with the connected ones' latencies per count decoded; absent or null: not counted.
   */
  counted?: CountedInput | null
}

export interface CountedInput {
  byOutcome: CountedRetransmits['byOutcome']
  /** connected connects' latency from the actual start per counted retransmits, ascending buckets */
  connectedLatency: ReadonlyMap<number, readonly LatencyCount[]>
}

/**
 * Puts every connect on the ladder step of its SYN retransmits: counted by the kernel where every
 * connect of that kind was counted (input.counted), else inferred from its latency (the window of
 * the step that holds it). The latency windows stay as the cross-check of the counts.
 */
export function attributeToSteps(input: AttributionInput): Attribution {
  const inferred = inferFromLatency(input)
  return input.counted ? withCounts(inferred, input, input.counted) : inferred
}

/** How many connects a retransmits → connects map holds. */
function countAll(perCount: Record<string, number> | undefined): number {
  return Object.values(perCount ?? {}).reduce((sum, n) => sum + n, 0)
}

/** [retransmits, connects] ascending by retransmits. */
function entriesOf(perCount: Record<string, number> | undefined): [number, number][] {
  return Object.entries(perCount ?? {})
    .map(([retransmits, n]): [number, number] => [Number(retransmits), n])
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a - b)
}

const FAILED_EARLY_OUTCOMES = ['refused', 'reset', 'addrNotAvail', 'fileLimit', 'unreachable', 'other'] as const

/**
 * Replaces the inferred steps, timeouts, pending and failures by the counted ones wherever every
 * connect of that kind was counted (a part only partly counted stays inferred: a count missing for
 * some would look like fewer retransmits). docs/kernel.md: tcpi_total_retrans after a connect is
 * its SYN retransmits; a timed-out one sent exactly that + 1 SYNs.
 */
function withCounts(inferred: Attribution, input: AttributionInput, counted: CountedInput): Attribution {
  const {ladder} = input
  const sum = (buckets: readonly LatencyCount[]): number => buckets.reduce((total, bucket) => total + bucket.count, 0)
  const connectedTotal = sum(input.connected)
  const finished = connectedTotal + input.timedOut + sum(input.failedEarly)
  const share = (n: number): number => (finished > 0 ? n / finished : 0)
  const atMsOf = (retransmits: number): number => ladder.sendTimesMs[retransmits] ?? ladder.sendTimesMs.at(-1) ?? 0
  const result: Attribution = {...inferred}
  let expected = 0
  let countedAny = false

  const connected = counted.byOutcome.connected
  if (connectedTotal > 0 && countAll(connected) === connectedTotal) {
    countedAny = true
    const windows = stepWindows(ladder.sendTimesMs, inferred.rttAllowanceMs)
    result.steps = entriesOf(connected).map(([retransmits, connects]): StepCount => {
      const buckets = counted.connectedLatency.get(retransmits) ?? []
      return {retransmits, atMs: atMsOf(retransmits), connects, share: share(connects), observedMedianMs: median(buckets) ?? 0, source: 'counted'}
    })
    for (const [retransmits, connects] of entriesOf(connected)) expected += retransmits * connects
    // On its counted step, whatever its latency: none is "between steps"; a latency that names
    // another step (or none) is reported as a disagreement, with both numbers.
    result.betweenSteps = {connects: 0, share: 0, observedMedianMs: null}
    result.disagreements = disagreements(counted.connectedLatency, windows)
  } else {
    expected += inferred.steps.reduce((total, step) => total + step.retransmits * step.connects, 0)
  }

  const timedOut = counted.byOutcome.timeout
  if (input.timedOut > 0 && countAll(timedOut) === input.timedOut) {
    countedAny = true
    result.timedOut = entriesOf(timedOut).map(([retransmits, connects]) => ({atLeastRetransmits: retransmits, retransmits, synsSent: retransmits + 1, connects, source: 'counted' as const}))
    for (const [retransmits, connects] of entriesOf(timedOut)) expected += retransmits * connects
    result.expectedIsLowerBound = false
  } else {
    expected += inferred.timedOut.reduce((total, group) => total + group.atLeastRetransmits * group.connects, 0)
  }

  const pendingTotal = input.pending ?? 0
  const pending = counted.byOutcome.pending
  if (pendingTotal > 0 && countAll(pending) === pendingTotal) {
    result.pending = entriesOf(pending).map(([retransmits, connects]) => ({atLeastRetransmits: retransmits, connects}))
  }

  // Failures answered after k retransmits (a RST to the k-th SYN). Failures before any SYN left
  // (no port, no descriptor) have no count and no place on the ladder.
  const failedCounts: Record<string, number> = {}
  for (const outcome of FAILED_EARLY_OUTCOMES)
    for (const [retransmits, n] of entriesOf(counted.byOutcome[outcome])) failedCounts[retransmits] = (failedCounts[retransmits] ?? 0) + n
  const failedTotal = sum(input.failedEarly)
  if (failedTotal > 0 && countAll(failedCounts) === failedTotal) {
    result.failedSteps = entriesOf(failedCounts).map(([retransmits, connects]) => ({retransmits, connects}))
  }
  expected += result.failedSteps.reduce((total, step) => total + step.retransmits * step.connects, 0)

  result.expectedSynRetrans = expected
  result.source = countedAny ? 'counted' : 'inferred'
  if (!countedAny) delete result.disagreements
  return result
}

/** Counted connects whose latency lies in another step's window, or in none (latencyStep null). */
function disagreements(latencyByCount: ReadonlyMap<number, readonly LatencyCount[]>, windows: readonly StepWindow[]): NonNullable<Attribution['disagreements']> {
  const found: NonNullable<Attribution['disagreements']> = []
  for (const [countedRetransmits, buckets] of [...latencyByCount].sort(([a], [b]) => a - b)) {
    const byStep = new Map<number | null, LatencyCount[]>()
    for (const bucket of buckets) {
      if (bucket.count === 0) continue
      const window = windows.find((candidate) => bucket.latencyMs >= candidate.fromMs && bucket.latencyMs <= candidate.toMs)
      const latencyStep = window ? window.retransmits : null
      if (latencyStep === countedRetransmits) continue
      byStep.set(latencyStep, [...(byStep.get(latencyStep) ?? []), bucket])
    }
    for (const [latencyStep, disagreeing] of byStep)
      found.push({countedRetransmits, latencyStep, connects: disagreeing.reduce((total, bucket) => total + bucket.count, 0), observedMedianMs: median(disagreeing)!})
  }
  return found
}

/**
 * Puts every connected connect on the ladder step whose window holds its latency (the SYN that
 * got through was the k-th retransmit), or between steps when no window does. Never forces a
 * connect onto a step.
 */
function inferFromLatency(input: AttributionInput): Attribution {
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
