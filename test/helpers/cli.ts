import {type ChildProcess, spawn} from 'node:child_process'
import {readFileSync, readdirSync, readlinkSync} from 'node:fs'
import {createServer} from 'node:net'
import {fileURLToPath} from 'node:url'

export const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  elapsedMs: number
}

/**
 * Runs bin/run.js (the compiled CLI, as a user would) and kills it if it outlives `killAfterMs`.
 * `input` is written to its stdin (else it has none, as under a pipeline that gives it nothing).
 */
export function runCli(
  args: string[],
  {killAfterMs = 30_000, onSpawn, input, env}: {killAfterMs?: number; onSpawn?: (child: ChildProcess) => void; input?: string; env?: Record<string, string | undefined>} = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const started = Date.now()
    // `env`: variables set (or, undefined, removed) for this CLI alone, so concurrent tests can differ.
    const childEnv = {...process.env}
    for (const [name, value] of Object.entries(env ?? {})) {
      if (value === undefined) delete childEnv[name]
      else childEnv[name] = value
    }
    const child = spawn(process.execPath, [RUN_JS, ...args], {stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: childEnv})
    if (input !== undefined) child.stdin!.end(input)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    onSpawn?.(child)
    child.on('close', (code, signal) => {
      clearTimeout(killer)
      resolve({code, signal, stdout, stderr, elapsedMs: Date.now() - started})
    })
  })
}

export interface LabReport {
  accepted: number
  durationMs: number
  stopReason: string
}

export interface RunningLab {
  pid: number
  address: string
  host: string
  port: number
  /** Stops the lab (SIGTERM) and returns the report it printed on its way out. */
  stop(): Promise<LabReport>
}

const labs = new Set<ChildProcess>()

/** Starts `connstorm lab --json …` as its own process and resolves with the address it printed first. */
export function startLab(args: string[]): Promise<RunningLab> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN_JS, 'lab', '--json', '--max-duration', '60s', ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    labs.add(child)
    child.once('exit', () => labs.delete(child))
    let stdout = ''
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const before = stdout
      stdout += chunk
      const newline = stdout.indexOf('\n')
      if (newline === -1 || before.includes('\n')) return
      const first = JSON.parse(stdout.slice(0, newline)) as {address: string; host: string; port: number} | {error: {code: string; message: string}}
      // Under --json a refusal is the first line too ({"error": …}, then exit 2): not a lab.
      if ('error' in first) {
        reject(new Error(`lab refused to start: ${first.error.code}: ${first.error.message}`))
        return
      }
      resolve({
        pid: child.pid!,
        ...first,
        stop: async () => {
          await stopChild(child)
          return JSON.parse(stdout.slice(stdout.indexOf('\n') + 1)) as LabReport
        },
      })
    })
    child.once('exit', (code) => reject(new Error(`lab exited with ${code} before listening: ${stderr}`)))
  })
}

/** Ends every lab this file started (by PID), whatever happened in the tests. */
export async function stopAllLabs(): Promise<void> {
  await Promise.all([...labs].map((child) => stopChild(child)))
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** A loopback port with nothing listening: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** True when a process with this PID still exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** PIDs of the direct children of `pid`, from /proc (Linux). */
export function childPids(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // Fields after the parenthesised command name: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return children
}

export function waitFor(condition: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  return pollUntil(condition, (holds) => holds, {timeoutMs, stepMs})
}

/**
 * Reads `read()` every `stepMs` until `done(value)` holds or `timeoutMs` passes, and returns the last
 * value read: the caller asserts on it, so a state that never came shows what was there instead.
 */
export async function pollUntil<T>(read: () => T | Promise<T>, done: (value: T) => boolean, {timeoutMs, stepMs = 50}: {timeoutMs: number; stepMs?: number}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() >= deadline) return value
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

/** One row of /proc/PID/net/tcp or tcp6: a TCP socket in that process's network namespace. */
export interface TcpSocket {
  state: TcpState
  /** address:port as the kernel prints it (hex), for comparing local and remote ends */
  local: string
  remote: string
  localPort: number
  remotePort: number
  /** for a listener, the accept queue (connections completed, not yet accepted) */
  rxQueue: number
  inode: number
}

export type TcpState = 'ESTABLISHED' | 'SYN-SENT' | 'SYN-RECV' | 'FIN-WAIT-1' | 'FIN-WAIT-2' | 'TIME-WAIT' | 'CLOSE' | 'CLOSE-WAIT' | 'LAST-ACK' | 'LISTEN' | 'CLOSING' | 'NEW-SYN-RECV'
const TCP_STATES: readonly TcpState[] = ['ESTABLISHED', 'SYN-SENT', 'SYN-RECV', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT', 'CLOSE', 'CLOSE-WAIT', 'LAST-ACK', 'LISTEN', 'CLOSING', 'NEW-SYN-RECV']

/**
 * Every TCP socket in the network namespace of `pid`, as the kernel lists it (/proc/PID/net/tcp and
 * tcp6, read directly: the test's own view, not the code under test's). Empty once the process is gone.
 */
export function tcpSockets(pid: number): TcpSocket[] {
  const sockets: TcpSocket[] = []
  for (const file of ['tcp', 'tcp6']) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode
      const columns = line.trim().split(/\s+/)
      if (columns.length < 10) continue
      const [, local, remote, state, queues, , , , , inode] = columns as [string, string, string, string, string, string, string, string, string, string]
      sockets.push({
        state: TCP_STATES[Number.parseInt(state, 16) - 1]!,
        local,
        remote,
        localPort: Number.parseInt(local.split(':')[1]!, 16),
        remotePort: Number.parseInt(remote.split(':')[1]!, 16),
        rxQueue: Number.parseInt(queues.split(':')[1]!, 16),
        inode: Number(inode),
      })
    }
  }
  return sockets
}

/** The listening sockets `pid` holds open (its fds matched to the kernel's list by inode). */
export function listenersOf(pid: number): TcpSocket[] {
  const inodes = new Set<number>()
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (match) inodes.add(Number(match[1]))
      } catch {
        // The fd closed while we looked.
      }
    }
  } catch {
    return []
  }
  return tcpSockets(pid).filter((socket) => socket.state === 'LISTEN' && inodes.has(socket.inode))
}

/**
 * What a burst against a listener that accepts nothing looks like in the kernel: the accept queue
 * (Recv-Q of the listener `labPid` holds) and the clients still sending SYNs to it (SYN-SENT), or
 * still connected to it (ESTABLISHED on the client's side). `null` while the lab is not listening.
 */
export function burstAgainst(labPid: number): {port: number; queued: number; synSent: number; clientsEstablished: number} | null {
  const listener = listenersOf(labPid)[0]
  if (listener === undefined) return null
  const clients = tcpSockets(labPid).filter((socket) => socket.remote === listener.local)
  return {
    port: listener.localPort,
    queued: listener.rxQueue,
    synSent: clients.filter((socket) => socket.state === 'SYN-SENT').length,
    clientsEstablished: clients.filter((socket) => socket.state === 'ESTABLISHED').length,
  }
}

/** CPU time used so far by every thread of `pid`, ended ones too (/proc/PID/stat utime + stime, 10 ms ticks); null once it has ended. */
export function cpuTimeMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name start with the 3rd (state); utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z') return null // ended, not yet reaped: not idle
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return null
  }
}

/**
 * Resolves with the time (Date.now()) at which `pid` was first seen idle — at most one 10 ms clock
 * tick of CPU over the last `windowMs` — or null if `deadline` (a Date.now() instant) came first or
 * the process ended. A Node CLI that has loaded and waits on a timer (e.g. for --start-at) is idle;
 * one still loading its modules uses far more: ≥ 50 ms of CPU per 500 ms even when ten other
 * processes share the two cores (measured).
 */
export async function idleAt(pid: number, deadline: number, {windowMs = 500, stepMs = 100}: {windowMs?: number; stepMs?: number} = {}): Promise<number | null> {
  const seen: {at: number; cpuMs: number}[] = []
  while (Date.now() <= deadline) {
    const cpuMs = cpuTimeMs(pid)
    if (cpuMs === null) return null
    const at = Date.now()
    seen.push({at, cpuMs})
    const windowStart = seen.findLast((sample) => sample.at <= at - windowMs)
    if (windowStart !== undefined && cpuMs - windowStart.cpuMs <= 10) return at
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
  return null
}

/**
 * Runs a Node script (`node -e source`) that prints one line once it is ready (a port, or JSON
 * ports), and resolves with the child and that line; rejects if it exits first. The caller ends
 * the child by PID.
 */
export function startScript(source: string): Promise<{child: ChildProcess; firstLine: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', source], {stdio: ['ignore', 'pipe', 'inherit']})
    let stdout = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      if (stdout.includes('\n')) resolve({child, firstLine: stdout.slice(0, stdout.indexOf('\n'))})
    })
    child.once('exit', (code) => reject(new Error(`the script exited before it was ready (code ${code})`)))
  })
}
