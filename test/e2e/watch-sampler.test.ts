import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {type Server, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {RUN_JS, pollUntil, runCli} from '../helpers/cli.js'

// `connstorm watch`'s sampling thread (native/watch-sampler.c): its ticks and its stop. It times
// things (a grid, a stop), so it runs one file at a time (vitest.config.ts). Loopback only.

let directory: string | undefined
const children: ChildProcess[] = []
let server: Server
let port = 0
beforeAll(async () => {
  server = createServer()
  await new Promise<void>((resolve) => server.listen({port: 0, host: '127.0.0.1', backlog: 8}, resolve))
  port = (server.address() as {port: number}).port
})
afterAll(() => server.close())
afterEach(() => {
  if (directory !== undefined) rmSync(directory, {recursive: true, force: true})
  directory = undefined
  for (const child of children.splice(0)) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL')
})

function temporary(): string {
  directory = mkdtempSync(join(tmpdir(), 'connstorm-watch-sampler-'))
  return directory
}

interface SavedWatch {
  stopReason: string
  source: string
  samples: {t: number}[]
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

describe('the watch’s sampling thread', () => {
  it('--interval 10ms --duration 500ms: 51 samples (ticks 0 to 49, and the last at the deadline), on the 10 ms grid from the first', async () => {
    const out = join(temporary(), 's.json')
    const done = await runCli(['watch', String(port), '--interval', '10ms', '--duration', '500ms', '--out', out], {killAfterMs: 10_000})
    expect(done.code).toBe(0)
    const saved = JSON.parse(readFileSync(out, 'utf8')) as SavedWatch
    expect(saved.source).toBe('netlink')
    expect(saved.stopReason).toBe('duration')
    expect(saved.samples).toHaveLength(51)
    const first = saved.samples[0]!.t
    // Sample k (k < 50) is due 10·k ms after the first. Each lands a wake-up late at most (and the
    // wall clock is whole ms: up to 1 ms early), so half of them lie within −1…+2 ms of their
    // tick even when a loaded machine delays a few; a loop that slept 10 ms after each read would
    // drift by a read and a wake-up per tick, its median some 25 ticks' worth of that late.
    const offsets = saved.samples.slice(0, 50).map((sample, k) => sample.t - first - 10 * k)
    expect(median(offsets)).toBeGreaterThanOrEqual(-1)
    expect(median(offsets)).toBeLessThanOrEqual(2)
    // The last at the deadline, 500 ms after the start; 20 ms for a late wake-up on a loaded machine.
    expect(saved.samples[50]!.t - first).toBeGreaterThanOrEqual(499)
    expect(saved.samples[50]!.t - first).toBeLessThanOrEqual(520)
  })

  it('runs as a thread named connstorm-watch, and a SIGINT in the middle of a 1 s interval ends the watch within 700 ms with 2 samples: the first and the one at the stop', async () => {
    const out = join(temporary(), 's.json')
    const child = spawn(process.execPath, [RUN_JS, 'watch', String(port), '--interval', '1s', '--out', out], {stdio: ['ignore', 'ignore', 'pipe']})
    children.push(child)
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve))
    // The second line says whether the port has a listener: the first sample is taken.
    await pollUntil(() => stderr, (text) => text.includes(`listener on port ${port}`), {timeoutMs: 10_000})
    const threads = readdirSync(`/proc/${child.pid}/task`).map((tid) => readFileSync(`/proc/${child.pid}/task/${tid}/comm`, 'utf8').trim())
    expect(threads).toContain('connstorm-watch')
    const stoppedAt = Date.now()
    child.kill('SIGINT')
    expect(await closed).toBe(0)
    // The thread waits for its next tick 1 s away; a stop must wake it, not wait for it. 700 ms
    // covers saving the file and Node's exit on a loaded machine (~0.1–0.3 s here).
    expect(Date.now() - stoppedAt).toBeLessThan(700)
    const saved = JSON.parse(readFileSync(out, 'utf8')) as SavedWatch
    expect(saved.stopReason).toBe('interrupted')
    expect(saved.samples).toHaveLength(2)
  })
})
