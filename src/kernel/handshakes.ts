import {readFileSync} from 'node:fs'
import {join} from 'node:path'

/** Handshakes under way in this network namespace at one instant (docs/kernel.md §17). */
export interface HandshakesInFlight {
  /** connects that sent a SYN and wait for its SYN-ACK (TCP_SYN_SENT): each may still retransmit its SYN */
  synSent: number
  /** request socks waiting for the handshake's ACK (TCP_SYN_RECV / NEW_SYN_RECV): each may still retransmit its SYN-ACK */
  synRecv: number
}

// The `st` column of /proc/net/tcp{,6}: the kernel's TCP_* state numbers, in hex.
const SYN_SENT = '02'
const SYN_RECV = '03'

/**
 * Counts the sockets of this namespace that are in the middle of a handshake, from /proc/net/tcp
 * and /proc/net/tcp6 (request socks are listed there as SYN_RECV). Read right after a storm's
 * counter snapshot and before its first connect, any it finds belong to other traffic, and every
 * one of them can still move TCPSynRetrans inside the storm's window though TcpActiveOpens never
 * counted it there (it was opened before). Null when neither file can be read.
 */
export function readHandshakesInFlight(procNet = '/proc/net'): HandshakesInFlight | null {
  let readable = false
  const counted: HandshakesInFlight = {synSent: 0, synRecv: 0}
  for (const file of ['tcp', 'tcp6']) {
    let text: string
    try {
      text = readFileSync(join(procNet, file), 'utf8')
    } catch {
      continue
    }
    readable = true
    for (const line of text.split('\n').slice(1)) {
      // "   0: 0100007F:5BA2 00000000:0000 02 …": the state is the fourth field.
      const state = line.trim().split(/\s+/)[3]
      if (state === SYN_SENT) counted.synSent++
      else if (state === SYN_RECV) counted.synRecv++
    }
  }
  return readable ? counted : null
}
