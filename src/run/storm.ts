import {isIP} from 'node:net'

import {type Diagnosis, diagnose} from '../analysis/diagnose.js'
import {preflightProblems} from '../analysis/limits.js'
import {UsageError} from '../errors.js'
import {readPreflightFacts} from '../kernel/preflight.js'
import type {LabListening} from '../lab/lab.js'
import {addSourceAddresses, applySysctls, applySysctlsIn, parseInsideNetns, prepareIsolatedNamespace, stopWhenParentGoes} from '../netns/isolate.js'
import {paceLinkToward} from '../netns/link.js'
import {SERVER_ADDRESS, SERVER_ADDRESS6} from '../netns/topology.js'
import type {SysctlOverride} from '../plan/isolation-options.js'
import type {LabOptions} from '../plan/lab-options.js'
import type {Plan} from '../plan/plan.js'
import type {Threshold} from '../plan/thresholds.js'
import {isLoopbackAddress, parseTarget, resolveTarget} from '../plan/target.js'
import type {ServerProfile} from '../analysis/servers.js'
import {type ProbeRequest, type RunRequest, runPlan} from './run-plan.js'
import {verifyAdvice} from './verify.js'

/** What a storm is asked to do, checked (cli/storm-options.ts builds it from the flags). */
export interface StormRequest {
  target: string | undefined
  plan: Plan
  lab: LabOptions | undefined
  probe: ProbeRequest
  sysctls: SysctlOverride[]
  sysctlsAfterListen: SysctlOverride[]
  linkRate: string | undefined
  thresholds: Threshold[]
  server: ServerProfile | undefined
  acceptStallMs: number | null
  verify: boolean
  /** inside the namespace --isolate made: the parent's namespace */
  insideNetns: string | undefined
  force: boolean
}

export interface StormHooks {
  signal: AbortSignal
  tool: {name: string; version: string}
  onStart?: RunRequest['onStart']
}

/**
 * One storm from request to diagnosis: the namespace prepared (inside --isolate), the target
 * resolved, the pre-flight checked, the plan run, the run diagnosed and, with --verify, the
 * advice re-run. Throws InterruptedBeforeStartError when stopped before anything was measured.
 */
export async function runStorm(request: StormRequest, hooks: StormHooks): Promise<Diagnosis> {
  const inside = request.insideNetns === undefined ? undefined : parseInsideNetns(request.insideNetns)
  const serverNetns = inside?.serverNetns
  // Each side reads its own sysctls (the client its SYN ladder and ports, the server its queues
  // and cookies): the overrides are written in both namespaces.
  const applyEverywhere = (overrides: StormRequest['sysctls']): void => {
    applySysctls(overrides)
    if (serverNetns !== undefined) applySysctlsIn(serverNetns, overrides)
  }
  if (inside !== undefined) prepareIsolatedNamespace(inside.parent, request.sysctls)
  if (serverNetns !== undefined) stopWhenParentGoes()
  if (serverNetns !== undefined) applySysctlsIn(serverNetns, request.sysctls)
  if (inside?.device !== undefined && request.plan.sources !== undefined) addSourceAddresses(inside.device, request.plan.sources)
  // On two hosts the lab listens on the server's address of its family (netns/topology.ts).
  const lab = serverNetns !== undefined && request.lab ? {...request.lab, host: isIP(request.lab.host) === 6 ? SERVER_ADDRESS6 : SERVER_ADDRESS} : request.lab
  const target = request.target === undefined ? undefined : await resolveTarget(parseTarget(request.target))
  checkSourceFamily(request.plan.sources, target?.family ?? (isIP(lab!.host) === 6 ? 6 : 4))
  const facts = readPreflightFacts()
  const problems = preflightProblems(request.plan, facts, target === undefined || isLoopbackAddress(target.host))
  if (problems.length > 0 && !request.force) {
    throw new UsageError(`pre-flight: ${problems.join(' | ')} (--force runs anyway; the limits then show as fileLimit/addrNotAvail outcomes)`)
  }
  const {sysctlsAfterListen, linkRate} = request
  const runRequest: RunRequest = {
    ...(hooks.onStart ? {onStart: hooks.onStart} : {}),
    plan: request.plan,
    target,
    lab,
    probe: request.probe,
    ...(sysctlsAfterListen.length > 0 || linkRate !== undefined
      ? {
          afterListen: (listening: LabListening) => {
            applyEverywhere(sysctlsAfterListen)
            // On two hosts the client's end of the veth, where its packets leave: as a real link.
            if (linkRate !== undefined) paceLinkToward(listening.port, linkRate, inside?.device ?? 'lo')
          },
        }
      : {}),
    ...(linkRate === undefined ? {} : {linkRate}),
    isolatedNetns: inside !== undefined,
    ...(serverNetns === undefined ? {} : {serverNetns}),
    clientLimits: {openFiles: facts.openFiles, portRange: facts.portRange, problems},
    signal: hooks.signal,
    tool: hooks.tool,
  }
  const inputs = {server: request.server, acceptStallMs: request.acceptStallMs, thresholds: request.thresholds}
  const measured = await runPlan(runRequest)
  const diagnosis = diagnose(measured, inputs)
  if (!request.verify || diagnosis.result.stopReason !== 'completed') return diagnosis
  const {advice} = diagnosis
  const verification = await verifyAdvice(runRequest, diagnosis.result, {backlog: advice.proposedBacklog, somaxconn: advice.proposedSomaxconn, notTheFix: advice.notTheFix !== null})
  // A second measurement, not an input of the diagnosis: it joins the result as it is.
  return {...diagnosis, result: {...diagnosis.result, verification}}
}

/** A connect bound to an IPv4 address cannot reach an IPv6 target, nor the other way round. */
function checkSourceFamily(sources: readonly string[] | undefined, targetFamily: 4 | 6): void {
  if (sources === undefined || isIP(sources[0]!) === targetFamily) return
  throw new UsageError(`--source: ${sources[0]} is an IPv${isIP(sources[0]!)} address but the target is IPv${targetFamily}; give source addresses of the target's family`)
}
