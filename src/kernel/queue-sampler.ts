import {Worker} from 'node:worker_threads'

import type {QueueTimeline} from '../results/format.js'
import type {SamplerMessage, SamplerTask, WallQueuePoint} from './queue-sampler-worker.js'
import {busyQueueLength} from './queue-sampling-policy.js'
import {compiledWorkerUrl} from './worker-url.js'

export interface QueueSamplerOptions {
  port: number
  /** an address literal; without it every listener on the port counts (see listenerMatches) */
  host?: string
  /**
   * 40 ms = 25 ticks/s (≥ 20 Hz). A tick reads the queue while it is at least half full or the
   * drop and cookie counters move, else every 200 ms (queue-sampling-policy.ts); a queue that
   * fills and drains between two reads is missed.
   */
  intervalMs?: number
  /** for tests: a directory holding tcp and tcp6 files */
  procNet?: string
  /**
   * Which of /proc/net/tcp (4) and tcp6 (6) hold the listener: each read makes the kernel walk
   * every listening-hash bucket (a quarter of the storm's kernel time at 40 Hz, measured by the
   * bench), so reading only the one file that matters halves that.
   */
  families?: readonly (4 | 6)[]
  /** the listener's effective backlog when known (ss): a queue at half of backlog + 1 is read on every tick */
  effectiveBacklog?: number | null
}

/**
 * Points a queue timeline keeps at most (the result schema's maxItems): a queue that changes on
 * every 40 ms read fills them in 200 s; a rate run that long keeps its first 200 s.
 */
export const QUEUE_TIMELINE_MAX_POINTS = 5000

export interface QueueSamplerResult {
  /** the longest accept queue seen on one matching listener; null when none was ever seen */
  peakQueue: number | null
  /** reads of /proc/net/tcp{,6} that succeeded */
  samples: number
  intervalMs: number
  /** [wall-clock ms, queue, drops]: the first read, each change, the last read (queueTimelineSince makes it the result's) */
  points: WallQueuePoint[]
  truncated: boolean
}

/**
 * The sampler's points as the result keeps them (QueueTimeline): times in ms since the storm's
 * start, the first point the last read at or before it (the queue as the storm found it), drops
 * counted from there. Null when no read saw the listener. Pure.
 */
export function queueTimelineSince(sampled: Pick<QueueSamplerResult, 'points' | 'truncated' | 'intervalMs'>, startMs: number, effectiveBacklog: number | null): QueueTimeline | null {
  let first = 0
  for (let i = 0; i < sampled.points.length && sampled.points[i]![0] <= startMs; i++) first = i
  const kept = sampled.points.slice(first)
  if (kept.length === 0) return null
  const baseDrops = kept[0]![2]
  const points = kept.map(([t, queue, drops]): [number, number, number | null] => [
    Math.round((t - startMs) * 10) / 10,
    queue,
    // Fewer than at the start: another socket took the port; its count is not this listener's.
    drops === null || baseDrops === null || drops < baseDrops ? null : drops - baseDrops,
  ])
  return {source: 'storm', effectiveBacklog, intervalMs: sampled.intervalMs, points, ...(sampled.truncated ? {truncated: true} : {})}
}

export interface QueueSampler {
  /** resolves after the first sample (start the storm after it); rejects if the worker failed first */
  readonly ready: Promise<void>
  /** ends the worker (it is gone when this resolves) and returns what it saw */
  stop(): Promise<QueueSamplerResult>
}


/**
 * Samples the accept-queue length of the listener(s) on port (and host) from /proc/net/tcp{,6}
 * in a worker thread, so the load generator's event loop does none of the reading or parsing.
 * The worker is unref'd once it has sampled: a sampler never stopped does not keep the process alive.
 */
export function startQueueSampler({port, host, intervalMs = 40, procNet = '/proc/net', families = [4, 6], effectiveBacklog = null}: QueueSamplerOptions): QueueSampler {
  if (!(Number.isFinite(intervalMs) && intervalMs > 0)) throw new RangeError(`queue sampler: intervalMs must be > 0, got ${intervalMs}`)
  const busyQueue = busyQueueLength(effectiveBacklog)
  const maxPoints = QUEUE_TIMELINE_MAX_POINTS
  const task: SamplerTask = host === undefined ? {port, intervalMs, procNet, families, busyQueue, maxPoints} : {port, host, intervalMs, procNet, families, busyQueue, maxPoints}
  // execArgv []: the worker only reads files, and some of the parent's flags break a worker
  // (Node 20 refuses to start one under `node --input-type=module -e …`).
  const worker = new Worker(compiledWorkerUrl(import.meta.url, 'kernel', 'queue-sampler-worker'), {workerData: task, execArgv: []})

  let stopping: Promise<QueueSamplerResult> | undefined
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  let markReady: () => void = () => {}
  let failReady: (error: unknown) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve
    failReady = reject
  })
  const outcome = new Promise<QueueSamplerResult>((resolve, reject) => {
    worker.on('message', (message: SamplerMessage) => {
      if (message.type === 'result') return resolve({peakQueue: message.peakQueue, samples: message.samples, intervalMs, points: message.points, truncated: message.truncated})
      // Referenced until now so that `await ready` alone keeps the process up; from here on a
      // sampler nobody stops must not keep the process alive.
      if (!stopping) worker.unref()
      markReady()
    })
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`queue sampler worker exited (code ${code}) before reporting`)))
  })
  outcome.catch(failReady) // a worker that died before its first sample fails `ready` too
  // Nobody may ever await these: a failed worker must not become an unhandled rejection.
  ready.catch(() => {})

  return {
    ready,
    stop() {
      stopping ??= (async () => {
        worker.ref() // keep the process up until the worker has answered
        worker.postMessage('stop')
        try {
          return await outcome
        } finally {
          await exited
        }
      })()
      return stopping
    },
  }
}
