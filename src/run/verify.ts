import {diagnose} from '../analysis/diagnose.js'
import {applySysctls, applySysctlsIn} from '../netns/isolate.js'
import type {RunFigures, StormResult, Verification} from '../results/format.js'
import {type RunRequest, runPlan} from './run-plan.js'

/** What --verify applies: the advice's numbers, never its printed text. */
export interface AdvisedSizing {
  backlog: number | null
  somaxconn: number | null
  /** the advice found that a bigger queue cannot help */
  notTheFix: boolean
}

export function runFigures(result: StormResult): RunFigures {
  const connectsPerStep: Record<string, number> = {}
  for (const step of result.attribution?.steps ?? []) connectsPerStep[String(step.retransmits)] = step.connects
  return {
    connectsPerStep,
    timedOut: result.counts.byOutcome.timeout,
    p99Us: result.latencyUs.fromIntended.p99,
    maxUs: result.latencyUs.fromIntended.max,
    // The listener's host counts its overflows: the server's namespace on two hosts.
    listenOverflows: (result.kernel?.serverEvidence?.counterDeltas ?? result.kernel?.counterDeltas)?.TcpExtListenOverflows ?? null,
  }
}

/**
 * --verify: the same plan again, against the lab listening with the advised backlog (and, inside
 * an isolated namespace, the advised somaxconn, set through netns/). Never changes the host's sysctls.
 */
export async function verifyAdvice(request: RunRequest, before: StormResult, sizing: AdvisedSizing): Promise<Verification> {
  const base = {before: runFigures(before), after: null, backlog: sizing.backlog, somaxconn: null}
  if (!request.lab) return {...base, verified: false, reason: '--verify re-runs the plan against the built-in lab; it cannot reconfigure your TARGET'}
  if (sizing.backlog === null) {
    const reason = sizing.notTheFix ? 'no backlog was proposed: a bigger queue is not the fix here' : 'no backlog change was proposed'
    return {...base, verified: false, reason}
  }
  const {somaxconn} = sizing
  if (somaxconn !== null) {
    if (!request.isolatedNetns) {
      return {...base, somaxconn, verified: false, reason: `the advised backlog needs net.core.somaxconn ${somaxconn}; connstorm changes it only inside --isolate`}
    }
    const advised = [{key: 'net.core.somaxconn', value: String(somaxconn)}]
    applySysctls(advised)
    // On two hosts the lab listens in the server's namespace: somaxconn caps its backlog there.
    if (request.serverNetns !== undefined) applySysctlsIn(request.serverNetns, advised)
  }
  const after = diagnose(await runPlan({...request, lab: {...request.lab, backlog: sizing.backlog}}), {acceptStallMs: null}).result
  const figures = runFigures(after)
  const delayed = Object.entries(figures.connectsPerStep).reduce((sum, [k, n]) => sum + (k === '0' ? 0 : n), 0) + figures.timedOut
  const verified = after.stopReason === 'completed' && delayed === 0 && figures.listenOverflows === 0
  const reason = verified
    ? `re-run with backlog ${sizing.backlog}${somaxconn === null ? '' : ` and somaxconn ${somaxconn}`}: no connect waited for a SYN retransmit and TcpExtListenOverflows stayed 0`
    : `re-run with backlog ${sizing.backlog}: ${delayed} connects still waited for SYN retransmits or timed out, TcpExtListenOverflows +${figures.listenOverflows ?? 'unknown'}${after.stopReason === 'completed' ? '' : ` (re-run ${after.stopReason})`}`
  return {...base, somaxconn, after: figures, verified, reason}
}
