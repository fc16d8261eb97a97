import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {STORM_SYSCTLS, type StormSysctl} from '../results/sysctls.js'

const PROC_SYS = '/proc/sys'

/**
 * Reads one sysctl of the network namespace this process runs in (e.g. "net.core.somaxconn").
 * null means unknown: another OS, no /proc, no permission. Never a guessed default.
 */
export function readSysctl(name: string): string | null {
  try {
    return readFileSync(sysctlPath(name), 'utf8').trim()
  } catch {
    return null
  }
}

export function readSysctlInt(name: string): number | null {
  const text = readSysctl(name)
  if (text === null || !/^-?\d+$/.test(text)) return null
  return Number(text)
}

/**
 * The backlog the kernel actually uses for listen(backlog): capped by net.core.somaxconn as it
 * is at listen() time (docs/kernel.md §6). null when somaxconn cannot be read.
 */
export function effectiveBacklog(requested: number, somaxconn: number | null): number | null {
  return somaxconn === null ? null : Math.min(requested, somaxconn)
}


/** One line each, for reports; the net.ipv4.tcp_* ones apply to IPv6 TCP as well. */
export const SYSCTL_MEANINGS: Record<StormSysctl, string> = {
  'net.core.somaxconn': 'upper limit on a listen() backlog, taken when listen() is called',
  'net.ipv4.tcp_max_syn_backlog': 'per-listener limit on half-open (SYN_RECV) connections before SYN cookies or drops',
  'net.ipv4.tcp_syncookies': 'SYN cookies: 0 off, 1 when the SYN queue overflows, 2 always',
  'net.ipv4.tcp_abort_on_overflow': '1: answer a handshake ACK with RST when the accept queue is full; 0: drop it and let the client retransmit',
  'net.ipv4.tcp_syn_retries': 'how many times connect() retransmits an unanswered SYN before ETIMEDOUT',
  'net.ipv4.tcp_syn_linear_timeouts': 'how many of those SYN retransmits use a linear 1 s timeout before exponential backoff',
  'net.ipv4.tcp_synack_retries': 'how many times a listener retransmits an unacknowledged SYN-ACK',
  'net.ipv4.ip_local_port_range': 'ephemeral source ports a connect() may use (first last)',
  'net.ipv4.tcp_tw_reuse': 'reuse of TIME_WAIT ports for new outgoing connects: 0 off, 1 on, 2 loopback only',
  'net.ipv4.tcp_max_tw_buckets': 'most TIME_WAIT sockets kept at once; beyond it they are destroyed early',
}

/** The file behind a sysctl name, e.g. net.core.somaxconn → /proc/sys/net/core/somaxconn. */
export function sysctlPath(name: string, root: string = PROC_SYS): string {
  return join(root, ...name.split('.'))
}

/** The storm sysctls of this process's network namespace (see readSysctlsFrom). */
export function readStormSysctls(): Record<StormSysctl, string | 'unknown'> {
  return readSysctlsFrom(PROC_SYS)
}

/**
 * The storm sysctls under `root` (a /proc/sys tree), as the kernel prints them with whitespace
 * runs (the tab in ip_local_port_range) turned into one space; 'unknown' when unreadable.
 * One inference only: kernels before 6.5 have no tcp_syn_linear_timeouts and behave as if it
 * were 0, so an absent file beside a present net/ipv4 directory reads '0'.
 */
export function readSysctlsFrom(root: string): Record<StormSysctl, string | 'unknown'> {
  const values = {} as Record<StormSysctl, string | 'unknown'>
  for (const name of STORM_SYSCTLS) values[name] = readValue(root, name)
  return values
}

function readValue(root: string, name: StormSysctl): string {
  try {
    return readFileSync(sysctlPath(name, root), 'utf8').trim().replace(/\s+/g, ' ')
  } catch (error) {
    const absent = (error as NodeJS.ErrnoException).code === 'ENOENT'
    if (absent && name === 'net.ipv4.tcp_syn_linear_timeouts' && isDirectory(join(root, 'net', 'ipv4'))) return '0'
    return 'unknown'
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
