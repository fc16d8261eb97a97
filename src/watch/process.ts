import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {WatchFile} from '../results/format.js'
import {readWatchFile} from './file.js'

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface WatchProcess {
  pid: number
  /** resolves once the watch has taken its first sample (it said whether the port has a listener) */
  readonly ready: Promise<void>
  /** stops the watch (SIGINT), waits for it and returns its file; rejects if it failed */
  stop(): Promise<WatchFile>
}

export interface WatchProcessOptions {
  /** argv run before node, e.g. ['nsenter', '--net=/proc/PID/ns/net', '--'] (netns/topology.ts inside(side, [])) */
  wrap?: readonly string[]
  intervalMs?: number
  /** the watch ends by itself after this long even if nobody stops it */
  maxDurationMs: number
}

/**
 * `connstorm watch PORT` as a process of its own — for the server's side of a storm whose
 * listener is in another network namespace (two hosts on one machine): the watch must run where
 * the listener is, the storm where the client is. Its file goes to a temporary directory that
 * stop() removes.
 */
export function startWatchProcess(port: number, {wrap = [], intervalMs = 10, maxDurationMs}: WatchProcessOptions): WatchProcess {
  const directory = mkdtempSync(join(tmpdir(), 'connstorm-watch-'))
  const out = join(directory, 'watch.json')
  const argv = [...wrap, process.execPath, RUN_JS, 'watch', String(port), '--interval', `${intervalMs}ms`, '--duration', `${Math.ceil(maxDurationMs)}ms`, '--out', out]
  const child = spawn(argv[0]!, argv.slice(1), {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  const closed = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null))
    child.once('close', (code) => resolve(code))
  })
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
      // The second line says whether the port has a listener: the first sample is taken.
      if (stderr.split('\n').length > 2) resolve()
    })
    void closed.then((code) => reject(new Error(`connstorm watch exited (${code}) before its first sample: ${stderr.trim()}`)))
  })
  ready.catch(() => {})
  let stopping: Promise<WatchFile> | undefined
  return {
    pid: child.pid ?? -1,
    ready,
    stop() {
      stopping ??= (async () => {
        try {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
          const code = await closed
          if (code !== 0) throw new Error(`connstorm watch exited (${code}): ${stderr.trim()}`)
          return readWatchFile(out, 'watch')
        } finally {
          rmSync(directory, {recursive: true, force: true})
        }
      })()
      return stopping
    },
  }
}
