import {writeFileSync} from 'node:fs'

import type {Advice} from '../analysis/recommend.js'
import {sysctlPath} from '../kernel/sysctl.js'
import type {StormResult} from '../results/result.js'
import {type RunRequest, runPlan} from './run-plan.js'

/** The figures compared before and after the advice was applied. */
export interface RunFigures {
  /** ladder step k → connects that needed k SYN retransmits */
  connectsPerStep: Record<string, number>
  timedOut: number
  p99Us: number
  maxUs: number
  listenOverflows: number | null
}

export interface Verification {
  /** true only when the re-run showed no SYN retransmit caused by the queue */
  verified: boolean
  reason: string
  backlog: number | null
  somaxconn: number | null
  before: RunFigures
  after: RunFigures | null
}

export function runFigures(result: StormResult): RunFigures {
  const connectsPerStep: Record<string, number> = {}
  for (const step of result.attribution?.steps ?? []) connectsPerStep[String(step.retransmits)] = step.connects
  return {
    connectsPerStep,
    timedOut: result.counts.byOutcome.timeout,
    p99Us: result.latencyUs.fromIntended.p99,
    maxUs: result.latencyUs.fromIntended.max,
    listenOverflows: result.kernel?.counterDeltas?.TcpExtListenOverflows ?? null,
  }
}

/**
 * --verify: the same plan again, against the lab listening with the advised backlog (and, inside
 * an isolated namespace, the advised somaxconn). Never changes the host's sysctls.
 */
export async function verifyAdvice(request: RunRequest, before: StormResult, advice: Advice): Promise<Verification> {
  const base = {before: runFigures(before), after: null, backlog: advice.proposedBacklog, somaxconn: null}
  if (!request.lab) return {...base, verified: false, reason: '--verify re-runs the plan against the built-in lab; it cannot reconfigure your TARGET'}
  if (advice.proposedBacklog === null) {
    const reason = advice.notTheFix ? 'no backlog was proposed: a bigger queue is not the fix here' : 'no backlog change was proposed'
    return {...base, verified: false, reason}
  }
  const somaxconnAdvice = advice.recommendations.find((recommendation) => recommendation.knob === 'net.core.somaxconn' && recommendation.proposed !== null)
  const somaxconn = somaxconnAdvice ? Number.parseInt(somaxconnAdvice.proposed!.replace(/^≥ /, ''), 10) : null
  if (somaxconn !== null) {
    if (!request.isolatedNetns) {
      return {...base, somaxconn, verified: false, reason: `the advised backlog needs net.core.somaxconn ${somaxconn}; connstorm changes it only inside --isolate`}
    }
    writeFileSync(sysctlPath('net.core.somaxconn'), String(somaxconn))
  }
  const after = await runPlan({...request, lab: {...request.lab, backlog: advice.proposedBacklog}})
  const figures = runFigures(after)
  const delayed = Object.entries(figures.connectsPerStep).reduce((sum, [k, n]) => sum + (k === '0' ? 0 : n), 0) + figures.timedOut
  const verified = after.stopReason === 'completed' && delayed === 0 && figures.listenOverflows === 0
  const reason = verified
    ? `re-run with backlog ${advice.proposedBacklog}${somaxconn === null ? '' : ` and somaxconn ${somaxconn}`}: no connect waited for a SYN retransmit and TcpExtListenOverflows stayed 0`
    : `re-run with backlog ${advice.proposedBacklog}: ${delayed} connects still waited for SYN retransmits or timed out, TcpExtListenOverflows +${figures.listenOverflows ?? 'unknown'}${after.stopReason === 'completed' ? '' : ` (re-run ${after.stopReason})`}`
  return {...base, somaxconn, after: figures, verified, reason}
}
