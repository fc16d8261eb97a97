import type {Attribution, LatencyCount} from '../analysis/attribution.js'
import {type Corroboration, type KernelObservation, corroborate, ladderFromSysctls} from '../analysis/diagnosis.js'
import {attributeToSteps} from '../analysis/attribution.js'
import type {Advice, Recommendation} from '../analysis/recommend.js'
import type {ThresholdOutcome} from '../analysis/thresholds.js'
import type {StopReason, StormRun} from '../engine/storm.js'
import type {Verification} from '../engine/verify.js'
import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import {type Histogram, type LatencySummary, encodeHistogram, recordedValues, summarize} from './histogram.js'
import type {Outcome} from './outcome.js'
import {LATE_START_THRESHOLD_US} from './recorder.js'

export const SCHEMA_VERSION = 1

/** What the built-in lab target was told to do and what it reported when it stopped. */
export interface LabInfo {
  backlog: number
  effectiveBacklog: number | null
  somaxconn: number | null
  stallMs: number
  stallEveryMs: number | null
  stallForMs: number | null
  acceptRate: number | null
  onAccept: string
  /** connections the lab accept()ed, from its own exit report (null if it did not report) */
  accepted: number | null
}

/**
 * The result file, schema version 1. Later versions add keys; the keys here stay as they are.
 * Latencies are µs; histograms are HdrHistogram compressed base64.
 */
export interface StormResult {
  schemaVersion: typeof SCHEMA_VERSION
  tool: {name: string; version: string}
  startedAt: string
  target: {host: string; port: number; family: 4 | 6; lab: boolean; requested: string}
  lab?: LabInfo
  plan: {
    mode: Plan['mode']
    connects: number
    burst?: number
    rate?: number
    durationMs?: number
    waves?: number
    intervalMs?: number
    concurrency: number
    timeoutMs: number
    close: Plan['close']
    maxDurationMs: number
  }
  counts: {
    attempted: number
    connected: number
    failed: number
    pending: number
    notStarted: number
    byOutcome: Record<Outcome, number>
    otherErrnos: Record<string, number>
    kernelTimeouts: number
  }
  latencyUs: {fromIntended: LatencySummary; fromActual: LatencySummary; failedFromActual: LatencySummary}
  histograms: {fromIntended: string; fromActual: string; failedFromActual: string}
  self: {
    /** null when the run was too short for a sample */
    eventLoopDelayUs: {p50: number; p99: number; max: number} | null
    lateStarts: number
    lateStartThresholdUs: number
    startLagUs: LatencySummary
  }
  durationMs: number
  /** connect starts per second over the start window (for a burst: how fast it was fired) */
  achievedRate: number
  startWindowMs: number
  partial: boolean
  stopReason: StopReason
  /** --close hold: connections still open when the run ended */
  heldAtEnd: number
  /** the SYN retransmit schedule of the kernel that ran the storm (null: its sysctls were unknown) */
  ladder: {synRetries: string; linearTimeouts: string; sendTimesMs: number[]; giveUpMs: number} | null
  /** connected connects put on ladder steps from their latency from actual start */
  attribution: Attribution | null
  /** what the kernel showed; null when the storm ran without looking (e.g. another OS) */
  kernel: (KernelObservation & {corroborated: boolean | null; corroboration: Corroboration | null}) | null
  /** sizing advice (src/analysis/recommend.ts), as printed at the end of the run */
  recommendations?: Recommendation[]
  advice?: Omit<Advice, 'recommendations'> & {inputs: AdviceInputs}
  /** --verify: the same plan re-run with the advice applied */
  verification?: Verification
  /** --threshold: each expression, whether it held, and the measured value */
  thresholds?: ThresholdOutcome[]
}

/** What the advice was computed with, so that `analyze` can compute it again. */
export interface AdviceInputs {
  acceptStallMs: number | null
  server: string | null
}

export interface ResultContext {
  tool: {name: string; version: string}
  target: ResolvedTarget
  plan: Plan
  lab?: LabInfo
  kernel?: KernelObservation
}

export function buildResult(run: StormRun, context: ResultContext): StormResult {
  const {recorder} = run
  const {plan} = context
  const connected = recorder.byOutcome.connected
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: context.tool,
    startedAt: run.startedAt.toISOString(),
    target: {
      host: context.target.host,
      port: context.target.port,
      family: context.target.family,
      lab: context.lab !== undefined,
      requested: context.target.requested,
    },
    ...(context.lab ? {lab: context.lab} : {}),
    plan: {
      mode: plan.mode,
      connects: plan.connects,
      ...(plan.burst === undefined ? {} : {burst: plan.burst}),
      ...(plan.rate === undefined ? {} : {rate: plan.rate}),
      ...(plan.durationMs === undefined ? {} : {durationMs: plan.durationMs}),
      ...(plan.waves === undefined ? {} : {waves: plan.waves}),
      ...(plan.intervalMs === undefined ? {} : {intervalMs: plan.intervalMs}),
      concurrency: plan.concurrency,
      timeoutMs: plan.timeoutMs,
      close: plan.close,
      maxDurationMs: plan.maxDurationMs,
    },
    counts: {
      attempted: recorder.attempted,
      connected,
      failed: recorder.finished - connected,
      pending: run.pending,
      notStarted: run.notStarted,
      byOutcome: {...recorder.byOutcome},
      otherErrnos: {...recorder.otherErrnos},
      kernelTimeouts: recorder.kernelTimeouts,
    },
    latencyUs: {
      fromIntended: summarize(recorder.fromIntended),
      fromActual: summarize(recorder.fromActual),
      failedFromActual: summarize(recorder.failedFromActual),
    },
    histograms: {
      fromIntended: encodeHistogram(recorder.fromIntended),
      fromActual: encodeHistogram(recorder.fromActual),
      failedFromActual: encodeHistogram(recorder.failedFromActual),
    },
    self: {
      eventLoopDelayUs: run.eventLoopDelayUs,
      lateStarts: recorder.lateStarts,
      lateStartThresholdUs: LATE_START_THRESHOLD_US,
      startLagUs: summarize(recorder.startLag),
    },
    durationMs: round3(run.durationMs),
    achievedRate: round3(achievedStartRate(run, plan)),
    startWindowMs: round3(run.startWindowMs),
    partial: run.stopReason !== 'completed',
    stopReason: run.stopReason,
    heldAtEnd: run.heldAtEnd,
    ...diagnose(run, plan, context.kernel),
  }
}

/** Ladder, attribution and the counters' verdict: pure, from what this run measured and read. */
function diagnose(run: StormRun, plan: Plan, kernel: KernelObservation | undefined): Pick<StormResult, 'ladder' | 'attribution' | 'kernel'> {
  const ladder = kernel ? ladderFromSysctls(kernel.sysctls) : null
  if (!kernel || !ladder) return {ladder: null, attribution: null, kernel: kernel ? {...kernel, corroborated: null, corroboration: null} : null}
  const {recorder} = run
  const timedOut = recorder.byOutcome.timeout
  const withoutSyn = recorder.byOutcome.addrNotAvail + recorder.byOutcome.fileLimit
  const otherFailures = recorder.finished - recorder.byOutcome.connected - timedOut
  const attribution = attributeToSteps({ladder, connected: latenciesMs(recorder.fromActual), timedOut, timeoutMs: plan.timeoutMs, otherFailures})
  const corroboration = corroborate(attribution, kernel, {attempted: recorder.attempted, pending: run.pending, timedOut, otherFailures, withoutSyn})
  return {
    ladder: {
      synRetries: kernel.sysctls['net.ipv4.tcp_syn_retries']!,
      linearTimeouts: kernel.sysctls['net.ipv4.tcp_syn_linear_timeouts']!,
      sendTimesMs: ladder.sendTimesMs,
      giveUpMs: ladder.giveUpMs,
    },
    attribution,
    kernel: {...kernel, corroborated: corroboration.corroborated, corroboration},
  }
}

function latenciesMs(histogram: Histogram): LatencyCount[] {
  return recordedValues(histogram).map(({valueUs, count}) => ({latencyMs: valueUs / 1000, count}))
}

/** Starts per second over the start window; for a burst, how fast it was fired. */
function achievedStartRate(run: StormRun, plan: Plan): number {
  const attempted = run.recorder.attempted
  if (attempted === 0) return 0
  // N starts on a schedule span N−1 gaps: add the last gap, so a kept schedule gives the asked rate.
  const gapMs = plan.mode === 'rate' ? 1000 / plan.rate! : plan.mode === 'waves' ? plan.intervalMs! / plan.burst! : 0
  const windowMs = run.startWindowMs + gapMs
  return windowMs > 0 ? (attempted * 1000) / windowMs : 0
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000
}
