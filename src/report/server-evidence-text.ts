import {describeWindow, queueAgainstBacklog} from '../analysis/server-evidence.js'
import type {ServerEvidence, StormResult} from '../results/format.js'

/**
 * The server's side of a storm, from a watch on its host (`--server-evidence`): which windows were
 * laid together and how, then what the listener and the server's counters did during the storm.
 * Empty when the result has no server evidence.
 */
export function renderServerEvidence(result: Pick<StormResult, 'kernel'>): string[] {
  const evidence = result.kernel?.serverEvidence
  if (evidence === undefined) return []
  const {listener, counterDeltas: deltas, used} = evidence
  const lines = [
    `server    seen on its own host by connstorm watch (port ${listener.port}, ${used.samples} samples every ${used.intervalMs} ms): storm ${describeWindow(evidence.stormWindow)}, watch ${describeWindow(evidence.watchWindow)}`,
    `          clocks: ${evidence.clock}`,
  ]
  const uncovered = coverage(evidence)
  if (uncovered !== null) lines.push(`          ${uncovered}`)
  lines.push(`verdict   server side: ${[queueSentence(listener), dropsSentence(listener.drops), cookiesSentence(deltas), countersSentence(deltas)].join('; ')}`)
  const somaxconn = evidence.sysctls['net.core.somaxconn']
  lines.push(`          the advice starts from this host's listener: backlog ${listener.effectiveBacklog ?? 'unknown'}, net.core.somaxconn ${somaxconn ?? 'unknown'}`)
  return lines
}

/**
 * Which half of the storm the report saw: the client's only (the listener on another host, no
 * watch of it), both in one kernel (the listener in the storm's namespace: the counters add up
 * both ends, docs/kernel.md §5), or both, each on its own host (a watch's server evidence:
 * --server-evidence, or --isolate's two namespaces).
 */
export function renderSidesSeen(result: Pick<StormResult, 'kernel'>): string[] {
  const {kernel} = result
  if (kernel === null) return ["seen      the client's side only, and not its kernel (this run could not read it): connects and their latencies"]
  if (kernel.serverEvidence !== undefined) {
    return ["seen      both sides, each on its own host: the client's kernel (this run's counters) and the server's, seen there by connstorm watch (below)"]
  }
  if (kernel.listener !== null) {
    return [
      "seen      both sides in one kernel: the listener is in this run's network namespace, so its queue and drops are seen, and the counters add up both ends (TcpExtTCPSynRetrans counts the server's SYN-ACK retransmits too)",
    ]
  }
  return [
    "seen      the client's side only: the listener was not seen from this run's network namespace (it is on another host, or the file is a merge), so its queue, drops and sysctls are not known; connstorm watch PORT on its host, then analyze or report --server-evidence, adds them",
  ]
}

function coverage(evidence: ServerEvidence): string | null {
  const {stormWindow: storm, used} = evidence
  const missing: string[] = []
  if (used.fromMs > storm.fromMs) missing.push(`its first ${used.fromMs - storm.fromMs} ms`)
  if (used.toMs < storm.toMs) missing.push(`its last ${storm.toMs - used.toMs} ms`)
  return missing.length === 0 ? null : `the watch missed ${missing.join(' and ')} of the storm: the server's figures cover the rest only`
}

function queueSentence(listener: ServerEvidence['listener']): string {
  if (listener.peakQueue === null) return 'no listener on the port during the storm'
  const peak = `peak queue ${queueAgainstBacklog(listener.peakQueue, listener.effectiveBacklog)}`
  if (listener.effectiveBacklog === null) return peak
  // The queue holds backlog + 1 (docs/kernel.md §6): at that length it is full.
  return listener.peakQueue > listener.effectiveBacklog ? `${peak} (the accept queue was full)` : `${peak} (never full)`
}

function dropsSentence(drops: number | null): string {
  return drops === null ? "the listener's own drops could not be read" : `the listener dropped ${drops} during the storm`
}

function cookiesSentence(deltas: Record<string, number>): string {
  const sent = deltas.TcpExtSyncookiesSent
  const received = deltas.TcpExtSyncookiesRecv
  if (sent === undefined) return 'SYN cookies unknown'
  return `SYN cookies sent ${sent}, received ${received ?? 'unknown'}`
}

function countersSentence(deltas: Record<string, number>): string {
  const show = (value: number | undefined) => (value === undefined ? 'unknown' : `+${value}`)
  return `ListenOverflows ${show(deltas.TcpExtListenOverflows)}, SYN-ACK retransmits ${show(deltas.TcpExtTCPSynRetrans)}`
}
