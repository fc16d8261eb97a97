import {InterruptedBeforeStartError} from '../errors.js'
import type {LabListening, LabSummary} from '../lab/lab.js'
import type {LabOptions} from '../plan/lab-options.js'
import {type LabProcess, startLabProcess} from '../lab/process.js'
import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import type {ProbeSpec} from '../plan/probe-spec.js'
import type {ClientLimits, LabInfo, Measurement} from '../results/format.js'
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

/** One storm, start to measurement: the lab (if any) is started first and always stopped after. */
export async function runPlan(request: RunRequest): Promise<Measurement> {
  let lab: LabProcess | undefined
  try {
    if (request.lab) {
      try {
        lab = await startLabProcess(request.lab, request.signal)
      } catch (error) {
        if (request.signal.aborted) throw new InterruptedBeforeStartError()
        throw error
      }
    }
    if (lab) request.afterListen?.(lab.listening)
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
    const labReport = await lab?.stop()
    return buildMeasurement(session.run, {
      tool: request.tool,
      target,
      plan: request.plan,
      lab: lab && request.lab ? describeLabRun(request.lab, lab.listening, labReport ?? null) : undefined,
      kernel: session.kernel && request.linkRate ? {...session.kernel, linkRate: request.linkRate} : session.kernel,
      probe: probeConfig,
      ...(request.clientLimits ? {clientLimits: request.clientLimits} : {}),
    })
  } finally {
    await lab?.stop()
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
