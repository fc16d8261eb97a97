import type {WatchSample} from '../results/format.js'

/**
 * The server's half of a storm, from a watch file (`connstorm watch`, run on the server's host):
 * what its listener and its namespace's counters did over a window of wall-clock time. Pure.
 */

/** The counters `connstorm watch` keeps: the server's side of a storm (docs/kernel.md §5, §14). On the server, TCPSynRetrans counts SYN-ACK retransmits. */
export const SERVER_COUNTERS = [
  'TcpExtListenOverflows',
  'TcpExtListenDrops',
  'TcpExtSyncookiesSent',
  'TcpExtSyncookiesRecv',
  'TcpExtSyncookiesFailed',
  'TcpExtTCPReqQFullDrop',
  'TcpExtTCPReqQFullDoCookies',
  'TcpPassiveOpens',
  'TcpExtTCPSynRetrans',
] as const

/** What samples[from..to] of a watch saw. */
export interface WindowSummary {
  /** wall clock (ms since the epoch) of the first and last sample of the window */
  fromMs: number
  toMs: number
  samples: number
  /** the longest accept queue on one matching listener; null when none listened in the window */
  peakQueue: number | null
  /** that listener's effective backlog (its queue holds backlog + 1); null when unknown */
  backlog: number | null
  /** the listeners' own drops (sk_drops) during the window; null when never read */
  drops: number | null
  /** SERVER_COUNTERS, last − first known value in the window (absent: never read) */
  counters: Record<string, number>
}

/** The counters known at sample `index`: its own, else those of the last sample before it that has them. */
export function countersAt(samples: readonly WatchSample[], index: number): Record<string, number> | null {
  for (let i = index; i >= 0; i--) {
    const counters = samples[i]!.counters
    if (counters !== undefined) return counters
  }
  return null
}

function identity(listener: {host: string; port: number; family: number}): string {
  return `${listener.family}|${listener.host}|${listener.port}`
}

/**
 * Drops between samples `from` and `to`, summed over the listeners: each listener's increments
 * from one sample to the next. A count that went down is a new socket on the same address (the
 * server restarted): its count since then is added. A listener first seen inside the window
 * counts from its first sample (what it dropped before is not known to be in the window).
 */
export function listenerDropsBetween(samples: readonly WatchSample[], from: number, to: number): number | null {
  const last = new Map<string, number>()
  let total: number | null = null
  for (let i = from; i <= to; i++) {
    for (const listener of samples[i]!.listeners) {
      if (listener.drops === null) continue
      const key = identity(listener)
      const before = last.get(key)
      if (before !== undefined) total = (total ?? 0) + (listener.drops >= before ? listener.drops - before : listener.drops)
      else total ??= 0
      last.set(key, listener.drops)
    }
  }
  return total
}

export function summariseWindow(samples: readonly WatchSample[], from: number, to: number): WindowSummary {
  let peakQueue: number | null = null
  let backlog: number | null = null
  for (let i = from; i <= to; i++) {
    for (const listener of samples[i]!.listeners) {
      if (peakQueue === null || listener.recvQ > peakQueue) {
        peakQueue = listener.recvQ
        backlog = listener.sendQ
      }
    }
  }
  const first = countersAt(samples, from)
  const lastCounters = countersAt(samples, to)
  const counters: Record<string, number> = {}
  if (first !== null && lastCounters !== null) {
    for (const name of SERVER_COUNTERS) if (Object.hasOwn(first, name) && Object.hasOwn(lastCounters, name)) counters[name] = lastCounters[name]! - first[name]!
  }
  return {fromMs: samples[from]!.t, toMs: samples[to]!.t, samples: to - from + 1, peakQueue, backlog, drops: listenerDropsBetween(samples, from, to), counters}
}

/** "33/32+1": a queue against what the listener holds, its effective backlog + 1 (docs/kernel.md §6). */
export function queueAgainstBacklog(queue: number, backlog: number | null): string {
  return backlog === null ? `${queue}/unknown` : `${queue}/${backlog}+1`
}
