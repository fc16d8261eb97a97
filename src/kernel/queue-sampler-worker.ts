/**
 * Worker thread of queue-sampler.ts: every intervalMs reads the queue-pressure counters and, when
 * queue-sampling-policy.ts says so, the listeners' queues (netlink, else /proc/net/tcp{,6}), and keeps the largest accept queue seen on
 * the matching listeners. All reading and parsing happens here, off the load generator's event
 * loop; the parent hears from it only at 'ready' and at the end.
 */
import {performance} from 'node:perf_hooks'
import {parentPort, workerData} from 'node:worker_threads'

import {readCounters} from './counters.js'
import {listenerMatches, readDiagListenersWithDrops, readProcListeners} from './listeners.js'
import {type SamplingState, pressureKey, shouldReadQueue} from './queue-sampling-policy.js'

export interface SamplerTask {
  port: number
  host?: string
  intervalMs: number
  procNet: string
  families: readonly (4 | 6)[]
  /** from this queue length on, every tick reads the queue (queue-sampling-policy.ts) */
  busyQueue: number
  /** points of the queue timeline kept at most (queue-sampler.ts QUEUE_TIMELINE_MAX_POINTS) */
  maxPoints: number
}

/** [wall-clock ms, queue, drops (null: unread)]: the first read, each change, the last read */
export type WallQueuePoint = [number, number, number | null]

export type SamplerMessage = {type: 'ready'} | {type: 'result'; peakQueue: number | null; samples: number; points: WallQueuePoint[]; truncated: boolean}

if (parentPort === null) throw new Error('queue-sampler-worker.js runs only as a worker thread')
const port = parentPort
const task = workerData as SamplerTask

const DEFAULT_PROC_NET = '/proc/net'
/**
 * netlink where the addon is built and the real /proc is meant (tests hand in a fake procNet):
 * cheap enough (~0.04 ms) to read the queue on every tick, so no pressure counters are needed.
 */
const netlink = task.procNet === DEFAULT_PROC_NET && readDiagListenersWithDrops(task.families) !== null

let peakQueue: number | null = null
let samples = 0
const state: SamplingState = {lastPressure: null, lastQueue: null, lastReadAt: 0}
/** The queue over time (not only its peak), so that a report can show how long it stayed full. */
const points: WallQueuePoint[] = []
let truncated = false

/** One read: the matching listeners' longest queue and their drops summed (netlink only; /proc has no drops). */
function readQueue(): {queue: number | null; drops: number | null} | null {
  const listeners = netlink
    ? readDiagListenersWithDrops(task.families)?.map(({recvQ, drops, ...listener}) => ({...listener, queueLength: recvQ, drops}))
    : readProcListeners(task.procNet, task.families)?.map((listener) => ({...listener, drops: null}))
  if (listeners === null || listeners === undefined) return null
  let queue: number | null = null
  let drops: number | null = 0
  for (const listener of listeners) {
    // /proc cannot tell a dual-stack :: listener from a v6-only one: count it as dual-stack there.
    // Netlink can (a dual-stack :: reads '*'), so its '::' serves IPv6 only.
    if (!listenerMatches(listener, task.port, task.host, !netlink)) continue
    // Each listener (e.g. 127.0.0.1 and ::1, or SO_REUSEPORT siblings) has its own queue and backlog
    if (queue === null || listener.queueLength > queue) queue = listener.queueLength
    drops = drops === null || listener.drops === null ? null : drops + listener.drops
  }
  return {queue, drops: queue === null ? null : drops}
}

function sample(last = false): void {
  state.lastReadAt = performance.now()
  const read = readQueue()
  if (read === null) return
  samples++
  state.lastQueue = read.queue
  if (read.queue === null) return
  if (peakQueue === null || read.queue > peakQueue) peakQueue = read.queue
  keepPoint([Date.now(), read.queue, read.drops], last)
}

/** A point where the queue or the drops changed, and the last read (the end of the timeline). */
function keepPoint(point: WallQueuePoint, last: boolean): void {
  const previous = points.at(-1)
  if (previous !== undefined && previous[1] === point[1] && previous[2] === point[2] && !last) return
  if (points.length >= task.maxPoints) {
    truncated = true
    return
  }
  points.push(point)
}

/** Reads the queue on every tick over netlink, else when the policy says so (queue-sampling-policy.ts: cheap when nothing happens). */
function tick(): void {
  if (netlink) {
    sample()
    return
  }
  // Only netstat: the pressure counters live there, and snmp would double the cost of a tick.
  const pressure = pressureKey(readCounters(task.procNet, ['netstat']))
  const read = shouldReadQueue(state, pressure, performance.now(), task.busyQueue)
  state.lastPressure = pressure
  if (read) sample()
}

tick()
port.postMessage({type: 'ready'} satisfies SamplerMessage)
const timer = setInterval(tick, task.intervalMs)

port.on('message', (message: unknown) => {
  if (message !== 'stop') return
  clearInterval(timer)
  sample(true)
  port.postMessage({type: 'result', peakQueue, samples, points, truncated} satisfies SamplerMessage)
  port.close() // nothing left to keep the thread alive: it ends
})
