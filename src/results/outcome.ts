/** How one connect attempt ended. Every attempt ends as exactly one of these; none is thrown. */
export const OUTCOMES = ['connected', 'timeout', 'refused', 'reset', 'addrNotAvail', 'fileLimit', 'unreachable', 'other'] as const
export type Outcome = (typeof OUTCOMES)[number]
export type FailureOutcome = Exclude<Outcome, 'connected'>

/** How the probe on a connected socket ended. `ok` is the only good one. */
export const PROBE_OUTCOMES = ['ok', 'probeTimeout', 'resetAfterConnect', 'closedBeforeReply', 'tlsError', 'unexpectedReply', 'probeError'] as const
export type ProbeOutcome = (typeof PROBE_OUTCOMES)[number]

const OUTCOME_BY_ERRNO: Record<string, FailureOutcome> = {
  // The kernel's own give-up after tcp_syn_retries (~134 s with the defaults, docs/kernel.md §2).
  ETIMEDOUT: 'timeout',
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  EADDRNOTAVAIL: 'addrNotAvail',
  EADDRINUSE: 'addrNotAvail',
  EMFILE: 'fileLimit',
  ENFILE: 'fileLimit',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
}

/** Maps a connect error's errno code to an outcome; unknown codes are `other` (the code is kept by the caller). */
export function classifyErrno(code: string | undefined): FailureOutcome {
  // An absent code reads as 'undefined', which is not in the table.
  const key = String(code)
  return Object.hasOwn(OUTCOME_BY_ERRNO, key) ? OUTCOME_BY_ERRNO[key]! : 'other'
}

export function emptyOutcomeCounts(): Record<Outcome, number> {
  return Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0])) as Record<Outcome, number>
}

/**
 * A connect that ended in ECONNRESET had completed its handshake: the kernel reports an RST that
 * answers the SYN as ECONNREFUSED, and ECONNRESET only for a socket that reached ESTABLISHED
 * (docs/kernel.md §10: 200 of 200 such sockets showed the SYN-ACK and the RST in TCP_INFO, and
 * TcpAttemptFails stayed 0). So it connected and was reset before the client saw it connect: the
 * application accepted and reset it, or tcp_abort_on_overflow answered its handshake ACK with RST
 * (docs/kernel.md §9). It is counted as connected — its latency is a connect latency like any
 * other — and, in counts.connectedThenReset, as connected, then reset.
 */
export function connectedThenReset(code: string | undefined): boolean {
  return code === 'ECONNRESET'
}
