import {Worker} from 'node:worker_threads'

import type {WindowSummary} from '../analysis/server-evidence.js'
import {type ListenerWithDrops, readDiagListenersWithDrops} from '../kernel/listeners.js'
import {readStormSysctls} from '../kernel/sysctl.js'
import {compiledWorkerUrl} from '../kernel/worker-url.js'
import type {WatchFile} from '../results/format.js'
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
 * Samples the listener(s) on a port every intervalMs (queue, effective backlog, sk_drops: one
 * sock_diag dump, docs/kernel.md §11, §14) and the namespace's TCP counters, until durationMs has
 * passed or `signal` aborts, in a worker thread (watch-worker.ts). Without the addon, `ss -ltnmH`
 * is run per tick instead (a subprocess each time).
 */
export async function watchListener(options: WatchOptions): Promise<WatchFile> {
  const {port, host, intervalMs, durationMs, signal} = options
  const netlink = options.netlink !== false && readDiagListenersWithDrops() !== null
  const startedAtMs = Date.now()
  const sysctls = readStormSysctls()
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
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
