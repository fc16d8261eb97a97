/**
 * Worker thread of watch.ts: the whole sampling loop, sleeping between ticks in Atomics.wait
 * rather than on libuv timers. At 100 Hz the timer machinery of an event loop costs more than
 * the reads themselves (bench/watch-cpu.mjs); a futex wait costs a wake-up and nothing else, and
 * the parent stops it at once by writing the stop cell and notifying it.
 */
import {execFileSync} from 'node:child_process'
import {performance} from 'node:perf_hooks'
import {parentPort, workerData} from 'node:worker_threads'

import {SERVER_COUNTERS} from '../analysis/server-evidence.js'
import {readCounters} from '../kernel/counters.js'
import {type ListenerWithDrops, listenerMatches, parseSsListenerDrops, readDiagListenersWithDrops} from '../kernel/listeners.js'
import type {WatchSample} from '../results/format.js'
import {type WatchEvent, WatchBook} from './book.js'

export interface WatchTask {
  port: number
  host?: string
  intervalMs: number
  durationMs: number
  netlink: boolean
  /** wall clock of the watch's start, ms since the epoch (no sample is before it) */
  startedAtMs: number
  /** one Int32: 0 while watching, 1 once the parent asks it to stop */
  stop: SharedArrayBuffer
}

export type WatchMessage =
  | WatchEvent
  | {type: 'done'; samples: WatchSample[]; stopReason: 'duration' | 'interrupted'; cpuUs: number; wallMs: number}

if (parentPort === null) throw new Error('watch-worker.js runs only as a worker thread')
const port = parentPort
const task = workerData as WatchTask
const stop = new Int32Array(task.stop)

/** How long the counters may go unread while the listener is idle. */
const COUNTERS_IDLE_MS = 100
const SS_TIMEOUT_MS = 3000

// Netlink tells a dual-stack :: ('*') from a v6-only one, and so does ss: '::' serves IPv6 only.
const matching = (all: ListenerWithDrops[] | null) => (all ?? []).filter((listener) => listenerMatches(listener, task.port, task.host))

function read(): ListenerWithDrops[] {
  if (task.netlink) return matching(readDiagListenersWithDrops())
  try {
    // Blocking is fine here: this thread does nothing else.
    return matching(parseSsListenerDrops(execFileSync('ss', ['-ltnmH'], {encoding: 'utf8', timeout: SS_TIMEOUT_MS})))
  } catch {
    return []
  }
}

function totalDrops(listeners: readonly ListenerWithDrops[]): number | null {
  let total: number | null = null
  for (const listener of listeners) if (listener.drops !== null) total = (total ?? 0) + listener.drops
  return total
}

function pickCounters(all: Record<string, number> | null): Record<string, number> | null {
  if (all === null) return null
  const picked: Record<string, number> = {}
  for (const name of SERVER_COUNTERS) if (Object.hasOwn(all, name)) picked[name] = all[name]!
  return picked
}

function moved(before: Record<string, number>, after: Record<string, number>): boolean {
  return SERVER_COUNTERS.some((name) => before[name] !== after[name])
}

const book = new WatchBook(task.startedAtMs, (event) => port.postMessage(event satisfies WatchMessage))
let lastCounters: Record<string, number> | null = null
let countersReadAt = -Infinity
let lastDrops: number | null = null

function sample(last: boolean): void {
  const listeners = read()
  const now = performance.now()
  const readAt = Date.now()
  const drops = totalDrops(listeners)
  // The counters cost several netlink reads: read them when something happens at the listener
  // (a queue, a drop), otherwise every COUNTERS_IDLE_MS; on the first and last sample always.
  const busy = drops !== lastDrops || listeners.some((listener) => listener.recvQ > 0)
  lastDrops = drops
  let kept: Record<string, number> | undefined
  if (busy || last || now - countersReadAt >= COUNTERS_IDLE_MS) {
    countersReadAt = now
    const counters = pickCounters(readCounters())
    if (counters !== null && (lastCounters === null || last || moved(lastCounters, counters))) kept = counters
    if (counters !== null) lastCounters = counters
  }
  book.add(readAt, listeners, kept, last)
}

sample(false)
const cpuAtStart = process.cpuUsage()
const started = performance.now()
const deadline = started + task.durationMs
let stopReason: 'duration' | 'interrupted' = 'duration'
for (let tick = 1; ; tick++) {
  // Ticks on a fixed grid from the start, so a slow read does not push every later one.
  const next = Math.min(started + tick * task.intervalMs, deadline)
  const wait = next - performance.now()
  if (wait > 0) Atomics.wait(stop, 0, 0, wait)
  if (Atomics.load(stop, 0) !== 0) {
    stopReason = 'interrupted'
    break
  }
  if (next >= deadline) break
  sample(false)
}
sample(true)
const cpu = process.cpuUsage(cpuAtStart)
port.postMessage({type: 'done', samples: book.samples, stopReason, cpuUs: cpu.user + cpu.system, wallMs: Math.round(performance.now() - started)} satisfies WatchMessage)
port.close()
