import {execFile} from 'node:child_process'
import {closeSync, openSync, readSync} from 'node:fs'
import {isIP} from 'node:net'
import {endianness} from 'node:os'
import {join} from 'node:path'

import {nativeAddon} from '../native/addon.js'
import type {ListenerInfo, ListenerSource} from '../results/format.js'

/** A row of `ss -ltnH`: ss always knows the backlog. */
export interface SsListener extends ListenerInfo {
  sendQ: number
}

/** A LISTEN row of /proc/net/tcp or /proc/net/tcp6: the queue length, but no backlog. */
export interface ProcListener {
  host: string
  port: number
  family: 4 | 6
  queueLength: number
}

/**
 * Listeners found for a port, and where they were read from: 'netlink' (sock_diag through the
 * native addon), else 'ss' (the same dump, from a subprocess), else 'proc' (no backlog).
 */
export interface ListenerLookup {
  listeners: ListenerInfo[]
  source: ListenerSource
}


const SS_TIMEOUT_MS = 3000
const PROC_LISTEN_STATE = '0A'

/**
 * Parses `ss -ltnH` (or `ss -ltn`: the header line is skipped):
 * "LISTEN 3 5 127.0.0.1:48763 0.0.0.0:*". Local addresses look like 0.0.0.0:80, [::1]:8080,
 * [::ffff:127.0.0.1]:80, *:80 (an IPv6 socket on :: without IPV6_V6ONLY) or 127.0.0.53%lo:53.
 */
export function parseSsListening(text: string): SsListener[] {
  const listeners: SsListener[] = []
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields[0] === 'tcp') fields.shift() // a Netid column, when ss lists several protocols
    const [state, recvQ, sendQ, local] = fields
    if (state !== 'LISTEN' || recvQ === undefined || sendQ === undefined || local === undefined) continue
    const address = splitSsAddress(local)
    if (address === null || !/^\d+$/.test(recvQ) || !/^\d+$/.test(sendQ)) continue
    listeners.push({...address, recvQ: Number(recvQ), sendQ: Number(sendQ)})
  }
  return listeners
}

function splitSsAddress(local: string): {host: string; port: number; family: 4 | 6} | null {
  const colon = local.lastIndexOf(':')
  const port = Number(local.slice(colon + 1))
  if (colon <= 0 || !Number.isInteger(port)) return null
  // "%iface" follows the address (after the bracket for IPv6): [fe80::1]%eth0:22, 127.0.0.53%lo:53
  const host = local.slice(0, colon).replace(/%[^\]]*$/, '').replace(/^\[(.*)\]$/, '$1')
  if (host === '*') return {host, port, family: 6}
  const family = isIP(host)
  if (family !== 4 && family !== 6) return null
  return {host, port, family}
}

/**
 * Parses the LISTEN (st 0A) rows of /proc/net/tcp (family 4) or /proc/net/tcp6 (family 6).
 * Addresses are hex, one 32-bit word at a time in host byte order (so byte-reversed on x86:
 * 0100007F is 127.0.0.1); the port is plain hex. rx_queue is the accept-queue length, tx_queue
 * is 0, and the backlog is not shown (docs/kernel.md §6).
 */
export function parseProcNetTcpListeners(text: string, family: 4 | 6, littleEndian: boolean = endianness() === 'LE'): ProcListener[] {
  const listeners: ProcListener[] = []
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx_queue:rx_queue …
    const fields = line.trim().split(/\s+/)
    const [, local, , state, queues] = fields
    if (state !== PROC_LISTEN_STATE || local === undefined || queues === undefined) continue
    const [addressHex, portHex] = local.split(':')
    const rxQueue = queues.split(':')[1]
    if (addressHex === undefined || portHex === undefined || rxQueue === undefined) continue
    const host = decodeProcAddress(addressHex, family, littleEndian)
    if (host === null) continue
    listeners.push({host, port: parseInt(portHex, 16), family, queueLength: parseInt(rxQueue, 16)})
  }
  return listeners
}

/** 0100007F → 127.0.0.1; 00000000000000000000000001000000 → ::1 (each 8-hex-digit word is one u32). */
export function decodeProcAddress(hex: string, family: 4 | 6, littleEndian: boolean = endianness() === 'LE'): string | null {
  const words = family === 4 ? 1 : 4
  if (!new RegExp(`^[0-9A-Fa-f]{${words * 8}}$`).test(hex)) return null
  const bytes: number[] = []
  for (let w = 0; w < words; w++) {
    const word = hex.slice(w * 8, w * 8 + 8)
    const wordBytes = [0, 2, 4, 6].map((i) => parseInt(word.slice(i, i + 2), 16))
    bytes.push(...(littleEndian ? wordBytes.reverse() : wordBytes))
  }
  if (family === 4) return bytes.join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16))
  return canonicalIpv6(groups.join(':'))
}

/**
 * RFC 5952 text for an IPv6 literal (WHATWG URL serialises it that way), with an IPv4-mapped
 * address written the way ss and Node write it: ::ffff:127.0.0.1.
 */
function canonicalIpv6(address: string): string {
  const serialised = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(serialised)
  if (!mapped) return serialised
  const high = parseInt(mapped[1]!, 16)
  const low = parseInt(mapped[2]!, 16)
  return `::ffff:${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}

/** An address in the form matching compares: IPv4-mapped IPv6 → IPv4, IPv6 canonical, names as given. */
function comparableHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '')
  if (isIP(bare) !== 6) return bare
  const canonical = canonicalIpv6(bare)
  return canonical.startsWith('::ffff:') && isIP(canonical.slice(7)) === 4 ? canonical.slice(7) : canonical
}

/**
 * Whether a listener serves connects to host:port. A listener on 0.0.0.0 or :: serves any host
 * of its family, '*' (dual-stack ::) any host at all, and ::ffff:a.b.c.d is a.b.c.d.
 * `v6AnyServesIpv4`: /proc/net/tcp6 cannot tell a dual-stack :: from an IPV6_V6ONLY one; Linux
 * binds dual-stack by default (net.ipv6.bindv6only=0, and Node's listen() does), so the /proc
 * reader counts :: as serving IPv4 too, while ss prints the dual-stack case as '*'.
 */
export function listenerMatches(
  listener: {host: string; port: number},
  port: number,
  host?: string,
  v6AnyServesIpv4 = false,
): boolean {
  if (listener.port !== port) return false
  if (host === undefined || listener.host === '*') return true
  const bound = comparableHost(listener.host)
  const wanted = comparableHost(host)
  const wantedFamily = isIP(wanted)
  if (bound === '0.0.0.0') return wantedFamily === 4
  if (bound === '::') return wantedFamily === 6 || (v6AnyServesIpv4 && wantedFamily === 4)
  return bound === wanted
}

/**
 * The LISTEN sockets of /proc/net/tcp and /proc/net/tcp6 under `procNet`; null when neither file
 * can be read (another OS). Reads only as far as the listeners: the kernel prints every
 * listening socket before the first connection, and during a storm the connection rows are
 * most of the file (generating them costs kernel CPU on every sample).
 */
export function readProcListeners(procNet = '/proc/net', families: readonly (4 | 6)[] = [4, 6]): ProcListener[] | null {
  let listeners: ProcListener[] | null = null
  for (const [file, family] of [['tcp', 4], ['tcp6', 6]] as const) {
    if (!families.includes(family)) continue
    const text = readListenSection(join(procNet, file))
    if (text !== null) listeners = [...(listeners ?? []), ...parseProcNetTcpListeners(text, family)]
  }
  return listeners
}

/**
 * The same LISTEN sockets read over netlink sock_diag (the native addon, as ss does): ~0.04 ms a
 * read where /proc/net/tcp costs 2–3.5 ms of kernel time even when stopped after the listeners,
 * which a queue sampler pays 5–25 times a second beside the storm. Null without the addon.
 */
export function readDiagListeners(families: readonly (4 | 6)[] = [4, 6]): ProcListener[] | null {
  return readDiagListenerInfo(families)?.map(({host, port, family, recvQ}) => ({host, port, family, queueLength: recvQ})) ?? null
}

/**
 * The LISTEN sockets with their effective backlog, over netlink sock_diag, as `ss -ltnH` shows
 * them (a dual-stack listener on :: is '*'). Null without the addon or when sock_diag is refused.
 */
export function readDiagListenerInfo(families: readonly (4 | 6)[] = [4, 6]): ListenerInfo[] | null {
  return readDiagListenersWithDrops(families)?.map(({drops: _drops, ...listener}) => listener) ?? null
}

/** A listener as the readers name it: the bound host as ss shows it ('*' for a dual-stack ::), port, family. */
export type ListenerIdentity = Pick<ListenerInfo, 'host' | 'port' | 'family'>

export function sameListener(a: ListenerIdentity, b: ListenerIdentity): boolean {
  return a.host === b.host && a.port === b.port && a.family === b.family
}

/**
 * The listener's own drop count (its sk_drops, docs/kernel.md §14) over netlink sock_diag: every SYN
 * it dropped at a full queue and every handshake ACK that found the accept queue full, this
 * listener's only, where TcpExtListenDrops adds up the whole namespace. Several sockets on the same
 * address and port (an SO_REUSEPORT group, docs/kernel.md §16) share the port's connects, so their
 * drops are added. Synchronous (~0.04 ms), so it can be read right beside the counters' snapshot.
 * undefined: netlink cannot be used here (ask readListenerDrops, which falls back to ss); null: the
 * listener is gone or the kernel did not say.
 */
export function readDiagListenerDrops(listener: ListenerIdentity): number | null | undefined {
  const members = readDiagGroupDrops(listener)
  if (members === undefined) return undefined
  return sumOrNull(members)
}

/**
 * The drops of each socket listening on the listener's address and port, in the kernel's dump
 * order (the order of its listening hash, unchanged while no socket joins or leaves the group);
 * [] when none listens; undefined without netlink.
 */
export function readDiagGroupDrops(listener: ListenerIdentity): (number | null)[] | undefined {
  return readDiagListenersWithDrops([listener.family])
    ?.filter((row) => sameListener(row, listener))
    .map((row) => row.drops) ?? undefined
}

/** The sum, or null when there is nothing to add or one of them is unknown. */
function sumOrNull(values: readonly (number | null)[]): number | null {
  if (values.length === 0 || values.some((value) => value === null)) return null
  return values.reduce<number>((sum, value) => sum + value!, 0)
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null
}

/**
 * Parses `ss -ltnmH`: each LISTEN row is followed (on its own line, or the same one) by
 * "skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d264)", whose d<N> is the listener's sk_drops.
 * drops is null when a row has no skmem or no d field (an old ss).
 */
export function parseSsListenerDrops(text: string): (SsListener & {drops: number | null})[] {
  const listeners: (SsListener & {drops: number | null})[] = []
  for (const line of text.split('\n')) {
    const [row] = parseSsListening(line)
    if (row !== undefined) listeners.push({...row, drops: null})
    const drops = /skmem:\([^)]*\bd(\d+)/.exec(line)
    const last = listeners.at(-1)
    if (drops !== null && last !== undefined && last.drops === null) last.drops = Number(drops[1])
  }
  return listeners
}

/**
 * The listener's drop count (its SO_REUSEPORT group's, added): over netlink, else from `ss -ltnmH`; null when neither can say
 * (the /proc reader has no such column). `netlink` and `ssCommand` exist for tests.
 */
export async function readListenerDrops(
  listener: ListenerIdentity,
  {netlink = true, ssCommand = 'ss'}: {netlink?: boolean; ssCommand?: string} = {},
): Promise<number | null> {
  const overNetlink = netlink ? readDiagListenerDrops(listener) : undefined
  if (overNetlink !== undefined) return overNetlink
  try {
    const output = await runSs(ssCommand, ['-ltnmH'])
    return sumOrNull(parseSsListenerDrops(output).filter((row) => sameListener(row, listener)).map((row) => row.drops))
  } catch {
    return null
  }
}

// A data row whose st column is not 0A: the listeners are over.
const NON_LISTEN_ROW = /^\s*\d+: [0-9A-F]+:[0-9A-F]{4} [0-9A-F]+:[0-9A-F]{4} (?!0A)[0-9A-F]{2} /m

function readListenSection(path: string): string | null {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null
  }
  try {
    const chunk = Buffer.allocUnsafe(64 * 1024)
    let text = ''
    for (;;) {
      const length = readSync(fd, chunk, 0, chunk.length, null)
      if (length === 0) return text
      const added = chunk.toString('latin1', 0, length)
      text += added
      // Stop early, dropping the unfinished last line (it is not a listener).
      if (NON_LISTEN_ROW.test(added)) return text.slice(0, text.lastIndexOf('\n') + 1)
    }
  } catch {
    return null
  } finally {
    closeSync(fd)
  }
}

/**
 * The listeners on `port` (and `host`, when given; an address literal, see listenerMatches) with
 * each backlog: over netlink when the addon is built, else from `ss -ltnH` (the same kernel dump,
 * a subprocess away); from /proc/net/tcp{,6} with sendQ null when neither works. Rejects when
 * nothing can be read, rather than report "no listener" for "unknown".
 * `netlink`, `ssCommand` and `procNet` exist for tests.
 */
export async function findListeners(
  port: number,
  host?: string,
  {netlink = true, ssCommand = 'ss', procNet = '/proc/net'}: {netlink?: boolean; ssCommand?: string; procNet?: string} = {},
): Promise<ListenerLookup> {
  let fromNetlink: ListenerInfo[] | null = null
  try {
    fromNetlink = netlink ? readDiagListenerInfo() : null
  } catch {
    // The addon could not build its answer (out of memory, say): ss can still be asked.
  }
  if (fromNetlink !== null) return {listeners: fromNetlink.filter((listener) => listenerMatches(listener, port, host)), source: 'netlink'}
  let ssFailure: string
  try {
    const output = await runSs(ssCommand)
    return {listeners: parseSsListening(output).filter((listener) => listenerMatches(listener, port, host)), source: 'ss'}
  } catch (error) {
    ssFailure = (error as NodeJS.ErrnoException).code?.toString() ?? (error as Error).message
  }
  const fromProc = readProcListeners(procNet)
  if (fromProc === null) throw new Error(`cannot list TCP listeners: ${ssCommand} -ltnH failed (${ssFailure}) and ${procNet}/tcp{,6} are unreadable`)
  const listeners = fromProc
    .filter((listener) => listenerMatches(listener, port, host, true))
    .map(({host, port, family, queueLength}): ListenerInfo => ({host, port, family, recvQ: queueLength, sendQ: null}))
  return {listeners, source: 'proc'}
}

function runSs(command: string, args: string[] = ['-ltnH']): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {timeout: SS_TIMEOUT_MS, encoding: 'utf8'}, (error, stdout) => (error ? reject(error) : resolve(stdout)))
  })
}

/** A listener with its own drop count (sk_drops, docs/kernel.md §14): null when the reader could not say. */
export type ListenerWithDrops = ListenerInfo & {drops: number | null}

/**
 * Every LISTEN socket with its queue, effective backlog and drops from one sock_diag dump per
 * family (what `connstorm watch` reads on each tick: ~0.04 ms, no subprocess). Null without the
 * addon or when sock_diag is refused (then `ss -ltnmH`, parseSsListenerDrops).
 */
export function readDiagListenersWithDrops(families: readonly (4 | 6)[] = [4, 6]): ListenerWithDrops[] | null {
  if (nativeAddon === null) return null
  const listeners: ListenerWithDrops[] = []
  for (const family of families) {
    let rows: ReturnType<typeof nativeAddon.listenQueues>
    try {
      rows = nativeAddon.listenQueues(family)
    } catch {
      return null
    }
    if (rows === null) return null
    for (const {host, port, queueLength, backlog, v6only, drops} of rows) {
      // An addon built before it reported drops has no such field: null, not 0.
      listeners.push({host: family === 6 && host === '::' && !v6only ? '*' : host, port, family, recvQ: queueLength, sendQ: backlog, drops: numberOrNull(drops)})
    }
  }
  return listeners
}

/**
 * A listener row of the addon (listenQueues, the watch's sampling thread) as the readers name it:
 * a dual-stack listener on :: (not IPV6_V6ONLY) is '*', as ss prints it.
 */
export function listenerFromDiag(row: {host: string; port: number; family: 4 | 6; recvQ: number; sendQ: number; v6only: boolean; drops: number | null}): ListenerWithDrops {
  const {host, port, family, recvQ, sendQ, v6only, drops} = row
  return {host: family === 6 && host === '::' && !v6only ? '*' : host, port, family, recvQ, sendQ, drops: numberOrNull(drops)}
}
