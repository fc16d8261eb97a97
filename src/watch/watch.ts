import {performance} from 'node:perf_hooks'
import {Worker} from 'node:worker_threads'

import {SERVER_COUNTERS, type WindowSummary} from '../analysis/server-evidence.js'
import {type ListenerWithDrops, readDiagListenersWithDrops} from '../kernel/listeners.js'
import {readStormSysctls} from '../kernel/sysctl.js'
import {compiledWorkerUrl} from '../kernel/worker-url.js'
import type {WatchFile, WatchSample} from '../results/format.js'
import {type WatchEvent, WatchBook} from './book.js'
import {type NativeSampler, startNativeSampler} from './native-sampler.js'
import type {WatchMessage, WatchTask} from './watch-worker.js'

export interface WatchOptions {
  port: number
  /** an address literal; without it every listener on the port counts (listenerMatches) */
  host?: string
  intervalMs: number
  durationMs: number
  signal: AbortSignal
  tool: {name: string; version: string}
  /** once a second, what that second saw */
  onSecond?: (second: WindowSummary) => void
  /** when the port has no listener at the first read ('waiting'), when one appears, when all are gone */
  onListeners?: (change: 'waiting' | 'appeared' | 'gone', listeners: readonly ListenerWithDrops[]) => void
  /** for tests: never use netlink (the ss fallback) */
  netlink?: boolean
}

/**
 * How often the samples of the addon's sampling thread are taken into JavaScript: once a second,
 * just after each whole second from the start (DRAIN_AFTER_MS), when the sample that closes the
 * second is in — so the per-second lines come on time, and a listener coming or going is said up
 * to a second late. Ten drains a second cost Node's event loop ~0.4 % of a core here against
 * ~0.15–0.3 % for one (bench/watch-cpu.mjs, main thread), a fifth of the watch's whole cost.
 */
const DRAIN_EVERY_MS = 1000
const DRAIN_AFTER_MS = 20

/** What a watch loop hands back: its samples, why it ended, its own cost. */
interface Watched {
  samples: WatchSample[]
  stopReason: 'duration' | 'interrupted'
  cpuUs: number
  wallMs: number
}


/**
 * Samples the listener(s) on a port every intervalMs (queue, effective backlog, sk_drops: one
 * sock_diag dump, docs/kernel.md §11, §14, §18) and the namespace's TCP counters, until durationMs
 * has passed or `signal` aborts: on the addon's sampling thread (native/watch-sampler.c), which
 * JavaScript drains once a second. Without it, in a JavaScript loop on a worker thread
 * (watch-worker.ts) that runs `ss -ltnmH` per tick (a subprocess each time) where netlink cannot be
 * read either.
 */
export async function watchListener(options: WatchOptions): Promise<WatchFile> {
  const {port, host, intervalMs, durationMs, signal} = options
  const startedAtMs = Date.now()
  const sysctls = readStormSysctls()
  const sampler = options.netlink === false ? null : startNativeSampler({port, ...(host === undefined ? {} : {host}), intervalMs, durationMs, counters: SERVER_COUNTERS})
  const netlink = sampler !== null || (options.netlink !== false && readDiagListenersWithDrops() !== null)
  const emit = (event: WatchEvent) => {
    if (event.type === 'listeners') options.onListeners?.(event.change, event.listeners)
    else options.onSecond?.(event.second)
  }
  const done = sampler === null ? await watchInWorker(options, netlink, startedAtMs) : await watchNatively(sampler, options, startedAtMs, emit)
  return {
    kind: 'watch',
    schemaVersion: 1,
    tool: options.tool,
    port,
    host: host ?? null,
    intervalMs,
    startedAtMs,
    endedAtMs: done.samples.at(-1)!.t,
    stopReason: done.stopReason,
    source: netlink ? 'netlink' : 'ss',
    sysctls,
    samples: done.samples,
    watcher: {cpuUs: done.cpuUs, wallMs: done.wallMs},
  }
}

/**
 * Drains the sampling thread every DRAIN_EVERY_MS on this thread's event loop (the thread took the
 * first sample already: it is drained at once, so the first line comes without waiting); stops it
 * at once on `signal`, and at the deadline lets it take its last sample on the grid.
 */
function watchNatively(sampler: NativeSampler, options: WatchOptions, startedAtMs: number, emit: (event: WatchEvent) => void): Promise<Watched> {
  const cpuAtStart = process.cpuUsage()
  const started = performance.now()
  const book = new WatchBook(startedAtMs, emit)
  const take = (last: boolean) => {
    const drained = sampler.drain()
    for (const [index, sample] of drained.entries()) book.add(sample.t, sample.listeners, sample.counters, last && index === drained.length - 1)
  }
  take(false)
  return new Promise<Watched>((resolve, reject) => {
    let drainer: NodeJS.Timeout
    const scheduleDrain = () => {
      const elapsed = performance.now() - started
      const next = (Math.floor((elapsed - DRAIN_AFTER_MS) / DRAIN_EVERY_MS) + 1) * DRAIN_EVERY_MS + DRAIN_AFTER_MS
      drainer = setTimeout(() => {
        try {
          take(false)
          scheduleDrain()
        } catch (error) {
          finish(true, error)
        }
      }, next - elapsed)
    }
    scheduleDrain()
    const deadline = setTimeout(() => finish(false), Math.max(0, options.durationMs - (performance.now() - started)))
    const onAbort = () => finish(true)
    function finish(interrupt: boolean, failure?: unknown): void {
      clearTimeout(drainer)
      clearTimeout(deadline)
      options.signal.removeEventListener('abort', onAbort)
      try {
        const stopReason = sampler.stop(interrupt)
        if (failure !== undefined) throw failure
        take(true)
        const cpu = process.cpuUsage(cpuAtStart)
        resolve({samples: book.samples, stopReason, cpuUs: cpu.user + cpu.system, wallMs: Math.round(performance.now() - started)})
      } catch (error) {
        reject(error)
      }
    }
    if (options.signal.aborted) finish(true)
    else options.signal.addEventListener('abort', onAbort, {once: true})
  })
}

/** The JavaScript loop on a worker thread (watch-worker.ts): without the addon's sampling thread. */
async function watchInWorker(options: WatchOptions, netlink: boolean, startedAtMs: number): Promise<Watched> {
  const {port, host, intervalMs, durationMs, signal} = options
  const stop = new SharedArrayBuffer(4)
  const task: WatchTask = {port, ...(host === undefined ? {} : {host}), intervalMs, durationMs, netlink, startedAtMs, stop}
  // execArgv []: some of the parent's flags break a worker (see kernel/queue-sampler.ts).
  const worker = new Worker(compiledWorkerUrl(import.meta.url, 'watch', 'watch-worker'), {workerData: task, execArgv: []})
  const onAbort = () => {
    const cell = new Int32Array(stop)
    Atomics.store(cell, 0, 1)
    Atomics.notify(cell, 0)
  }
  if (signal.aborted) onAbort()
  else signal.addEventListener('abort', onAbort, {once: true})
  try {
    const done = await new Promise<Extract<WatchMessage, {type: 'done'}>>((resolve, reject) => {
      worker.on('message', (message: WatchMessage) => {
        if (message.type === 'listeners') options.onListeners?.(message.change, message.listeners)
        else if (message.type === 'second') options.onSecond?.(message.second)
        else resolve(message)
      })
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`watch worker exited (code ${code}) before reporting`)))
    })
    return {samples: done.samples, stopReason: done.stopReason, cpuUs: done.cpuUs, wallMs: done.wallMs}
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
