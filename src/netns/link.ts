import {spawnSync} from 'node:child_process'

import {UsageError} from '../errors.js'

/**
 * `--link-rate`: inside an `--isolate` namespace, pace the packets sent toward the lab's port.
 *
 * On plain loopback the whole handshake runs inside connect(): the client's ACK reaches the
 * listener before the next SYN is even sent, so an ACK can never find the accept queue fuller
 * than its SYN did, and "connect succeeded, then reset" (tcp_abort_on_overflow) or "connected,
 * then waited for accept" cannot be reproduced on demand (docs/kernel.md §3). A real network puts a
 * round trip between SYN and ACK. This kernel has no netem, so the round trip is made with what
 * it has: an htb class at a low rate that only the packets to the lab's port enter. Packets then
 * leave one by one, in order, so each handshake ACK waits behind the SYNs sent before it — the
 * ordering a real link produces, which lets ACKs find the queue full.
 *
 * Only ever applied to the loopback of a namespace connstorm made (it disappears with the run).
 */

/**
 * The bucket holds one small packet (a SYN or ACK is 74 bytes with its link header), so nothing
 * passes in a burst: the ordering, not only the rate, is what makes ACK-time overflow possible.
 */
const BUCKET_BYTES = 100
/** Loopback's 64 KiB MTU would make one data segment occupy the paced class for seconds. */
const LOOPBACK_MTU = 1500

/**
 * The commands that pace packets toward `port` on `device`: the namespace's loopback (one
 * namespace), or the client's end of the veth pair between two (netns/topology.ts), whose MTU is
 * already 1500.
 */
export function linkPacingCommands(port: number, rate: string, device = 'lo'): string[][] {
  return [
    ...(device === 'lo' ? [['ip', 'link', 'set', 'lo', 'mtu', String(LOOPBACK_MTU)]] : []),
    ['tc', 'qdisc', 'add', 'dev', device, 'root', 'handle', '1:', 'htb', 'default', '10'],
    ['tc', 'class', 'add', 'dev', device, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit'],
    ['tc', 'class', 'add', 'dev', device, 'parent', '1:', 'classid', '1:30', 'htb', 'rate', rate, 'burst', String(BUCKET_BYTES), 'cburst', String(BUCKET_BYTES)],
    ['tc', 'filter', 'add', 'dev', device, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dport', String(port), '0xffff', 'flowid', '1:30'],
    ['tc', 'filter', 'add', 'dev', device, 'parent', '1:', 'protocol', 'ipv6', 'prio', '2', 'u32', 'match', 'ip6', 'dport', String(port), '0xffff', 'flowid', '1:30'],
  ]
}

/**
 * Applies the pacing on `device` of this namespace (loopback, or the client's end of the veth of
 * two hosts); only ever called inside a namespace connstorm made.
 */
export function paceLinkToward(port: number, rate: string, device = 'lo'): void {
  // A second lab in the same run (--verify) listens on another port: start from a bare device.
  spawnSync('tc', ['qdisc', 'del', 'dev', device, 'root'], {stdio: 'ignore'})
  for (const command of linkPacingCommands(port, rate, device)) {
    const done = spawnSync(command[0]!, command.slice(1), {encoding: 'utf8'})
    if (done.status !== 0) {
      const why = (done.stderr || done.error?.message || `exit ${done.status}`).trim().split('\n')[0]
      throw new UsageError(`--link-rate: '${command.join(' ')}' failed: ${why}`)
    }
  }
}
