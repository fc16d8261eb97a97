import {type WindowSummary, queueAgainstBacklog} from '../analysis/server-evidence.js'
import type {ListenerWithDrops} from '../kernel/listeners.js'
import {formatAddress} from '../plan/target.js'

/** What `connstorm watch` prints: one line per second on a terminal, and a line when the listeners change. */

function describeListeners(listeners: readonly ListenerWithDrops[]): string {
  return listeners.map((listener) => `${formatAddress(listener.host, listener.port)} (backlog ${listener.sendQ ?? 'unknown'})`).join(', ')
}

export function listenerChangeLine(change: 'waiting' | 'appeared' | 'gone', port: number, listeners: readonly ListenerWithDrops[]): string {
  if (change === 'waiting') return `no listener on port ${port} yet: watching until one appears`
  if (change === 'gone') return `no listener on port ${port} any more: watching until one appears again`
  return `listener on port ${port}: ${describeListeners(listeners)}`
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19)
}

function perSecond(count: number | undefined | null, spanMs: number): string {
  if (count === undefined || count === null) return 'unknown'
  return spanMs <= 0 ? String(count) : String(Math.round((count * 1000) / spanMs))
}

/** "14:02:03 queue peak 33/32+1  drops/s 52  cookies/s 0" */
export function secondLine(second: WindowSummary): string {
  const span = second.toMs - second.fromMs
  const queue = second.peakQueue === null ? 'no listener' : `queue peak ${queueAgainstBacklog(second.peakQueue, second.backlog)}`
  return `${clock(second.toMs)} ${queue}  drops/s ${perSecond(second.drops, span)}  cookies/s ${perSecond(second.counters.TcpExtSyncookiesSent, span)}`
}

/** The last line: what the whole watch saw. */
export function summaryLine(whole: WindowSummary, out: string | undefined): string {
  const seconds = ((whole.toMs - whole.fromMs) / 1000).toFixed(1)
  const queue = whole.peakQueue === null ? 'no listener seen' : `peak queue ${queueAgainstBacklog(whole.peakQueue, whole.backlog)}`
  const drops = whole.drops === null ? 'listener drops unknown' : `${whole.drops} dropped by the listener`
  const cookies = whole.counters.TcpExtSyncookiesSent === undefined ? 'cookies unknown' : `${whole.counters.TcpExtSyncookiesSent} SYN cookies sent`
  return `watched ${seconds} s, ${whole.samples} samples: ${queue}, ${drops}, ${cookies}${out === undefined ? '' : `; saved to ${out}`}`
}
