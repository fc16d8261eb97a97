import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {type Socket, connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {RUN_JS, closedPort, pollUntil, runCli, startScript} from '../helpers/cli.js'
import {moveToOwnNetworkNamespace} from '../helpers/own-namespace.js'

// Its storms count the counters of a network namespace of this file's own, so it runs beside other
// files (vitest.config.ts); it times nothing they could disturb.
moveToOwnNetworkNamespace()

// `connstorm watch PORT`: the listener's queue, backlog and own drops (sk_drops, docs/kernel.md §14)
// over netlink, no root needed. Loopback only.

let directory: string | undefined
const children: ChildProcess[] = []
const clients: Socket[] = []
afterEach(() => {
  if (directory !== undefined) rmSync(directory, {recursive: true, force: true})
  directory = undefined
  for (const client of clients.splice(0)) client.destroy()
  for (const child of children.splice(0)) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL')
})

function temporary(): string {
  directory = mkdtempSync(join(tmpdir(), 'connstorm-watch-'))
  return directory
}

// A listener on 127.0.0.1 with backlog 2 that never accepts: its accept queue holds 3 (backlog + 1).
// It blocks its event loop after printing its port (Atomics.wait ends after 60 s in case nobody kills it).
const NEVER_ACCEPTS = (port: number) => `
const server = require('node:net').createServer()
server.listen({port: ${port}, host: '127.0.0.1', backlog: 2}, () => {
  process.stdout.write(server.address().port + '\\n')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000)
})
`

interface Watching {
  child: ChildProcess
  stderr: () => string
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
}

function startWatch(args: string[]): Watching {
  const child = spawn(process.execPath, [RUN_JS, 'watch', ...args], {stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  child.stdout!.resume()
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.once('close', (code, signal) => resolve({code, signal})))
  return {child, stderr: () => stderr, exited}
}

interface SavedWatch {
  kind: string
  schemaVersion: number
  port: number
  stopReason: string
  source: string
  startedAtMs: number
  endedAtMs: number
  sysctls: Record<string, string>
  samples: {t: number; listeners: {recvQ: number; sendQ: number | null; drops: number | null}[]; counters?: Record<string, number>}[]
}

describe('connstorm watch PORT', () => {
  it('saves the listener’s peak queue 3 against backlog 2 and its 3 drops after 6 connects to a listener that never accepts, and ends 0 on SIGINT', async () => {
    const out = join(temporary(), 's.json')
    const {child: listener, firstLine} = await startScript(NEVER_ACCEPTS(0))
    children.push(listener)
    const port = Number(firstLine)
    const watch = startWatch([String(port), '--interval', '10ms', '--out', out])
    const said = await pollUntil(watch.stderr, (text) => text.includes('listener on port'), {timeoutMs: 10_000})
    expect(said).toContain(`listener on port ${port}: 127.0.0.1:${port} (backlog 2)`)
    // Backlog 2: 3 connects fill the queue, the SYNs of the other 3 are dropped, one drop each.
    // Their first retransmit comes 1 s later: the watch is stopped well before, at 400 ms.
    for (let i = 0; i < 6; i++) {
      const client = connect({host: '127.0.0.1', port})
      client.on('error', () => {})
      clients.push(client)
    }
    await new Promise((resolve) => setTimeout(resolve, 400))
    watch.child.kill('SIGINT')
    const {code} = await watch.exited
    expect(code).toBe(0)
    const saved = JSON.parse(readFileSync(out, 'utf8')) as SavedWatch
    expect(saved.kind).toBe('watch')
    expect(saved.schemaVersion).toBe(1)
    expect(saved.port).toBe(port)
    expect(saved.stopReason).toBe('interrupted')
    // The default path: the addon's sampling thread (watch-sampler.test.ts checks that it is that thread).
    expect(saved.source).toBe('netlink')
    const queues = saved.samples.flatMap((sample) => sample.listeners.map((l) => l.recvQ))
    expect(Math.max(...queues)).toBe(3)
    expect(saved.samples.at(-1)!.listeners[0]!.sendQ).toBe(2)
    expect(saved.samples.at(-1)!.listeners[0]!.drops! - saved.samples[0]!.listeners[0]!.drops!).toBe(3)
    expect(saved.sysctls['net.core.somaxconn']).toMatch(/^\d+$/)
    // Wall-clock timestamps, in order, inside the watch's window.
    for (const [index, sample] of saved.samples.entries()) {
      expect(sample.t).toBeGreaterThanOrEqual(saved.startedAtMs)
      expect(sample.t).toBeLessThanOrEqual(saved.endedAtMs)
      if (index > 0) expect(sample.t).toBeGreaterThanOrEqual(saved.samples[index - 1]!.t)
    }
    expect(watch.stderr()).toContain('peak queue 3/2+1, 3 dropped by the listener')
    // The first sample and the last carry the counters.
    expect(saved.samples[0]!.counters).toHaveProperty('TcpExtListenOverflows')
    expect(saved.samples.at(-1)!.counters).toHaveProperty('TcpExtListenOverflows')
  }, 20_000)

  it('says that nobody listens on the port yet, keeps watching, and says so again when a listener appears', async () => {
    const out = join(temporary(), 's.json')
    const port = await closedPort()
    const watch = startWatch([String(port), '--duration', '4s', '--out', out])
    const waiting = await pollUntil(watch.stderr, (text) => text.includes('yet'), {timeoutMs: 10_000})
    expect(waiting).toContain(`no listener on port ${port} yet: watching until one appears`)
    const {child: listener} = await startScript(NEVER_ACCEPTS(port))
    children.push(listener)
    const appeared = await pollUntil(watch.stderr, (text) => text.includes(`\nlistener on port ${port}:`), {timeoutMs: 5000})
    expect(appeared).toContain(`listener on port ${port}: 127.0.0.1:${port} (backlog 2)`)
    const {code} = await watch.exited
    expect(code).toBe(0)
    const saved = JSON.parse(readFileSync(out, 'utf8')) as SavedWatch
    expect(saved.stopReason).toBe('duration')
    expect(saved.samples[0]!.listeners).toEqual([])
    expect(saved.samples.at(-1)!.listeners).toHaveLength(1)
  }, 20_000)

  it.for(['SIGTERM', 'SIGHUP'] as const)('stops on %s like on Ctrl-C: the file is saved whole and the exit is 0', async (signal) => {
    const out = join(temporary(), 's.json')
    const port = await closedPort()
    const watch = startWatch([String(port), '--out', out])
    await pollUntil(watch.stderr, (text) => text.includes('yet'), {timeoutMs: 10_000})
    watch.child.kill(signal)
    expect((await watch.exited).code).toBe(0)
    expect((JSON.parse(readFileSync(out, 'utf8')) as SavedWatch).stopReason).toBe('interrupted')
  })

  it('stops by itself after --duration', async () => {
    const port = await closedPort()
    const done = await runCli(['watch', String(port), '--duration', '300ms'], {killAfterMs: 10_000})
    expect(done.code).toBe(0)
    expect(done.stderr).toMatch(/watched 0\.[2-4] s, \d+ samples: no listener seen/)
  })
})

// A listener with backlog 1 that never accepts: its accept queue is full at 2 (backlog + 1).
const FULL_AT_TWO = `
const server = require('node:net').createServer()
server.listen({port: 0, host: '127.0.0.1', backlog: 1}, () => {
  process.stdout.write(server.address().port + '\\n')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000)
})
`

/** /proc/net/netstat and /proc/net/snmp as nstat names them ("TcpExt:" header line, then its values), read here. */
function procCounters(): Record<string, number> {
  const counters: Record<string, number> = {}
  for (const file of ['/proc/net/netstat', '/proc/net/snmp']) {
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [section, ...names] = lines[i]!.split(/\s+/)
      const values = lines[i + 1]!.split(/\s+/).slice(1)
      for (const [index, name] of names.entries()) counters[section!.replace(':', '') + name] = Number(values[index])
    }
  }
  return counters
}

describe('connstorm watch reads what the kernel holds, on the addon’s sampling thread and without the addon', () => {
  let listener: ChildProcess | undefined
  let port = 0
  const held: Socket[] = []
  beforeAll(async () => {
    const started = await startScript(FULL_AT_TWO)
    listener = started.child
    port = Number(started.firstLine)
    // Two connects complete the handshake and wait in the accept queue (it holds backlog + 1 = 2).
    for (let i = 0; i < 2; i++) {
      const client = connect({host: '127.0.0.1', port})
      client.on('error', () => {})
      held.push(client)
      await new Promise((resolve) => client.once('connect', resolve))
    }
    // Three more find it full: the kernel drops each SYN, one drop each. Closed before their first
    // retransmit (1 s later), they send nothing more: the count stays at 3.
    const extra: Socket[] = []
    for (let i = 0; i < 3; i++) {
      const client = connect({host: '127.0.0.1', port})
      client.on('error', () => {})
      extra.push(client)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
    for (const client of extra) client.destroy()
  })
  afterAll(() => {
    for (const client of held.splice(0)) client.destroy()
    if (listener?.pid !== undefined && listener.exitCode === null) process.kill(listener.pid, 'SIGKILL')
  })

  it.for([
    ['the addon’s sampling thread', {}, 'netlink'],
    ['CONNSTORM_ADDON=off (ss, a JavaScript loop)', {CONNSTORM_ADDON: 'off'}, 'ss'],
  ] as const)('%s: every sample of a listener with backlog 1 holding 2 unaccepted connections after 3 dropped SYNs is Recv-Q 2, Send-Q 1, 3 drops', async ([, env, source]) => {
    const out = join(temporary(), 's.json')
    const before = procCounters()
    const done = await runCli(['watch', String(port), '--interval', '10ms', '--duration', '300ms', '--out', out], {killAfterMs: 10_000, env})
    const after = procCounters()
    expect(done.code).toBe(0)
    const saved = JSON.parse(readFileSync(out, 'utf8')) as SavedWatch
    expect(saved.source).toBe(source)
    // The counters the watch read (one from each file) lie between this test's own reads of the
    // same files just before and just after it (equal on a quiet namespace).
    for (const name of ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpPassiveOpens']) {
      for (const sample of [saved.samples[0]!, saved.samples.at(-1)!]) {
        expect(sample.counters![name]).toBeGreaterThanOrEqual(before[name]!)
        expect(sample.counters![name]).toBeLessThanOrEqual(after[name]!)
      }
    }
    // ss is a subprocess per tick: fewer samples there, but at least the first and the last.
    expect(saved.samples.length).toBeGreaterThanOrEqual(2)
    for (const sample of saved.samples) expect(sample.listeners).toEqual([{host: '127.0.0.1', port, family: 4, recvQ: 2, sendQ: 1, drops: 3}])
    expect(done.stderr).toContain('peak queue 2/1+1, 0 dropped by the listener')
  })
})

describe('connstorm watch refuses bad input in one line, exit 2, and writes nothing', () => {
  it.for([
    ['0', [], "PORT: invalid value '0'"],
    ['65536', [], "PORT: invalid value '65536'"],
    ['http', [], "PORT: invalid value 'http'"],
    ['localhost:80', [], "PORT: invalid value 'localhost:80'"],
    ['::1:80', [], "PORT: invalid value '::1:80'"],
    ['80', ['--duration', '0'], "--duration: invalid value '0'"],
    ['80', ['--duration', 'soon'], "--duration: invalid value 'soon'"],
    ['80', ['--interval', '5ms'], "--interval: invalid value '5ms': expected a duration from 10ms to 1s"],
    ['80', ['--interval', '2s'], "--interval: invalid value '2s'"],
  ] as const)('watch %s %j → %s', async ([port, flags, message]) => {
    // A 1 s bound where the case does not set --duration: a watch that wrongly started ends anyway.
    const bound = (flags as readonly string[]).includes('--duration') ? [] : ['--duration', '1s']
    const done = await runCli(['watch', port, ...flags, ...bound], {killAfterMs: 10_000})
    expect(done.code).toBe(2)
    expect(done.stderr.trim().split('\n')).toHaveLength(1)
    expect(done.stderr).toContain(`connstorm watch: ${message}`)
  })

  it('refuses an --out it cannot write before watching, and leaves no file', async () => {
    const dir = temporary()
    const out = join(dir, 'missing', 's.json')
    const done = await runCli(['watch', '80', '--duration', '1s', '--out', out], {killAfterMs: 10_000})
    expect(done.code).toBe(2)
    expect(done.stderr.trim().split('\n')).toEqual([`connstorm watch: --out: cannot write '${out}' (ENOENT): its directory must exist and be writable`])
    expect(readdirSync(dir)).toEqual([])
  })

  it('refuses a directory as --out', async () => {
    const dir = temporary()
    writeFileSync(join(dir, 'keep'), 'x')
    const done = await runCli(['watch', '80', '--duration', '1s', '--out', dir], {killAfterMs: 10_000})
    expect(done.code).toBe(2)
    expect(done.stderr).toContain(`--out: '${dir}' is a directory`)
    expect(existsSync(join(dir, 'keep'))).toBe(true)
  })
})
