import type {Attribution, Corroboration, KernelObservation} from '../results/format.js'
import type {SynLadder} from '../results/format.js'
import {synLadder} from './ladder.js'

/** The ladder for the sysctls read during the run; null when they were unknown (then nothing is attributed). */
export function ladderFromSysctls(sysctls: Record<string, string>): SynLadder | null {
  const retries = Number(sysctls['net.ipv4.tcp_syn_retries'])
  const linear = Number(sysctls['net.ipv4.tcp_syn_linear_timeouts'])
  if (!Number.isInteger(retries) || retries < 1 || !Number.isInteger(linear) || linear < 0) return null
  return synLadder({synRetries: retries, linearTimeouts: linear})
}

export interface ConnectCounts {
  attempted: number
  pending: number
  /** failures that never sent a SYN (EADDRNOTAVAIL, EMFILE): they do not move TcpActiveOpens */
  withoutSyn: number
}

/**
 * Checks Σ k·n_k against the kernel's own counts. The namespace's TCPSynRetrans delta is exact on
 * this kernel when the storm is alone in its namespace (docs/kernel.md §5): a verdict from it is
 * given only when TcpActiveOpens moved by exactly the connects that sent a SYN. The target
 * listener's own drops (its sk_drops, docs/kernel.md §14) are this listener's alone, so they also
 * hold on a shared host: every retransmitted SYN follows one SYN the listener dropped, each counted
 * once, so drops ≥ Σ k·n; what is over is handshake ACKs that met the full accept queue and
 * segments its request socks refused. When the counters give a verdict, both must agree; when they
 * cannot (shared, unread, connects in flight), the listener's drops give it alone.
 */
export function corroborate(attribution: Attribution, kernel: KernelObservation, counts: ConnectCounts): Corroboration {
  const fromCounters = corroborateFromCounters(attribution, kernel, counts)
  const drops = kernel.listener?.drops
  if (typeof drops !== 'number') return fromCounters
  const expected = attribution.expectedSynRetrans
  const agrees = drops >= expected
  // A connect that gave up (or was cut off) had its last SYN dropped too, with no retransmit after
  // it: part of what the drops hold beyond Σ k·n, though not part of the floor (on a slow link
  // that last SYN may still have been on its way).
  const unansweredLastSyns = attribution.timedOut.reduce((sum, group) => sum + group.connects, 0) + counts.pending
  const lastSyns = Math.min(unansweredLastSyns, Math.max(0, drops - expected))
  const listenerReason = agrees
    ? drops === expected
      ? `the listener's own drops agree: ${drops} = ${expected} retransmitted SYNs, one drop each`
      : `the listener's own drops agree: ${drops} ≥ ${expected} retransmitted SYNs, one drop each; the other ${drops - expected} are ` +
        (lastSyns === 0
          ? 'handshake ACKs that met its full accept queue (and segments its request socks refused)'
          : lastSyns === drops - expected
            ? 'the last SYNs of connects that gave up or were cut off'
            : `${lastSyns} last SYNs of connects that gave up or were cut off and ${drops - expected - lastSyns} handshake ACKs that met its full accept queue (and segments its request socks refused)`)
    : `the listener dropped ${drops} packets, fewer than the ${expected} retransmitted SYNs: some SYNs were lost before they reached it`
  const extra = unansweredLastSyns > 0 ? {unansweredLastSyns} : {}
  if (fromCounters.corroborated !== null) {
    const corroborated = fromCounters.corroborated && agrees
    return {...fromCounters, corroborated, reason: fromCounters.corroborated && !agrees ? listenerReason : fromCounters.reason, listenerDrops: drops, ...extra}
  }
  return {corroborated: agrees, expected, observed: fromCounters.observed, reason: listenerReason, listenerDrops: drops, countersReason: fromCounters.reason, ...extra}
}

function corroborateFromCounters(attribution: Attribution, kernel: KernelObservation, counts: ConnectCounts): Corroboration {
  const expected = attribution.expectedSynRetrans
  // No counters at all reads as no TCPSynRetrans: one check covers both.
  const deltas = kernel.counterDeltas ?? {}
  const observed = deltas.TcpExtTCPSynRetrans ?? null
  if (observed === null) return {corroborated: null, expected, observed, reason: 'kernel counters could not be read'}
  const synSent = counts.attempted - counts.withoutSyn
  const activeOpens = deltas.TcpActiveOpens
  if (activeOpens !== undefined && activeOpens !== synSent) {
    return {
      corroborated: null,
      expected,
      observed,
      reason: `counters are shared with other traffic (TcpActiveOpens +${activeOpens} for ${synSent} connects): shown without a verdict`,
    }
  }
  // Handshakes of other traffic under way when the window opened were opened before it, so
  // TcpActiveOpens cannot show them, yet their SYN (or SYN-ACK) retransmits land inside it
  // (docs/kernel.md §17).
  const others = kernel.handshakesAtStart
  if (others && others.synSent + others.synRecv > 0) {
    return {
      corroborated: null,
      expected,
      observed,
      reason: `counters are shared with other traffic (${describeHandshakes(others)} in flight when the storm began): shown without a verdict`,
    }
  }
  if (counts.pending > 0) return {corroborated: null, expected, observed, reason: `${counts.pending} connects were still in flight when the run stopped`}
  if (attribution.expectedIsLowerBound) {
    return {corroborated: observed >= expected, expected, observed, reason: 'a timeout fell inside a retransmit window, so the expected count is a lower bound'}
  }
  return {corroborated: observed === expected, expected, observed, reason: observed === expected ? 'kernel counters agree' : 'kernel counters disagree'}
}

function describeHandshakes({synSent, synRecv}: {synSent: number; synRecv: number}): string {
  const parts = [
    ...(synSent > 0 ? [`${synSent} other connect${synSent === 1 ? '' : 's'}`] : []),
    ...(synRecv > 0 ? [`${synRecv} half-open request${synRecv === 1 ? '' : 's'}`] : []),
  ]
  return parts.join(' and ')
}
