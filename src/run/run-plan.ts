import {SAME_CLOCK, alignServerEvidence, serverQueueTimeline, withServerEvidence} from '../analysis/server-evidence.js'
import {InterruptedBeforeStartError, LabStartError} from '../errors.js'
import type {LabListening, LabSummary} from '../lab/lab.js'
import type {LabOptions} from '../plan/lab-options.js'
import {type LabProcess, startLabProcess} from '../lab/process.js'
import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import type {ProbeSpec} from '../plan/probe-spec.js'
import type {ClientLimits, LabInfo, Measurement} from '../results/format.js'
import {type WatchProcess, startWatchProcess} from '../watch/process.js'
import {buildMeasurement} from './build-result.js'
import {type SessionOptions, runStormSession} from './session.js'

export interface RunRequest {
  plan: Plan
  /** the user's TARGET, or … */
  target?: ResolvedTarget
  /** … the lab to start for this run (as a child process) and stop after it */
  lab?: LabOptions
  /** running inside a namespace connstorm made (--isolate) */
  isolatedNetns: boolean
  /**
   * two hosts (--isolate): the server's namespace (a path for nsenter --net). The lab runs there,
   * and `connstorm watch` of its port beside it, whose samples join the result as the server's
   * evidence (kernel.serverEvidence): the listener and the server's counters are not visible from
   * the client's namespace.
   */
  serverNetns?: string
  signal: AbortSignal
  tool: {name: string; version: string}
  /** --probe on every connection after it connects */
  probe?: ProbeRequest
  /** inside --isolate only: sysctls changed after the lab listens, before the storm (e.g. somaxconn raised without a restart) */
  afterListen?: (listening: LabListening) => void
  /** inside --isolate only: the rate at which packets toward the lab were paced (--link-rate) */
  linkRate?: string
  /** what the pre-flight read, kept in the result so that the report can name a limit hit mid-run */
  clientLimits?: ClientLimits
  /** the live progress display, when there is one */
  onStart?: SessionOptions['onStart']
}

export interface ProbeRequest {
  spec: ProbeSpec
  timeoutMs: number
  insecure: boolean
  expect: string | null
}

/** The server's watch outlives the storm's own deadline by this much at most (it is stopped long before). */
const WATCH_DEADLINE_SLACK_MS = 30_000

/** One storm, start to measurement: the lab (if any) is started first and always stopped after. */
export async function runPlan(request: RunRequest): Promise<Measurement> {
  let lab: LabProcess | undefined
  let watch: WatchProcess | undefined
  const wrap = request.serverNetns === undefined ? [] : ['nsenter', `--net=${request.serverNetns}`, '--']
  try {
    if (request.lab) {
      try {
        lab = await startLabProcess(request.lab, request.signal, wrap)
      } catch (error) {
        if (request.signal.aborted) throw new InterruptedBeforeStartError()
        throw error
      }
    }
    if (lab) request.afterListen?.(lab.listening)
    // After afterListen: the watch reads the server's sysctls once, as they are during the storm.
    if (lab && request.serverNetns !== undefined) watch = await startServerWatch(lab.listening.port, wrap, request)
    const target = request.target ?? targetOfLab(lab!.listening)
    const {probe} = request
    const probeConfig = probe && probe.spec.kind !== 'none' ? {spec: probe.spec, timeoutMs: probe.timeoutMs, insecure: probe.insecure, expect: probe.expect} : undefined
    const session = await runStormSession({
      plan: request.plan,
      target,
      isolatedNetns: request.isolatedNetns,
      signal: request.signal,
      probe: probeConfig,
      onStart: request.onStart,
      ...(lab ? {beforeFirstConnect: () => lab!.go()} : {}),
    })
    // The watch first: its last sample closes the storm's window while the lab still listens.
    // A watch that failed costs the server's side only, never the storm's own measurement.
    const watched = await watch?.stop().catch((error: unknown) => {
      process.stderr.write(`connstorm storm: the watch of the server's namespace failed (${(error as Error).message.split('\n')[0]}); the result has the client's side only\n`)
      return undefined
    })
    const labReport = await lab?.stop()
    const measurement = buildMeasurement(session.run, {
      tool: request.tool,
      target,
      plan: request.plan,
      lab: lab && request.lab ? describeLabRun(request.lab, lab.listening, labReport ?? null) : undefined,
      kernel: session.kernel && request.linkRate ? {...session.kernel, linkRate: request.linkRate} : session.kernel,
      probe: probeConfig,
      ...(request.clientLimits ? {clientLimits: request.clientLimits} : {}),
      ...(session.queueTimeline ? {queueTimeline: session.queueTimeline} : {}),
    })
    if (watched === undefined) return measurement
    const evidence = alignServerEvidence(measurement, watched, {storm: 'this run', watch: "of the server's namespace"})
    return withServerEvidence(measurement, {...evidence, clock: SAME_CLOCK}, serverQueueTimeline(measurement, watched))
  } finally {
    await watch?.stop().catch(() => undefined)
    await lab?.stop()
  }
}

/** `connstorm watch PORT` in the server's namespace, once it has taken its first sample. */
async function startServerWatch(port: number, wrap: readonly string[], request: RunRequest): Promise<WatchProcess> {
  const watch = startWatchProcess(port, {wrap, maxDurationMs: request.plan.maxDurationMs + WATCH_DEADLINE_SLACK_MS})
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new InterruptedBeforeStartError())
    if (request.signal.aborted) onAbort()
    request.signal.addEventListener('abort', onAbort, {once: true})
    void watch.ready.finally(() => request.signal.removeEventListener('abort', onAbort)).catch(() => undefined)
  })
  aborted.catch(() => undefined)
  try {
    await Promise.race([watch.ready, aborted])
    return watch
  } catch (error) {
    await watch.stop().catch(() => undefined)
    if (error instanceof InterruptedBeforeStartError) throw error
    throw new LabStartError(`the watch of the lab's port in the server's namespace did not start: ${(error as Error).message}`)
  }
}

function targetOfLab(listening: LabListening): ResolvedTarget {
  return {requested: listening.address, host: listening.host, port: listening.port, family: listening.family}
}

function describeLabRun(options: LabOptions, listening: LabListening, report: Pick<LabSummary, 'accepted' | 'acceptWait'> | null): LabInfo {
  return {
    backlog: options.backlog,
    effectiveBacklog: listening.effectiveBacklog,
    somaxconn: listening.somaxconn,
    stallMs: options.stallMs,
    stallEveryMs: options.stallEveryMs,
    stallForMs: options.stallForMs,
    acceptRate: options.acceptRate,
    onAccept: options.onAccept,
    handlerDelayMs: options.handlerDelayMs,
    accepted: report?.accepted ?? null,
    // The lab's own accept-queue waits (lab/acceptor.ts); absent when it did not report.
    ...(report ? {acceptWait: report.acceptWait ?? null} : {}),
  }
}
