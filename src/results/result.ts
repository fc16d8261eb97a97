import type {Attribution} from '../analysis/attribution.js'
import {type Corroboration, type KernelObservation, corroborate, ladderFromSysctls} from '../analysis/diagnosis.js'
import {attributeToSteps} from '../analysis/attribution.js'
import type {Advice, Recommendation} from '../analysis/recommend.js'
import type {ThresholdOutcome} from '../analysis/thresholds.js'
import type {ClientLimits} from '../analysis/limits.js'
import type {TimelineData} from './timeline.js'
import type {ConnectPath, LoopDelayUs, StopReason, StormRun, WorkerSelf} from '../engine/storm.js'
import type {Verification} from '../engine/verify.js'
import {type AfterConnectVerdict, explainAfterConnect} from '../analysis/accept-wait.js'
import type {ProbeOutcome} from '../probe/run.js'
import {type ProbeSpec, describeProbe} from '../probe/spec.js'
import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import {type LatencySummary, encodeHistogram, latencyCountsMs, summarize} from './histogram.js'
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
  handlerDelayMs: number
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
    shard?: Plan['shard']
    startAt?: string
    workers?: number
    sources?: string[]
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
  histograms: {fromIntended: string; fromActual: string; failedFromActual: string; failedEarlyFromActual: string}
  self: {
    /** null when the run was too short for a sample */
    eventLoopDelayUs: LoopDelayUs | null
    lateStarts: number
    lateStartThresholdUs: number
    startLagUs: LatencySummary
    /** --start-at: how late the first connect's clock started after the asked instant, ms */
    startSkewMs?: number
    /** --workers N > 1: each thread's starts, late starts and event-loop delay, in thread order */
    workers?: WorkerSelf[]
    /** which code made the connects (absent in results from before it was recorded) */
    connectPath?: ConnectPath
  }
  durationMs: number
  /** connect starts per second over the start window (for a burst: how fast it was fired) */
  achievedRate: number
  startWindowMs: number
  partial: boolean
  stopReason: StopReason
  /** connects completed and failed per time bin since the start (bounded: ≤ 600 bins) */
  timeline?: TimelineData
  /** --close hold: connections still open when the run ended */
  heldAtEnd: number
  /** the SYN retransmit schedule of the kernel that ran the storm (null: its sysctls were unknown) */
  ladder: {synRetries: string; linearTimeouts: string; sendTimesMs: number[]; giveUpMs: number} | null
  /** connected connects put on ladder steps from their latency from actual start */
  attribution: Attribution | null
  /** what the kernel showed; null when the storm ran without looking (e.g. another OS) */
  kernel: (KernelObservation & {corroborated: boolean | null; corroboration: Corroboration | null}) | null
  /** --probe: what happened on each connection after it connected */
  probe?: ProbeResult
  /** --probe: connects admitted by the kernel but answered ≥ 200 ms later */
  acceptWait?: {admittedNotAccepted: number; delayUs: {p50: number; p99: number; max: number}}
  /** which mechanism explains what happened after the SYN got through: accept wait, resets … */
  afterConnect?: AfterConnectVerdict
  /** sizing advice (src/analysis/recommend.ts), as printed at the end of the run */
  recommendations?: Recommendation[]
  advice?: Omit<Advice, 'recommendations'> & {inputs: AdviceInputs}
  /** --verify: the same plan re-run with the advice applied */
  verification?: Verification
  /** --threshold: each expression, whether it held, and the measured value */
  thresholds?: ThresholdOutcome[]
  /** what the pre-flight read on this machine (open files, port range) and any problems --force overrode */
  clientLimits?: ClientLimits
}

export interface ProbeResult {
  kind: ProbeSpec['kind']
  description: string
  timeoutMs: number
  /** certificate verification was off: said loudly in the report */
  insecure: boolean
  expect: string | null
  outcomes: Record<ProbeOutcome, number>
  httpStatus: Record<string, number>
  errorCodes: Record<string, number>
  pending: number
  latencyUs: {firstByte: LatencySummary; tlsHandshake: LatencySummary; httpHeaders: LatencySummary; responseAfterConnect: LatencySummary}
  /** HdrHistogram compressed base64, µs; firstByte, tlsHandshake and httpHeaders from the intended start */
  histograms: {firstByteUs: string; tlsHandshakeUs: string; httpHeadersUs: string; responseAfterConnectUs: string}
}

/** What the advice was computed with, so that `analyze` can compute it again. */
export interface AdviceInputs {
  acceptStallMs: number | null
  server: string | null
}

export interface ResultContext {
  tool: {name: string; version: string}
  probe?: {spec: ProbeSpec; timeoutMs: number; insecure: boolean; expect: string | null}
  target: ResolvedTarget
  plan: Plan
  lab?: LabInfo
  kernel?: KernelObservation
  clientLimits?: ClientLimits
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
      ...(plan.shard ? {shard: plan.shard} : {}),
      ...(plan.startAt === undefined ? {} : {startAt: new Date(plan.startAt).toISOString()}),
      ...(plan.workers === undefined ? {} : {workers: plan.workers}),
      ...(plan.sources === undefined ? {} : {sources: plan.sources}),
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
      failedEarlyFromActual: encodeHistogram(recorder.failedEarlyFromActual),
    },
    self: {
      eventLoopDelayUs: run.eventLoopDelayUs,
      lateStarts: recorder.lateStarts,
      lateStartThresholdUs: LATE_START_THRESHOLD_US,
      startLagUs: summarize(recorder.startLag),
      ...(plan.startAt === undefined ? {} : {startSkewMs: run.startedAt.getTime() - plan.startAt}),
      ...(run.workers === undefined ? {} : {workers: run.workers}),
      connectPath: run.connectPath,
    },
    durationMs: round3(run.durationMs),
    achievedRate: round3(achievedStartRate(run, plan)),
    startWindowMs: round3(run.startWindowMs),
    partial: run.stopReason !== 'completed',
    stopReason: run.stopReason,
    heldAtEnd: run.heldAtEnd,
    timeline: recorder.timeline.toJSON(),
    ...diagnose(run, plan, context.kernel),
    ...probeSection(run, context),
    ...(context.clientLimits ? {clientLimits: context.clientLimits} : {}),
  }
}

function probeSection(run: StormRun, context: ResultContext): Pick<StormResult, 'probe' | 'acceptWait' | 'afterConnect'> {
  const probes = context.probe ? run.probes : null
  const kernel = context.kernel
  const deltas = kernel?.counterDeltas ?? null
  // The server's counters are only the listener's when it is in our namespace (a local target).
  const counters =
    deltas && kernel?.listener
      ? {listenOverflows: deltas.TcpExtListenOverflows ?? 0, syncookiesRecv: deltas.TcpExtSyncookiesRecv ?? 0, reqQFullDoCookies: deltas.TcpExtTCPReqQFullDoCookies ?? 0}
      : null
  const afterConnect = explainAfterConnect({
    admittedNotAccepted: probes?.admittedNotAccepted ?? 0,
    resetAfterConnect: probes?.outcomes.resetAfterConnect ?? 0,
    handshakeResets: run.recorder.byOutcome.reset,
    probeTimeouts: probes?.outcomes.probeTimeout ?? 0,
    counters,
    abortOnOverflow: kernel?.sysctls['net.ipv4.tcp_abort_on_overflow'] ?? 'unknown',
  })
  if (!probes || !context.probe) return {afterConnect}
  const wait = summarize(probes.acceptWait)
  return {
    afterConnect,
    probe: {
      kind: context.probe.spec.kind,
      description: describeProbe(context.probe.spec),
      timeoutMs: context.probe.timeoutMs,
      insecure: context.probe.insecure,
      expect: context.probe.expect,
      outcomes: {...probes.outcomes},
      httpStatus: {...probes.httpStatus},
      errorCodes: {...probes.errorCodes},
      pending: probes.pending,
      latencyUs: {
        firstByte: summarize(probes.firstByte),
        tlsHandshake: summarize(probes.tlsHandshake),
        httpHeaders: summarize(probes.httpHeaders),
        responseAfterConnect: summarize(probes.responseAfterConnect),
      },
      histograms: {
        firstByteUs: encodeHistogram(probes.firstByte),
        tlsHandshakeUs: encodeHistogram(probes.tlsHandshake),
        httpHeadersUs: encodeHistogram(probes.httpHeaders),
        responseAfterConnectUs: encodeHistogram(probes.responseAfterConnect),
      },
    },
    acceptWait: {admittedNotAccepted: probes.admittedNotAccepted, delayUs: {p50: wait.p50, p99: wait.p99, max: wait.max}},
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
  const attribution = attributeToSteps({
    ladder,
    connected: latencyCountsMs(recorder.fromActual),
    timedOut,
    timeoutMs: plan.timeoutMs,
    failedEarly: latencyCountsMs(recorder.failedEarlyFromActual),
  })
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
