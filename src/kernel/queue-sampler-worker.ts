/**
 * Worker thread of queue-sampler.ts: every intervalMs reads the queue-pressure counters and, when
 * queue-sampling-policy.ts says so, the listeners' queues (netlink, else /proc/net/tcp{,6}), and keeps the largest accept queue seen on
 * the matching listeners. All reading and parsing happens here, off the load generator's event
 * loop; the parent hears from it only at 'ready' and at the end.
 */
import {performance} from 'node:perf_hooks'
import {parentPort, workerData} from 'node:worker_threads'

import {readCounters} from './counters.js'
import {listenerMatches, readDiagListeners, readProcListeners} from './listeners.js'
import {type SamplingState, pressureKey, shouldReadQueue} from './queue-sampling-policy.js'

export interface SamplerTask {
  port: number
  host?: string
  intervalMs: number
  procNet: string
  families: readonly (4 | 6)[]
  /** from this queue length on, every tick reads the queue (queue-sampling-policy.ts) */
  busyQueue: number
}

export type SamplerMessage = {type: 'ready'} | {type: 'result'; peakQueue: number | null; samples: number}

if (parentPort === null) throw new Error('queue-sampler-worker.js runs only as a worker thread')
const port = parentPort
const task = workerData as SamplerTask

const DEFAULT_PROC_NET = '/proc/net'
/**
 * netlink where the addon is built and the real /proc is meant (tests hand in a fake procNet):
 * cheap enough (~0.04 ms) to read the queue on every tick, so no pressure counters are needed.
 */
const netlink = task.procNet === DEFAULT_PROC_NET && readDiagListeners(task.families) !== null

let peakQueue: number | null = null
let samples = 0
const state: SamplingState = {lastPressure: null, lastQueue: null, lastReadAt: 0}

function sample(): void {
  state.lastReadAt = performance.now()
  const listeners = netlink ? readDiagListeners(task.families) : readProcListeners(task.procNet, task.families)
  if (listeners === null) return
  samples++
  state.lastQueue = null
  for (const listener of listeners) {
    // /proc cannot tell a dual-stack :: listener from a v6-only one: count it as dual-stack there.
    // Netlink can (a dual-stack :: reads '*'), so its '::' serves IPv6 only.
    if (!listenerMatches(listener, task.port, task.host, !netlink)) continue
    // Each listener (e.g. 127.0.0.1 and ::1, or SO_REUSEPORT siblings) has its own queue and backlog
    if (peakQueue === null || listener.queueLength > peakQueue) peakQueue = listener.queueLength
    if (state.lastQueue === null || listener.queueLength > state.lastQueue) state.lastQueue = listener.queueLength
  }
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
  sample()
  port.postMessage({type: 'result', peakQueue, samples} satisfies SamplerMessage)
  port.close() // nothing left to keep the thread alive: it ends
})
