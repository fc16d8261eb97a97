import {type ChildProcess, spawn} from 'node:child_process'
import {readFileSync, readdirSync} from 'node:fs'
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

/** Runs bin/run.js (the compiled CLI, as a user would) and kills it if it outlives `killAfterMs`. */
export function runCli(args: string[], {killAfterMs = 30_000, onSpawn}: {killAfterMs?: number; onSpawn?: (child: ChildProcess) => void} = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, [RUN_JS, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
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
      const first = JSON.parse(stdout.slice(0, newline)) as {address: string; host: string; port: number}
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

export async function waitFor(condition: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (condition()) return true
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
  return condition()
}
