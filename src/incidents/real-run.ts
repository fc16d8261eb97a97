import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {accessSync, constants, mkdtempSync, readFileSync, readlinkSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'

import {UsageError} from '../errors.js'
import type {WatchFile} from '../results/format.js'
import type {RealServerIncident} from './catalog.js'
import type {RealServer} from './real-servers.js'

/**
 * A real-server incident, run on two hosts on one machine: the server (a Debian package) started
 * in the server's network namespace with the incident's sysctls, `connstorm watch` beside it, and
 * `connstorm storm` from the client's namespace (docs/kernel.md §5: each side's counters are its
 * own). The server stops accepting the way it really does (Stall), starting 0.2 s before the
 * burst's instant (storm --start-at) for the incident's stall time.
 *
 * The namespaces and the watch come from the caller (netns/topology.ts, watch/process.ts), so that
 * this file keeps to the incidents' layer. Everything started here is ended by PID and the
 * temporary directory removed, on success, on failure, on an abort (Ctrl-C) and on exit.
 */

/** The parts of netns/topology.ts's TwoHosts this needs. */
export interface Hosts {
  server: {address: string; holderPid: number}
  inside(side: 'client' | 'server', command: readonly string[]): string[]
  run(side: 'client' | 'server', command: readonly string[]): void
  dispose(): Promise<void>
}

/** The parts of watch/process.ts's WatchProcess this needs. */
export interface Watch {
  pid: number
  readonly ready: Promise<void>
  stop(): Promise<WatchFile>
}

export interface RealRunParts {
  createHosts(): Promise<Hosts>
  startWatch(port: number, options: {wrap: readonly string[]; maxDurationMs: number}): Watch
  /** bin/run.js: the storm runs as `node RUN_JS storm …` inside the client's namespace */
  runJs: string
  /** aborted (its reason: the signal's name) when the user stops the run */
  signal: AbortSignal
}

export interface RealRun {
  /** the storm's exit code */
  code: number
  /** the storm's stdout (its --json result) */
  stdout: string
  /** the watch of the server's port, from the server's namespace; null when the storm never ran */
  watch: WatchFile | null
  /** what the incident ran, in words, for the report */
  server: {name: string; version: string; debianPackage: string; config: string; askedBacklog: string; sysctls: readonly string[]; stall: string}
  /** lines of the server's own log that speak of its backlog (Redis warns when somaxconn caps it) */
  logLines: string[]
}

/**
 * The stall starts this long before the burst's instant, so the burst meets a server that has
 * stopped, and lasts until the incident's stallMs after the instant: midway between the SYN
 * retransmits at 2 and 3 s (tcp_syn_linear_timeouts, docs/kernel.md §2), so a burst whose start is
 * spread over a few hundred ms on a loaded machine still gets in on one step, the 3 s one.
 */
export const STALL_LEAD_MS = 100
/**
 * How far ahead the burst's instant is set: the storm in the client's namespace must be up and
 * waiting by then (a Node start-up, ~0.4 s of CPU; seen taking 3.2 s at load 10). A storm that
 * starts late says so (self.startSkewMs), and is run again with a longer lead.
 */
export const START_LEAD_MS = 4000
const LISTEN_TIMEOUT_MS = 30_000
/** A storm that starts this late (self.startSkewMs) is run again with a longer lead: its SYNs retransmitted at 2 s would otherwise find the stall over (it ends 2.5 s after the instant). */
const LATE_MS = 250
/** At most this many storms per run: each late one is followed by one with a lead that covers its start-up. */
const ATTEMPTS = 3
/** The longest lead a later attempt gets (a start-up of 20 s is a machine that cannot run the incident). */
const MAX_LEAD_MS = 30_000
/** The watch's own bound: every attempt's lead, its storm (≤ 20 s) and the stall's end, with room. It had 60 s, which two late starts' leads (17 s, 34 s) outlasted: the watch ended before the last storm and the run was refused as not overlapping. */
const WATCH_CAP_MS = 180_000
const STOP_TIMEOUT_MS = 3000

/** The server's binary on PATH, or null. */
export function findOnPath(binary: string, path = process.env.PATH ?? ''): string | null {
  if (binary.includes('/')) {
    try {
      accessSync(binary, constants.X_OK)
      return binary
    } catch {
      return null
    }
  }
  for (const directory of path.split(delimiter)) {
    if (directory === '') continue
    try {
      accessSync(join(directory, binary), constants.X_OK)
      return join(directory, binary)
    } catch {}
  }
  return null
}

/** A missing server: one line naming its Debian package (exit 2). */
export function assertServerInstalled(incident: RealServerIncident): void {
  const {server} = incident
  if (findOnPath(server.binary) === null) {
    throw new UsageError(`${incident.name}: needs ${server.name} ('${server.binary}' is not ${server.binary.includes('/') ? 'there' : 'on PATH'}): install the Debian package ${server.debianPackage} (apt-get install ${server.debianPackage})`, 'SERVER_MISSING')
  }
}

/** Two hosts on one machine need root and these commands (netns/topology.ts, and the sysctls set in the server's namespace). */
export function assertCanRunTwoHosts(incident: RealServerIncident): void {
  if (process.platform !== 'linux') throw new UsageError(`${incident.name}: network namespaces need Linux`)
  if (process.getuid?.() !== 0) throw new UsageError(`${incident.name}: needs root (it runs ${incident.server.name} and the storm in two network namespaces of their own)`)
  for (const [tool, debianPackage] of [['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['ip', 'iproute2'], ['sysctl', 'procps']] as const) {
    if (findOnPath(tool) === null) throw new UsageError(`${incident.name}: needs '${tool}' (Debian package ${debianPackage})`)
  }
}

/** The server's version as it prints it, e.g. "1.22.1". */
export function serverVersion(server: RealServer): string {
  const done = spawnSync(server.version.argv[0]!, server.version.argv.slice(1), {encoding: 'utf8'})
  const match = server.version.pattern.exec(`${done.stdout ?? ''}${done.stderr ?? ''}`)
  return match?.[1] ?? 'unknown'
}

class Interrupted extends Error {}

export async function runRealServerIncident(incident: RealServerIncident, parts: RealRunParts): Promise<RealRun> {
  const {server} = incident
  assertServerInstalled(incident)
  const version = serverVersion(server)
  const directory = mkdtempSync(join(tmpdir(), `connstorm-incident-${server.adviceId}-`))
  const started: ChildProcess[] = []
  /** processes the server started (its workers), ended by PID if they outlive it */
  const descendants = new Set<number>()
  const stopped = new Set<number>()
  const timers: NodeJS.Timeout[] = []
  let hosts: Hosts | undefined
  let watch: Watch | undefined
  let storm: ChildProcess | undefined
  let config = ''
  const words = (): RealRun['server'] => ({
    name: server.name,
    version,
    debianPackage: server.debianPackage,
    config,
    askedBacklog: server.askedBacklog,
    sysctls: incident.serverSysctls,
    stall: stallWords(incident),
  })

  // Last resort (an exception we did not see coming, process.exit elsewhere): nothing outlives us.
  const onExit = (): void => {
    for (const pid of stopped) signal(pid, 'SIGCONT')
    for (const child of started) if (running(child)) child.kill('SIGKILL')
    for (const pid of descendants) signal(pid, 'SIGKILL')
    rmSync(directory, {recursive: true, force: true})
  }
  process.once('exit', onExit)
  const checkAbort = (): void => {
    if (parts.signal.aborted) throw new Interrupted(String(parts.signal.reason))
  }
  const onAbort = (): void => {
    // The storm prints its partial report on the same signal (storm's own contract); the rest is ended below.
    if (storm !== undefined && running(storm)) storm.kill(parts.signal.reason as NodeJS.Signals)
  }
  parts.signal.addEventListener('abort', onAbort)

  const start = (argv: string[], options: {env?: Record<string, string>; stdout?: boolean} = {}): ChildProcess => {
    const child = spawn(argv[0]!, argv.slice(1), {stdio: ['ignore', options.stdout ? 'pipe' : 'ignore', 'pipe'], ...(options.env ? {env: {...process.env, ...options.env}} : {})})
    child.on('error', () => {})
    started.push(child)
    return child
  }

  try {
    hosts = await parts.createHosts()
    checkAbort()
    for (const sysctl of incident.serverSysctls) hosts.run('server', ['sysctl', '-q', '-w', sysctl])
    const configured = server.configure(directory, hosts.server.address)
    const {argv, env} = configured
    config = configured.config
    const serverProcess = start(hosts.inside('server', argv), env ? {env} : {})
    let serverErr = ''
    serverProcess.stderr!.setEncoding('utf8').on('data', (chunk: string) => (serverErr = (serverErr + chunk).slice(-2000)))
    // nsenter execs the server (no --fork): the PID is the server's own.
    const serverPid = serverProcess.pid!
    await until(
      () => {
        if (!running(serverProcess)) throw new Error(`${server.name} exited (${serverProcess.exitCode ?? serverProcess.signalCode}) before it listened: ${(serverErr || readLog(directory, server)).trim().split('\n').slice(-3).join(' | ')}`)
        return listening(hosts!.server.holderPid, server.port)
      },
      LISTEN_TIMEOUT_MS,
      `${server.name} to listen on ${hosts.server.address}:${server.port}`,
      checkAbort,
    )
    const workers = server.stall.kind === 'sigstop-workers' || server.stall.kind === 'busy-handlers' ? await until(() => nonEmpty(childrenOf(serverPid)), LISTEN_TIMEOUT_MS, `${server.name}'s workers`, checkAbort) : []
    for (const pid of workers) descendants.add(pid)

    // Stopped once the storms are done; the cap covers every attempt (leads up to MAX_LEAD_MS each, a storm, a stall).
    watch = parts.startWatch(server.port, {wrap: hosts.inside('server', []), maxDurationMs: WATCH_CAP_MS})
    await watch.ready
    checkAbort()

    const stormWithStall = async (burstAt: number): Promise<{code: number; stdout: string}> => {
      storm = start(
        hosts!.inside('client', [
          process.execPath,
          parts.runJs,
          'storm',
          `${hosts!.server.address}:${server.port}`,
          ...incident.args,
          '--server',
          server.adviceId,
          '--start-at',
          new Date(burstAt).toISOString(),
          // The client's namespace holds this storm alone: its counters are the storm's own
          // (netns "isolated", the counters' verdict given). The value names the namespace it left.
          '--isolated-netns',
          readlinkSync('/proc/self/ns/net'),
          '--json',
        ]),
        {stdout: true},
      )
      let out = ''
      storm.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
      storm.stderr!.pipe(process.stderr)
      const stormDone = closed(storm)
      scheduleStall(incident, {at: burstAt - STALL_LEAD_MS, serverPid, workers, stopped, timers, hosts: hosts!, start, directory})
      const stormCode = await stormDone
      for (const timer of timers.splice(0)) clearTimeout(timer)
      for (const pid of stopped) signal(pid, 'SIGCONT')
      stopped.clear()
      return {code: stormCode, stdout: out}
    }

    let code = 1
    let stdout = ''
    let leadMs = START_LEAD_MS
    for (let attempt = 1; ; attempt++) {
      const spawnedAt = Date.now()
      const burstAt = spawnedAt + leadMs
      ;({code, stdout} = await stormWithStall(burstAt))
      const started = stormStart(stdout)
      // A storm that started late met a stall already under way: on a loaded machine its start-up
      // took longer than the lead. Again, with a lead that covers the start-up it just took.
      if (attempt === ATTEMPTS || code !== 0 || started === null || started.skewMs < LATE_MS || parts.signal.aborted) break
      leadMs = Math.min(MAX_LEAD_MS, Math.max(2 * leadMs, Math.ceil(1.5 * (started.atMs - spawnedAt)) + 1000))
      process.stderr.write(`note: the storm started ${started.skewMs} ms after the burst's instant (a loaded machine); running it again with a ${(leadMs / 1000).toFixed(1)} s lead\n`)
      // The stall is over (Redis's sleep and the slow requests end by themselves) before the next one begins.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, burstAt + incident.stallMs + 500 - Date.now())))
      checkAbort()
    }
    const watched = await watch.stop()
    return {
      code,
      stdout,
      watch: watched,
      server: words(),
      logLines: readLog(directory, server)
        .split('\n')
        .filter((line) => /backlog/i.test(line))
        // Redis's prefix "PID:ROLE DATE TIME # " (server.c serverLogRaw) is its own bookkeeping: the message is what counts.
        .map((line) => line.replace(/^\d+:[XCSM] \d+ \w+ \d+ [\d:.]+ [.\-*#] /, '').trim()),
    }
  } catch (error) {
    if (error instanceof Interrupted) return {code: 128 + signalNumber(error.message), stdout: '', watch: null, server: words(), logLines: []}
    throw error
  } finally {
    parts.signal.removeEventListener('abort', onAbort)
    for (const timer of timers) clearTimeout(timer)
    for (const pid of stopped) signal(pid, 'SIGCONT')
    if (watch !== undefined) await watch.stop().catch(() => {})
    await endAll(started, descendants, server.stopSignal)
    await hosts?.dispose()
    rmSync(directory, {recursive: true, force: true})
    process.off('exit', onExit)
  }
}

/** "nginx's worker process stopped (SIGSTOP) … for 2.5 s, from 0.2 s before the burst" */
export function stallWords(incident: RealServerIncident): string {
  return `${incident.server.stall.what}, from ${STALL_LEAD_MS / 1000} s before the burst until ${incident.stallMs / 1000} s after it`
}

interface StallContext {
  at: number
  serverPid: number
  workers: number[]
  stopped: Set<number>
  timers: NodeJS.Timeout[]
  hosts: Hosts
  start: (argv: string[]) => ChildProcess
  directory: string
}

function scheduleStall(incident: RealServerIncident, context: StallContext): void {
  const {server} = incident
  const {stall} = server
  // From the stall's start (STALL_LEAD_MS before the instant) to stallMs after the instant.
  const stallMs = incident.stallMs + STALL_LEAD_MS
  const seconds = String(stallMs / 1000)
  const after = (ms: number, action: () => void): void => {
    context.timers.push(setTimeout(action, Math.max(0, ms)))
  }
  const wait = context.at - Date.now()
  switch (stall.kind) {
    case 'sigstop-workers':
    case 'sigstop-server': {
      const targets = stall.kind === 'sigstop-server' ? [context.serverPid] : context.workers
      after(wait, () => {
        for (const pid of targets) if (signal(pid, 'SIGSTOP')) context.stopped.add(pid)
      })
      after(wait + stallMs, () => {
        for (const pid of context.stopped) signal(pid, 'SIGCONT')
        context.stopped.clear()
      })
      break
    }
    case 'redis-debug-sleep': {
      // A client on the server's host (enable-debug-command local), connected now; at the instant it
      // only writes the command, so the sleep starts within a millisecond of it (debug.c: nanosleep).
      const command = `*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$${seconds.length}\r\n${seconds}\r\n`
      context.start(context.hosts.inside('server', [process.execPath, '-e', AT_INSTANT, String(context.at), '127.0.0.1', String(server.port), '1', 'early', command]))
      break
    }
    case 'busy-handlers': {
      // One slow request per worker, sent at the instant by a client on the server's host (started
      // now, it waits). It connects only then: a sync worker that accepted it would be busy already.
      const request = `GET /?sleep=${seconds} HTTP/1.0\r\nHost: ${context.hosts.server.address}\r\n\r\n`
      context.start(context.hosts.inside('server', [process.execPath, '-e', AT_INSTANT, String(context.at), context.hosts.server.address, String(server.port), String(stall.requests), 'at-instant', request]))
      break
    }
  }
}

/**
 * argv: instant (epoch ms), host, port, count, early | at-instant, payload. Opens `count`
 * connections (now, or at the instant) and writes the payload on each at the instant; ends a
 * while after the stall, or when the caller ends it.
 */
const AT_INSTANT = `
const [at, host, port, count, when, payload] = process.argv.slice(1)
const net = require('node:net')
const wait = () => Math.max(0, Number(at) - Date.now())
const open = () => {
  const socket = net.connect(Number(port), host)
  socket.on('error', () => {})
  socket.resume()
  return socket
}
const sockets = when === 'early' ? Array.from({length: Number(count)}, open) : []
setTimeout(() => {
  if (when !== 'early') for (let i = 0; i < Number(count); i++) sockets.push(open())
  for (const socket of sockets) socket.write(payload)
}, wait())
setTimeout(() => process.exit(0), wait() + 30000)
`

/** When the storm's first connect left (epoch ms) and how late that was after --start-at (self.startSkewMs); null without a result. */
function stormStart(stdout: string): {atMs: number; skewMs: number} | null {
  try {
    const result = JSON.parse(stdout) as {startedAt?: string; self?: {startSkewMs?: number}}
    const skew = result.self?.startSkewMs
    const at = Date.parse(result.startedAt ?? '')
    return typeof skew === 'number' && !Number.isNaN(at) ? {atMs: at, skewMs: Math.round(skew)} : null
  } catch {
    return null
  }
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name)
    return true
  } catch {
    return false
  }
}

function signalNumber(name: string): number {
  return ({SIGHUP: 1, SIGINT: 2, SIGTERM: 15} as Record<string, number>)[name] ?? 2
}

function closed(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (!running(child)) return resolve(child.exitCode ?? 1)
    child.once('error', () => resolve(1))
    child.once('close', (code, signalName) => resolve(code ?? 128 + signalNumber(signalName ?? 'SIGINT')))
  })
}

/** Stops the server with its quick-stop signal, everything else with SIGKILL; what outlives STOP_TIMEOUT_MS is killed, workers included. */
async function endAll(started: ChildProcess[], descendants: Set<number>, stopSignal: NodeJS.Signals): Promise<void> {
  const [server, ...others] = started
  for (const child of others) if (running(child)) child.kill('SIGKILL')
  if (server !== undefined && running(server)) {
    server.kill(stopSignal)
    const exited = await Promise.race([closed(server).then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS))])
    if (!exited) server.kill('SIGKILL')
  }
  for (const pid of descendants) if (isAlive(pid)) signal(pid, 'SIGKILL')
  await Promise.all(started.map((child) => closed(child)))
}

function isAlive(pid: number): boolean {
  try {
    // A zombie (exited, not yet reaped by its parent) counts as gone.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/** The PIDs whose parent is `pid` (/proc/PID/task/PID/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

function nonEmpty<T>(list: T[]): T[] | null {
  return list.length > 0 ? list : null
}

/**
 * True when the namespace of `holderPid` has a TCP listener on `port`: /proc/PID/net/tcp shows the
 * sockets of that process's network namespace (state 0A = LISTEN, local port in hex).
 */
export function listening(holderPid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const file of ['tcp', 'tcp6']) {
    let table = ''
    try {
      table = readFileSync(`/proc/${holderPid}/net/${file}`, 'utf8')
    } catch {
      continue
    }
    for (const line of table.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields[3] === '0A' && fields[1]?.endsWith(`:${hexPort}`)) return true
    }
  }
  return false
}

function readLog(directory: string, server: RealServer): string {
  if (server.logFile === undefined) return ''
  try {
    return readFileSync(join(directory, server.logFile), 'utf8')
  } catch {
    return ''
  }
}

async function until<T>(read: () => T | null | false, timeoutMs: number, what: string, checkAbort: () => void): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    checkAbort()
    const value = read()
    if (value !== null && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
