/**
 * One --workers thread: warms up, waits for the common start instant, storms its share of the
 * plan, and sends back its histograms (encoded) and counts for the main thread to add up.
 */
import {parentPort, workerData} from 'node:worker_threads'

import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import {encodeHistogram} from '../results/histogram.js'
import type {TimelineData} from '../results/timeline.js'
import {sleepUntil} from './clock.js'
import {type ConnectPath, type LoopDelayUs, type StopReason, runStorm, warmUp} from './storm.js'

export interface WorkerTask {
  plan: Plan
  target: ResolvedTarget
}

export interface WorkerReport {
  histograms: {fromIntended: string; fromActual: string; failedFromActual: string; failedEarlyFromActual: string; startLag: string}
  byOutcome: Record<string, number>
  otherErrnos: Record<string, number>
  kernelTimeouts: number
  attempted: number
  lateStarts: number
  timeline: TimelineData
  startedAt: number
  durationMs: number
  startWindowMs: number
  heldAtEnd: number
  stopReason: StopReason
  pending: number
  notStarted: number
  eventLoopDelayUs: LoopDelayUs | null
  connectPath: ConnectPath
}

const {plan, target} = workerData as WorkerTask
const abort = new AbortController()
let resolveStart: (startAt: number) => void = () => {}
const started = new Promise<number>((resolve) => (resolveStart = resolve))
parentPort!.on('message', (message: unknown) => {
  if (message === 'stop') {
    abort.abort()
    resolveStart(0)
  } else if (typeof message === 'object' && message !== null && 'startAt' in message) {
    resolveStart((message as {startAt: number}).startAt)
  }
})

// Warm up first, then say so: the main thread snapshots the kernel counters after every warm-up.
await warmUp(target.family)
parentPort!.postMessage('ready')
const startAt = await started
await sleepUntil(startAt, abort.signal)
const run = await runStorm(plan, target, {signal: abort.signal})
const {recorder} = run
parentPort!.postMessage({
  histograms: {
    fromIntended: encodeHistogram(recorder.fromIntended),
    fromActual: encodeHistogram(recorder.fromActual),
    failedFromActual: encodeHistogram(recorder.failedFromActual),
    failedEarlyFromActual: encodeHistogram(recorder.failedEarlyFromActual),
    startLag: encodeHistogram(recorder.startLag),
  },
  byOutcome: {...recorder.byOutcome},
  otherErrnos: {...recorder.otherErrnos},
  kernelTimeouts: recorder.kernelTimeouts,
  attempted: recorder.attempted,
  lateStarts: recorder.lateStarts,
  timeline: recorder.timeline.toJSON(),
  startedAt: run.startedAt.getTime(),
  durationMs: run.durationMs,
  startWindowMs: run.startWindowMs,
  heldAtEnd: run.heldAtEnd,
  stopReason: run.stopReason,
  pending: run.pending,
  notStarted: run.notStarted,
  eventLoopDelayUs: run.eventLoopDelayUs,
  connectPath: run.connectPath,
} satisfies WorkerReport)
