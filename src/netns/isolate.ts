import {spawn, spawnSync} from 'node:child_process'
import {readFileSync, readlinkSync, writeFileSync} from 'node:fs'
import {Socket, isIP} from 'node:net'
import {fileURLToPath} from 'node:url'

import {UsageError} from '../errors.js'
import {forwardStopSignals} from '../signals.js'
import {sysctlPath} from '../kernel/sysctl.js'
import type {SysctlOverride} from '../plan/isolation-options.js'
import {CLIENT_ADDRESS, CLIENT_ADDRESS6, SERVER_ADDRESS, SERVER_ADDRESS6, createTwoHosts} from './topology.js'

/** The link's subnets (netns/topology.ts: /24 and /64). */
const LINK_PREFIX = CLIENT_ADDRESS.split('.').slice(0, 3).join('.')
const LINK_PREFIX6 = CLIENT_ADDRESS6.slice(0, CLIENT_ADDRESS6.lastIndexOf(':') + 1)

/**
 * `--isolate`: the storm and its lab run on two hosts of their own on this machine — a client and
 * a server network namespace joined by a veth pair (netns/topology.ts) — the storm in the client's,
 * the lab and a watch of its port in the server's. Each side's kernel counters are then its own,
 * as between two real hosts: the client's TcpExtTCPSynRetrans counts its SYN retransmits only, the
 * server's its SYN-ACK retransmits and its ListenOverflows (docs/kernel.md §5); the watch's
 * samples join the result as the server's evidence. `--sysctl` overrides touch those two
 * namespaces only, and are written in both (each side reads its own).
 *
 * The namespaces are made with `unshare --net`, not `ip netns add`: they have no name and no
 * mount, so each disappears with the last process inside it and cannot be leaked — not by Ctrl-C,
 * not by a crash, not even by SIGKILL.
 */

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/**
 * Marks the re-executed storm inside the client's namespace (hidden flag). Its value starts with
 * the parent's namespace, so the inner process can prove that it is somewhere else before writing
 * sysctls; then `server=PATH` (the server's namespace, for nsenter --net) and `device=NAME` (the
 * client's end of the veth, for --link-rate). See encodeInsideNetns.
 */
export const INSIDE_FLAG = '--isolated-netns'

/** What the storm inside learns from INSIDE_FLAG's value. */
export interface InsideNetns {
  /** the parent's namespace, as readlink /proc/self/ns/net names it (net:[inode]) */
  parent: string
  /** two hosts: the server's namespace, where the lab and the watch of its port run */
  serverNetns: string | undefined
  /** two hosts: the client's end of the veth pair, which --link-rate paces */
  device: string | undefined
}

/** INSIDE_FLAG's value: 'net:[4026531840] server=/proc/123/ns/net device=cstc100'. */
export function encodeInsideNetns({parent, serverNetns, device}: InsideNetns): string {
  return [parent, ...(serverNetns === undefined ? [] : [`server=${serverNetns}`]), ...(device === undefined ? [] : [`device=${device}`])].join(' ')
}

export function parseInsideNetns(value: string): InsideNetns {
  const [parent = '', ...rest] = value.split(' ')
  const field = (name: string): string | undefined => rest.find((part) => part.startsWith(`${name}=`))?.slice(name.length + 1)
  return {parent, serverNetns: field('server'), device: field('device')}
}

function currentNetns(): string {
  return readlinkSync('/proc/self/ns/net')
}

export function assertCanIsolate(): void {
  if (process.platform !== 'linux') throw new UsageError('--isolate: network namespaces need Linux')
  if (process.getuid?.() !== 0) throw new UsageError('--isolate: needs root (it creates a network namespace); run as root or drop --isolate')
  for (const [tool, pkg] of [['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['ip', 'iproute2']] as const) {
    if (spawnSync(tool, ['-V'], {stdio: 'ignore'}).error) throw new UsageError(`--isolate: needs '${tool}' (Debian package ${pkg})`)
  }
}

/**
 * Re-runs this storm command inside the client's namespace of two hosts made for it, and returns
 * its exit code; the two namespaces are removed once it has exited (and, the holders being ours,
 * when this process dies in any way). Signals are passed on, so Ctrl-C still yields the partial
 * report (printed by the inner process).
 */
export async function runIsolated(argv: readonly string[]): Promise<number> {
  const inner = argv.filter((argument) => argument !== '--isolate')
  const hosts = await createTwoHosts()
  try {
    const inside = encodeInsideNetns({parent: currentNetns(), serverNetns: `/proc/${hosts.server.holderPid}/ns/net`, device: hosts.client.device})
    const command = hosts.inside('client', [process.execPath, RUN_JS, 'storm', ...inner, INSIDE_FLAG, inside])
    // fd 3: a pipe whose only writer is this process. When we die, even by SIGKILL, the storm
    // inside reads its end and stops as on SIGTERM (stopWhenParentGoes), so its lab and watch end
    // and the namespaces go with them, instead of lingering until the storm's own deadline.
    const child = spawn(command[0]!, command.slice(1), {stdio: ['inherit', 'inherit', 'inherit', 'pipe']})
    return await forwardStopSignals(child)
  } finally {
    await hosts.dispose()
  }
}

/**
 * Inside the client's namespace, in the storm runIsolated started: stop as on SIGTERM (partial
 * report, exit 143) when that parent goes away — its end of the fd-3 pipe closes however it ends.
 */
export function stopWhenParentGoes(): void {
  let link: Socket
  try {
    link = new Socket({fd: 3, readable: true, writable: false})
  } catch {
    return // not started by runIsolated: nothing to watch
  }
  link.on('error', () => {})
  link.once('close', () => process.kill(process.pid, 'SIGTERM'))
  link.resume()
  // Watching must not keep the storm alive once it is done.
  link.unref()
}

/** Writes sysctls of this namespace; only ever called inside a namespace connstorm made. */
export function applySysctls(overrides: readonly SysctlOverride[]): void {
  for (const {key, value} of overrides) {
    const path = sysctlPath(key)
    try {
      writeFileSync(path, value)
      const now = readFileSync(path, 'utf8').trim().replaceAll(/\s+/g, ' ')
      if (now !== value.replaceAll(/\s+/g, ' ')) throw Object.assign(new Error('value not kept'), {code: `kept ${now}`})
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'refused'
      throw new UsageError(`--sysctl: the kernel refused ${key}=${value} (${code})`)
    }
  }
}

/**
 * Writes sysctls of another namespace connstorm made (the server's of two hosts): through
 * nsenter, since a process reads and writes the /proc/sys/net of its own namespace only.
 */
export function applySysctlsIn(netns: string, overrides: readonly SysctlOverride[]): void {
  for (const {key, value} of overrides) {
    const done = spawnSync('nsenter', [`--net=${netns}`, '--', 'sh', '-c', 'printf "%s" "$2" > "$1" && cat "$1"', 'sh', sysctlPath(key), value], {encoding: 'utf8'})
    const now = (done.stdout ?? '').trim().replaceAll(/\s+/g, ' ')
    if (done.status !== 0 || now !== value.replaceAll(/\s+/g, ' ')) {
      const why = done.status === 0 ? `kept ${now}` : ((done.stderr || done.error?.message || `exit ${done.status}`).trim().split('\n')[0] ?? 'refused')
      throw new UsageError(`--sysctl: the kernel refused ${key}=${value} in the server's namespace (${why})`)
    }
  }
}

/**
 * --source inside the client's namespace of two hosts: the addresses the connects bind to must be
 * the client host's own, on its end of the veth, in the link's subnet (the server answers only
 * there; there is no route out). The client's own 198.18.0.1 is there already; the others are
 * added. Refuses (UsageError) any other address, loopback's included: 127.0.0.0/8 never leaves a host.
 */
export function addSourceAddresses(device: string, sources: readonly string[]): void {
  for (const address of sources) {
    const v4 = isIP(address) === 4
    const inLink = v4 ? address.startsWith(`${LINK_PREFIX}.`) : address.toLowerCase().startsWith(LINK_PREFIX6)
    if (!inLink || address === SERVER_ADDRESS || address.toLowerCase() === SERVER_ADDRESS6) {
      throw new UsageError(
        `--source: with --isolate the storm runs on a client host of its own, joined to the lab's by a link ${LINK_PREFIX}.0/24 (${LINK_PREFIX6}/64): give addresses there other than the server's ${SERVER_ADDRESS} (${SERVER_ADDRESS6}), e.g. ${LINK_PREFIX}.10-${LINK_PREFIX}.13; '${address}' is not one`,
      )
    }
    if (address === CLIENT_ADDRESS || address.toLowerCase() === CLIENT_ADDRESS6) continue
    const added = spawnSync('ip', ['address', 'add', v4 ? `${address}/24` : `${address}/64`, 'dev', device, ...(v4 ? [] : ['nodad'])], {encoding: 'utf8'})
    if (added.status !== 0 && !/exists/i.test(added.stderr)) {
      throw new UsageError(`--source: could not add ${address} to the client's end of the link: ${(added.stderr || added.error?.message || '').trim().split('\n')[0]}`)
    }
  }
}

/**
 * Inside the new namespace: bring loopback up and apply the overrides. Refuses to run in the
 * host's namespace, where the same writes would change the machine.
 */
export function prepareIsolatedNamespace(parentNetns: string, overrides: readonly SysctlOverride[]): void {
  if (currentNetns() === parentNetns) {
    throw new UsageError(`${INSIDE_FLAG}: this process is still in its parent's network namespace; use --isolate`)
  }
  const up = spawnSync('ip', ['link', 'set', 'lo', 'up'], {encoding: 'utf8'})
  if (up.status !== 0) throw new UsageError(`--isolate: could not bring loopback up in the new namespace: ${(up.stderr || up.error?.message || '').trim()}`)
  applySysctls(overrides)
}
