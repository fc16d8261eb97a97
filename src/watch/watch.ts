import {performance} from 'node:perf_hooks'

import {readCounters} from '../kernel/counters.js'
import {type ListenerWithDrops, listenerMatches, readDiagListenersWithDrops, readSsListenersWithDrops} from '../kernel/listeners.js'
import {readStormSysctls} from '../kernel/sysctl.js'
import type {WatchFile, WatchSample} from '../results/format.js'
import {SERVER_COUNTERS, type WindowSummary, summariseWindow} from '../analysis/server-evidence.js'

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
 * passed or `signal` aborts. On the main thread: a netlink read is ~0.04 ms, the counters
 * ~0.3 ms (so read every tick only while the listener is busy), and nothing else runs here. Without the addon, `ss -ltnmH` is run per tick
 * instead (a subprocess each time: a tick waits for the one before).
 */
export async function watchListener(options: WatchOptions): Promise<WatchFile> {
  const {port, host, intervalMs, durationMs, signal} = options
  const netlink = options.netlink !== false && readDiagListenersWithDrops() !== null
  // Netlink tells a dual-stack :: ('*') from a v6-only one, and so does ss: '::' serves IPv6 only.
  const matching = (all: ListenerWithDrops[] | null) => (all ?? []).filter((listener) => listenerMatches(listener, port, host))
  const read = () => matching(readDiagListenersWithDrops())
  const readAsync = async () => matching(await readSsListenersWithDrops().catch(() => null))
  const wallAtStart = performance.now()
  const startedAtMs = Date.now()
  const cpuAtStart = process.cpuUsage()
  const sysctls = readStormSysctls()
  const samples: WatchSample[] = []
  let lastCounters: Record<string, number> | null = null
  let hadListeners: boolean | null = null
  let secondFrom = 0

  let countersReadAt = -Infinity
  let lastDrops: number | null = null

  const sample = (listeners: ListenerWithDrops[], last: boolean): void => {
    const now = performance.now()
    const t = Math.max(Date.now(), samples.at(-1)?.t ?? startedAtMs)
    const drops = totalDrops(listeners)
    // The counters cost ~4 times a netlink read: read them when something happens at the
    // listener (a queue, a drop) and otherwise every COUNTERS_IDLE_MS, first and last always.
    const busy = drops !== lastDrops || listeners.some((listener) => listener.recvQ > 0)
    lastDrops = drops
    const entry: WatchSample = {t, listeners}
    if (busy || last || now - countersReadAt >= COUNTERS_IDLE_MS) {
      countersReadAt = now
      const counters = pickCounters(readCounters())
      if (counters !== null && (lastCounters === null || last || moved(lastCounters, counters))) entry.counters = counters
      if (counters !== null) lastCounters = counters
    }
    samples.push(entry)
    const has = listeners.length > 0
    if (hadListeners === null || has !== hadListeners) options.onListeners?.(has ? 'appeared' : hadListeners === null ? 'waiting' : 'gone', listeners)
    hadListeners = has
    if (t - samples[secondFrom]!.t >= 1000 || last) {
      // The sample that closes one second opens the next: its drops and counters are the base.
      options.onSecond?.(summariseWindow(samples, secondFrom, samples.length - 1))
      secondFrom = samples.length - 1
    }
  }

  sample(await read(), false)
  // setInterval, not a sleep per tick: at 100 Hz the timer machinery is a good part of the cost.
  const stopReason = await new Promise<WatchFile['stopReason']>((resolve) => {
    let reading = false
    const finish = (reason: WatchFile['stopReason']) => {
      clearInterval(timer)
      clearTimeout(limit)
      signal.removeEventListener('abort', onAbort)
      resolve(reason)
    }
    const onAbort = () => finish('interrupted')
    const timer = setInterval(() => {
      if (netlink) return sample(read(), false)
      // ss is a subprocess: a tick waits for the one before.
      if (reading) return
      reading = true
      void readAsync().then((listeners) => {
        reading = false
        sample(listeners, false)
      })
    }, intervalMs)
    const limit = setTimeout(() => finish('duration'), durationMs)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, {once: true})
  })
  sample(netlink ? read() : await readAsync(), true)
  const cpu = process.cpuUsage(cpuAtStart)
  return {
    kind: 'watch',
    schemaVersion: 1,
    tool: options.tool,
    port,
    host: host ?? null,
    intervalMs,
    startedAtMs,
    endedAtMs: samples.at(-1)!.t,
    stopReason,
    source: netlink ? 'netlink' : 'ss',
    sysctls,
    samples,
    watcher: {cpuUs: cpu.user + cpu.system, wallMs: Math.round(performance.now() - wallAtStart)},
  }
}

/** How long the counters may go unread while the listener is idle. */
const COUNTERS_IDLE_MS = 100

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
