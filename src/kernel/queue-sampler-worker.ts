/**
 * Worker thread of queue-sampler.ts: reads /proc/net/tcp{,6} every intervalMs and keeps the
 * largest accept queue seen on the matching listeners. All reading and parsing happens here,
 * off the load generator's event loop; the parent hears from it only at 'ready' and at the end.
 */
import {parentPort, workerData} from 'node:worker_threads'

import {listenerMatches, readProcListeners} from './listeners.js'

export interface SamplerTask {
  port: number
  host?: string
  intervalMs: number
  procNet: string
  families: readonly (4 | 6)[]
}

export type SamplerMessage = {type: 'ready'} | {type: 'result'; peakQueue: number | null; samples: number}

if (parentPort === null) throw new Error('queue-sampler-worker.js runs only as a worker thread')
const port = parentPort
const task = workerData as SamplerTask

let peakQueue: number | null = null
let samples = 0

function sample(): void {
  const listeners = readProcListeners(task.procNet, task.families)
  if (listeners === null) return
  samples++
  for (const listener of listeners) {
    // /proc cannot tell a dual-stack :: listener from a v6-only one: count it as dual-stack
    if (!listenerMatches(listener, task.port, task.host, true)) continue
    // Each listener (e.g. 127.0.0.1 and ::1, or SO_REUSEPORT siblings) has its own queue and backlog
    if (peakQueue === null || listener.queueLength > peakQueue) peakQueue = listener.queueLength
  }
}

sample()
port.postMessage({type: 'ready'} satisfies SamplerMessage)
const timer = setInterval(sample, task.intervalMs)

port.on('message', (message: unknown) => {
  if (message !== 'stop') return
  clearInterval(timer)
  sample()
  port.postMessage({type: 'result', peakQueue, samples} satisfies SamplerMessage)
  port.close() // nothing left to keep the thread alive: it ends
})
