import {type ChildProcess, spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {LabStartError} from '../errors.js'
import type {LabListening, LabSummary} from './lab.js'
import {type LabOptions, labArguments} from './options.js'

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const START_TIMEOUT_MS = 15_000
const STOP_GRACE_MS = 3000

export interface LabProcess {
  pid: number
  listening: LabListening
  /** Stops the lab (SIGTERM, then SIGKILL after a grace period) and returns its own exit report. */
  stop(): Promise<LabSummary | null>
}

/**
 * Starts `connstorm lab` as a child process — never in the storm's process, whose timing it
 * would distort (DESIGN.md) — and waits for its first stdout line, the listening address.
 */
export async function startLabProcess(options: LabOptions): Promise<LabProcess> {
  // --watch-stdin: the lab exits when our end of its stdin closes, even if we are SIGKILLed.
  const child = spawn(process.execPath, [RUN_JS, 'lab', '--json', '--watch-stdin', ...labArguments(options)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))

  const listening = await new Promise<LabListening>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not report its address within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS)
    function fail(why: string): void {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new LabStartError(`the lab target ${why}${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`))
    }
    child.stdout!.on('data', () => {
      const newline = stdout.indexOf('\n')
      if (newline === -1) return
      clearTimeout(timer)
      try {
        resolve(JSON.parse(stdout.slice(0, newline)) as LabListening)
      } catch {
        fail(`printed an unexpected first line: ${stdout.slice(0, newline)}`)
      }
    })
    child.once('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before listening`))
    child.once('error', (error) => fail(`could not be started (${error.message})`))
  })

  return {
    pid: child.pid!,
    listening,
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
