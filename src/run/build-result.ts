import {type Histogram, encodeHistogram, summarize} from '../results/histogram.js'
import type {ClientLimits, CountedRetransmits, KernelObservation, LabInfo, Measurement, ProbeResult, QueueTimeline} from '../results/format.js'
import {LATE_START_THRESHOLD_US} from '../results/recorder.js'
import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import {type ProbeSpec, describeProbe} from '../plan/probe-spec.js'
import type {StormRun} from '../engine/storm.js'

/**
 * The measured part of a result: what the engine recorded and the kernel showed, with the plan
 * and the target that produced it. Nothing here is inferred: the diagnosis (ladder, attribution,
 * corroboration, after-connect mechanisms, advice, thresholds) is added by analysis/diagnose.ts.
 */
export interface ResultContext {
  tool: {name: string; version: string}
  probe?: {spec: ProbeSpec; timeoutMs: number; insecure: boolean; expect: string | null}
  target: ResolvedTarget
  plan: Plan
  lab?: LabInfo
  kernel?: KernelObservation
  clientLimits?: ClientLimits
  /** the listener's queue over the run (the storm's own sampler) */
  queueTimeline?: QueueTimeline
}

export function buildMeasurement(run: StormRun, context: ResultContext): Measurement {
  const {recorder} = run
  const {plan} = context
  const connected = recorder.byOutcome.connected
  return {
    schemaVersion: 1,
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
      // Absent when nothing was counted (no addon): the attribution is then inferred from latency.
      ...countedRetransmitsOf(recorder),
      // ECONNRESET from connect(): connected (the handshake completed), then reset (results/outcome.ts); absent when none.
      ...(recorder.connectedThenReset > 0 ? {connectedThenReset: recorder.connectedThenReset} : {}),
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
      ...(run.connectPathWhy ? {connectPathWhy: run.connectPathWhy} : {}),
    },
    durationMs: round3(run.durationMs),
    achievedRate: round3(achievedStartRate(run, plan)),
    startWindowMs: round3(run.startWindowMs),
    partial: run.stopReason !== 'completed',
    stopReason: run.stopReason,
    heldAtEnd: run.heldAtEnd,
    timeline: recorder.timeline.toJSON(),
    kernel: context.kernel ?? null,
    ...probeSection(run, context),
    ...(context.clientLimits ? {clientLimits: context.clientLimits} : {}),
    ...(context.queueTimeline ? {queueTimeline: context.queueTimeline} : {}),
  }
}

function probeSection(run: StormRun, context: ResultContext): {probe?: ProbeResult; acceptWait?: Measurement['acceptWait']} {
  const probes = context.probe ? run.probes : null
  if (!probes || !context.probe) return {}
  const wait = summarize(probes.acceptWait)
  return {
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

function countedRetransmitsOf(recorder: {countedRetransmits(): CountedRetransmits | null}): {countedRetransmits?: CountedRetransmits} {
  const counted = recorder.countedRetransmits()
  return counted ? {countedRetransmits: counted} : {}
}
