import type {AfterConnectMechanism, AfterConnectVerdict} from '../results/format.js'

/**
 * Which mechanism explains the waits after connect (docs/kernel.md §3, §4): once a SYN is admitted,
 * connect() returns after one round trip even when the application cannot take the connection,
 * so the wait shows as a late first response, a hang, or a reset.
 */
export interface AfterConnectFacts {
  /** connects whose application answered ≥ 200 ms after the handshake completed */
  admittedNotAccepted: number
  resetAfterConnect: number
  /** connects whose connect() itself failed with ECONNRESET: on loopback the RST answering the
   * handshake ACK arrives before the client process sees the connection complete */
  handshakeResets: number
  probeTimeouts: number
  /** the kernel's counter deltas when the listener is in our namespace; null when not visible */
  counters: {listenOverflows: number; syncookiesRecv: number; reqQFullDoCookies: number} | null
  abortOnOverflow: string
}

export function explainAfterConnect(facts: AfterConnectFacts): AfterConnectVerdict {
  const mechanisms: AfterConnectMechanism[] = []
  const parts: string[] = []
  const waited = facts.admittedNotAccepted + facts.probeTimeouts
  if (waited > 0) {
    const what = `${facts.admittedNotAccepted} connected but were answered ≥ 200 ms later${facts.probeTimeouts > 0 ? `, ${facts.probeTimeouts} never answered` : ''}`
    const {counters} = facts
    if (counters === null) {
      mechanisms.push('acceptWaitUnattributed')
      parts.push(`${what} (accept-queue wait or a slow application: the listener's counters are not visible from here)`)
    } else if (facts.abortOnOverflow === '1' && counters.syncookiesRecv === 0 && counters.listenOverflows <= facts.resetAfterConnect + facts.handshakeResets) {
      // With abort_on_overflow an overflowing request-sock ACK is reset, not dropped (only cookie
      // ACKs are still dropped silently, docs/kernel.md §9): these overflows are the resets counted
      // below, so the connections that waited sat in the accept queue until the application took them.
      mechanisms.push('slowApplication')
      parts.push(
        `${what}: they waited in the accept queue for a slow or stalled application ` +
          `(the TcpExtListenOverflows +${counters.listenOverflows} are the resets below, not dropped ACKs)`,
      )
    } else if (counters.listenOverflows > 0 || counters.syncookiesRecv > 0) {
      mechanisms.push('ackDropped')
      parts.push(
        `${what}: admitted but not accepted — handshake ACKs dropped at a full accept queue ` +
          `(TcpExtListenOverflows +${counters.listenOverflows}, TcpExtSyncookiesRecv +${counters.syncookiesRecv}, TcpExtTCPReqQFullDoCookies +${counters.reqQFullDoCookies} agree)`,
      )
    } else {
      mechanisms.push('slowApplication')
      parts.push(`${what}: a slow application (no accept-queue overflow in the counters)`)
    }
  }
  const resets = facts.resetAfterConnect + facts.handshakeResets
  if (resets > 0) {
    const where = [
      facts.handshakeResets > 0 ? `${facts.handshakeResets} during the handshake` : null,
      facts.resetAfterConnect > 0 ? `${facts.resetAfterConnect} right after a successful connect` : null,
    ]
      .filter((part) => part !== null)
      .join(' and ')
    if (facts.abortOnOverflow === '1') {
      mechanisms.push('abortOnOverflow')
      parts.push(`${resets} were reset (${where}): tcp_abort_on_overflow=1 answers a handshake ACK that finds the accept queue full with RST instead of letting the client retry`)
    } else {
      mechanisms.push('resetAfterConnect')
      parts.push(`${resets} were reset (${where}): the server reset them, or their half-open request expired`)
    }
  }
  return {mechanisms, sentence: parts.length > 0 ? parts.join('; ') : null}
}
