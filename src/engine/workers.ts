import {Worker} from 'node:worker_threads'

import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import {ProbeRecorder} from '../probe/recorder.js'
import {StormRecorder} from '../results/recorder.js'
import type {StopReason} from '../results/format.js'
import type {ProbeConfig, StormRun} from './storm.js'
import type {WorkerReport, WorkerTask} from './storm-worker.js'

/** How far ahead of now the workers' common start is set, once all have warmed up. */
const START_LEAD_MS = 50

/** Worker w's share of a plan (itself perhaps a --shard): every W-th of the plan's connects, same timing. */
export function workerPlan(plan: Plan, worker: number, workers: number): Plan | null {
  const index = plan.shard?.index ?? 1
  const count = plan.shard?.count ?? 1
  const totalConnects = plan.shard?.totalConnects ?? plan.connects
  const shardIndex = index + count * worker
  const shardCount = count * workers
  if (shardIndex > totalConnects) return null
  const connects = Math.floor((totalConnects - shardIndex) / shardCount) + 1
  return {...plan, connects, concurrency: Math.max(1, Math.ceil(plan.concurrency / workers)), shard: {index: shardIndex, count: shardCount, totalConnects}}
}

/**
 * --workers N: N worker threads, each storming its share of the plan from one common start
 * instant, their histograms added (HDR add, never averaged) and counts summed into one run. With
 * a --probe (send: or banner: src/cli/storm-options.ts refuses the others), each probes its share.
 */
export async function runStormWorkers(
  plan: Plan,
  target: ResolvedTarget,
  workers: number,
  {signal, beforeStart, probe}: {signal?: AbortSignal; beforeStart?: () => void; probe?: ProbeConfig} = {},
): Promise<StormRun> {
  const threads: Worker[] = []
  const ready: Promise<void>[] = []
  const reports: Promise<WorkerReport>[] = []
  for (let worker = 0; worker < workers; worker++) {
    const share = workerPlan(plan, worker, workers)
    if (share === null) continue
    const thread = new Worker(new URL('storm-worker.js', import.meta.url), {workerData: {plan: share, target, ...(probe ? {probe} : {})} satisfies WorkerTask})
    threads.push(thread)
    ready.push(new Promise((resolve) => thread.once('message', () => resolve())))
    reports.push(
      new Promise((resolve, reject) => {
        thread.on('message', (message: WorkerReport | 'ready') => {
          if (message !== 'ready') resolve(message)
        })
        thread.once('error', reject)
        thread.once('exit', (code) => reject(new Error(`storm worker exited (${code}) without a report`)))
      }),
    )
  }
  const onAbort = (): void => {
    for (const thread of threads) thread.postMessage('stop')
  }
  signal?.addEventListener('abort', onAbort, {once: true})
  try {
    await Promise.all(ready)
    beforeStart?.()
    // One instant for every thread: the plan's --start-at, or just ahead of now.
    const startAt = plan.startAt ?? Date.now() + START_LEAD_MS
    for (const thread of threads) thread.postMessage({startAt})
    return combine(await Promise.all(reports))
  } finally {
    signal?.removeEventListener('abort', onAbort)
    await Promise.all(threads.map((thread) => thread.terminate()))
  }
}

function combine(reports: readonly WorkerReport[]): StormRun {
  const recorder = new StormRecorder()
  for (const report of reports) recorder.add(report.recorder)
  const probeSnapshots = reports.map((report) => report.probes).filter((probes) => probes !== null)
  let probes: ProbeRecorder | null = null
  if (probeSnapshots.length > 0) {
    probes = new ProbeRecorder()
    for (const snapshot of probeSnapshots) probes.add(snapshot)
  }
  const reasons = reports.map((report) => report.stopReason)
  const loops = reports.map((report) => report.eventLoopDelayUs).filter((loop) => loop !== null)
  const stopReason: StopReason = reasons.includes('interrupted') ? 'interrupted' : reasons.includes('deadline') ? 'deadline' : 'completed'
  return {
    recorder,
    probes,
    startedAt: new Date(Math.min(...reports.map((report) => report.startedAt))),
    durationMs: Math.max(...reports.map((report) => report.durationMs)),
    startWindowMs: Math.max(...reports.map((report) => report.startWindowMs)),
    heldAtEnd: reports.reduce((sum, report) => sum + report.heldAtEnd, 0),
    stopReason,
    pending: reports.reduce((sum, report) => sum + report.pending, 0),
    notStarted: reports.reduce((sum, report) => sum + report.notStarted, 0),
    // Each thread has its own event loop: the worst one is what could have distorted its share.
    eventLoopDelayUs:
      loops.length === 0 ? null : {p50: Math.max(...loops.map((loop) => loop.p50)), p99: Math.max(...loops.map((loop) => loop.p99)), max: Math.max(...loops.map((loop) => loop.max))},
    workers: reports.map(({recorder: {attempted, lateStarts}, eventLoopDelayUs, connectPath}) => ({attempted, lateStarts, eventLoopDelayUs, connectPath})),
    // Every thread runs the same plan on the same build, so they differ only where one could not
    // start its native loop and used bare handles: then the run as a whole did too, in part.
    connectPath: reports.every((report) => report.connectPath === reports[0]!.connectPath) ? reports[0]!.connectPath : 'handle',
    ...(reports.every((report) => report.connectPath === reports[0]!.connectPath) && reports[0]!.connectPathWhy ? {connectPathWhy: reports[0]!.connectPathWhy} : {}),
  }
}
