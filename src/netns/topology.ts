import {type ChildProcess, spawn, spawnSync} from 'node:child_process'

import {UsageError} from '../errors.js'
import {linkPacingCommands} from './link.js'

/**
 * Two hosts on one machine: a client network namespace and a server network namespace joined by
 * a veth pair, as a storm against another host sees it — each side's counters its own (the
 * client's TCPSynRetrans counts SYN retransmits only, the server's SYN-ACK retransmits only,
 * docs/kernel.md §5), and a round trip between SYN and handshake ACK instead of a handshake that
 * completes inside connect().
 *
 * Like --isolate's single namespace (isolate.ts), neither namespace has a name or a mount: each
 * is held by a process of ours (`unshare --net cat`, which exits when our end of its stdin closes,
 * so even a SIGKILLed parent leaves nothing) and disappears with the last process inside it,
 * taking its end of the veth pair along. The pair is created directly inside the two namespaces
 * (`ip link add … netns PID type veth peer … netns PID`), never in the caller's, so `ip link`
 * and `ip netns list` there never show it.
 *
 * Addresses come from 198.18.0.0/15, reserved for benchmarking (RFC 2544), and from a ULA prefix
 * for IPv6; the namespaces have no route but the link's own: nothing can leave the machine.
 */

export const CLIENT_ADDRESS = '198.18.0.1'
export const SERVER_ADDRESS = '198.18.0.2'
export const CLIENT_ADDRESS6 = 'fdc5:7e57:5707::1'
export const SERVER_ADDRESS6 = 'fdc5:7e57:5707::2'
const PREFIX = 24
const PREFIX6 = 64

/** The veth ends are named after this process: distinct per run, and easy to look for. */
export function vethNames(pid: number = process.pid): {client: string; server: string} {
  // IFNAMSIZ: at most 15 characters.
  return {client: `cstc${pid}`.slice(0, 15), server: `csts${pid}`.slice(0, 15)}
}

export type Side = 'client' | 'server'

export interface TwoHosts {
  client: {address: string; address6: string; device: string; holderPid: number}
  server: {address: string; address6: string; device: string; holderPid: number}
  /** argv that runs `command` inside one side's namespace (nsenter --net) */
  inside(side: Side, command: readonly string[]): string[]
  /** runs a command inside one side's namespace and waits for it; a failure throws UsageError */
  run(side: Side, command: readonly string[]): void
  /** ends both holders; the namespaces go once the processes started inside them are gone too */
  dispose(): Promise<void>
}

export interface TwoHostsOptions {
  /** --link-rate: pace the client's packets toward this server port at this rate (tc units) */
  linkRate?: {port: number; rate: string}
}

function startHolder(): ChildProcess {
  // stdio 'pipe' on stdin only: cat reads it until our end closes (our exit, whatever the cause).
  const holder = spawn('unshare', ['--net', '--', 'cat'], {stdio: ['pipe', 'ignore', 'ignore']})
  holder.on('error', () => {})
  return holder
}

function namespaceOf(pid: number): string {
  return `--net=/proc/${pid}/ns/net`
}

function runChecked(argv: readonly string[], what: string): void {
  const done = spawnSync(argv[0]!, argv.slice(1), {encoding: 'utf8'})
  if (done.status !== 0) {
    const why = (done.stderr || done.error?.message || `exit ${done.status}`).trim().split('\n')[0]
    throw new UsageError(`${what}: '${argv.join(' ')}' failed: ${why}`)
  }
}

/** Waits until the holder runs inside its own namespace (unshare has exec'd cat), or fails. */
async function settled(holder: ChildProcess, own: string): Promise<number> {
  const pid = holder.pid
  if (pid === undefined) throw new UsageError('two hosts: cannot start unshare (Debian package util-linux)')
  for (let attempt = 0; attempt < 200; attempt++) {
    if (holder.exitCode !== null || holder.signalCode !== null) throw new UsageError(`two hosts: unshare --net exited (${holder.exitCode ?? holder.signalCode}); it needs root`)
    const done = spawnSync('readlink', [`/proc/${pid}/ns/net`], {encoding: 'utf8'})
    if (done.status === 0 && done.stdout.trim() !== own) return pid
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new UsageError('two hosts: the namespace holder did not start within 1 s')
}

/**
 * Makes the two namespaces and the link between them. On any failure what was made is removed
 * before the error is thrown; the holders are also ended when this process exits.
 */
export async function createTwoHosts(options: TwoHostsOptions = {}): Promise<TwoHosts> {
  const own = spawnSync('readlink', ['/proc/self/ns/net'], {encoding: 'utf8'}).stdout.trim()
  const holders = [startHolder(), startHolder()] as const
  const endHolders = (): void => {
    for (const holder of holders) if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL')
  }
  process.once('exit', endHolders)
  const dispose = async (): Promise<void> => {
    process.off('exit', endHolders)
    await Promise.all(
      holders.map(
        (holder) =>
          new Promise<void>((resolve) => {
            if (holder.exitCode !== null || holder.signalCode !== null || holder.pid === undefined) return resolve()
            holder.once('exit', () => resolve())
            holder.kill('SIGKILL')
          }),
      ),
    )
  }
  try {
    const [clientPid, serverPid] = [await settled(holders[0], own), await settled(holders[1], own)]
    const names = vethNames()
    const inside = (side: Side, command: readonly string[]): string[] => ['nsenter', namespaceOf(side === 'client' ? clientPid : serverPid), '--', ...command]
    const run = (side: Side, command: readonly string[]): void => runChecked(inside(side, command), `two hosts (${side})`)
    runChecked(['ip', 'link', 'add', names.client, 'netns', String(clientPid), 'type', 'veth', 'peer', 'name', names.server, 'netns', String(serverPid)], 'two hosts')
    for (const [side, device, address, address6] of [
      ['client', names.client, CLIENT_ADDRESS, CLIENT_ADDRESS6],
      ['server', names.server, SERVER_ADDRESS, SERVER_ADDRESS6],
    ] as const) {
      run(side, ['ip', 'link', 'set', 'lo', 'up'])
      run(side, ['ip', 'address', 'add', `${address}/${PREFIX}`, 'dev', device])
      // nodad: the address is usable at once, not after duplicate detection (~1 s).
      run(side, ['ip', 'address', 'add', `${address6}/${PREFIX6}`, 'dev', device, 'nodad'])
      run(side, ['ip', 'link', 'set', device, 'up'])
    }
    if (options.linkRate !== undefined) {
      for (const command of linkPacingCommands(options.linkRate.port, options.linkRate.rate, names.client)) run('client', command)
    }
    return {
      client: {address: CLIENT_ADDRESS, address6: CLIENT_ADDRESS6, device: names.client, holderPid: clientPid},
      server: {address: SERVER_ADDRESS, address6: SERVER_ADDRESS6, device: names.server, holderPid: serverPid},
      inside,
      run,
      dispose,
    }
  } catch (error) {
    await dispose()
    throw error
  }
}
