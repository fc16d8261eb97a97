/**
 * One --workers thread: warms up, waits for the common start instant, storms its share of the
 * plan, and sends back its histograms (encoded) and counts for the main thread to add up.
 */
import {parentPort, workerData} from 'node:worker_threads'

import type {Plan} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import type {ProbeSnapshot} from '../probe/recorder.js'
import type {RecorderSnapshot} from '../results/recorder.js'
import {type ProbeConfig, type StormRun, runStorm, warmUp} from './storm.js'

export interface WorkerTask {
  plan: Plan
  target: ResolvedTarget
  /** --probe send:/banner: each worker's native loop probes its own share */
  probe?: ProbeConfig
}

/** A worker's run as it posts it: the recorders as snapshots, the start instant as epoch ms. */
export type WorkerReport = Omit<StormRun, 'recorder' | 'probes' | 'startedAt' | 'workers'> & {
  recorder: RecorderSnapshot
  probes: ProbeSnapshot | null
  startedAt: number
}

const {plan, target, probe} = workerData as WorkerTask
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
// No workers of its own. The loop is set up before the instant, the clock starts at it.
const {recorder, probes, startedAt: runStartedAt, workers: _workers, ...figures} = await runStorm(plan, target, {signal: abort.signal, startAt, ...(probe ? {probe} : {})})
parentPort!.postMessage({...figures, recorder: recorder.snapshot(), probes: probes?.snapshot() ?? null, startedAt: runStartedAt.getTime()} satisfies WorkerReport)
