import {type ChildProcess, spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {LabStartError, UsageError} from '../errors.js'
import type {LabListening, LabSummary} from './lab.js'
import type {LabOptions} from '../plan/lab-options.js'

/** lab/child.ts: `connstorm lab` without oclif, so it starts in half the time. */
const LAB_CHILD_JS = fileURLToPath(new URL('child.js', import.meta.url))
const START_TIMEOUT_MS = 15_000
const STOP_GRACE_MS = 3000

export interface LabProcess {
  pid: number
  listening: LabListening
  /** Stops the lab (SIGTERM, then SIGKILL after a grace period) and returns its own exit report. */
  stop(): Promise<LabSummary | null>
  /** The storm is about to send its first connect: the lab's stall counts from now. */
  go(): void
}

/**
 * Starts the lab as a child process — never in the storm's process, whose timing it would
 * distort (docs/decisions.md) — and waits for its first stdout line, the listening address.
 */
export async function startLabProcess(options: LabOptions, signal?: AbortSignal, wrap: readonly string[] = []): Promise<LabProcess> {
  // The child exits when our end of its stdin closes, even if we are SIGKILLed; it accepts nothing
  // until go() below, and its stall counts from then (lab/child.ts). detached: a terminal's Ctrl-C goes to our process group only; the storm stops the lab itself,
  // after its partial report, instead of racing the lab's own exit.
  // `wrap` runs it elsewhere, e.g. ['nsenter', '--net=…', '--'] into the server's namespace of two
  // hosts (netns/topology.ts); nsenter execs node, so the PID is still the lab's.
  const argv = [...wrap, process.execPath, LAB_CHILD_JS, JSON.stringify(options)]
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))

  const listening = await new Promise<LabListening>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not report its address within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS)
    const onAbort = (): void => fail('start was interrupted')
    signal?.addEventListener('abort', onAbort, {once: true})
    function fail(why: string, exitCode?: number | null): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      child.kill('SIGKILL')
      const childSays = stderr.trim().split('\n')[0]?.replace(/^connstorm lab: /, '') ?? ''
      // The lab refuses bad settings with exit 2 and one line: pass that on as the user's error.
      if (exitCode === 2 && childSays) reject(new UsageError(`lab: ${childSays}`))
      else reject(new LabStartError(`the lab target ${why}${childSays ? `: ${childSays}` : ''}`))
    }
    child.stdout!.on('data', () => {
      const newline = stdout.indexOf('\n')
      if (newline === -1) return
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      try {
        resolve(JSON.parse(stdout.slice(0, newline)) as LabListening)
      } catch {
        fail(`printed an unexpected first line: ${stdout.slice(0, newline)}`)
      }
    })
    child.once('exit', (code, exitSignal) => fail(`exited (${exitSignal ?? `code ${code}`}) before listening`, code))
    child.once('error', (error) => fail(`could not be started (${error.message})`))
  })

  return {
    pid: child.pid!,
    listening,
    go() {
      child.stdin?.write('go\n')
    },
    async stop() {
      await terminate(child, exited)
      const report = stdout.slice(stdout.indexOf('\n') + 1).trim()
      try {
        return report ? (JSON.parse(report) as LabSummary) : null
      } catch {
        return null
      }
    },
  }
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    await exited
    clearTimeout(timer)
  }
  child.stdin?.destroy()
}
