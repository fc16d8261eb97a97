import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'

import {afterEach, describe, expect, it} from 'vitest'

import {nativeAddon} from '../../src/native/addon.js'
import {RUN_JS, closedPort, runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {parseJsonResult} from '../helpers/result.js'

afterEach(stopAllLabs)

// The native connect loop (native/connect-loop.c) makes the connects of every storm that only
// connects and closes. Most of the suite's storms run through it (the default path); these
// tests pin down what is particular to it.
describe('the native connect loop', () => {
  it('is built by npm ci on a machine with a C compiler (this one: see README "Install")', () => {
    expect(nativeAddon, 'build/Release/connstorm.node is missing: run npm ci (scripts/build-native.sh says why it failed)').not.toBeNull()
  })

  it('keeps a paced schedule: every start counted once, at the asked rate, none charged less than its connect', async () => {
    const lab = await startLab(['--backlog', '4096'])
    const run = await runCli(['storm', lab.address, '--rate', '4000', '--duration', '1s', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe('native')
    expect(result.counts).toMatchObject({attempted: 4000, connected: 4000, pending: 0, notStarted: 0})
    expect(result.achievedRate).toBeGreaterThan(3960)
    expect(result.achievedRate).toBeLessThan(4040)
    expect(result.startWindowMs).toBeGreaterThan(990)
    expect(result.latencyUs.fromIntended.count).toBe(4000)
    expect(result.latencyUs.fromIntended.min).toBeGreaterThanOrEqual(result.latencyUs.fromActual.min)
    // The timeline gets each connect once, at the time the loop saw it end.
    expect(result.timeline!.connected.reduce((sum, n) => sum + n, 0)).toBe(4000)
  })

  it('connects to ::1, closes with FIN when asked, and times out what the listener drops', async () => {
    const lab = await startLab(['--host', '::1', '--backlog', '2', '--stall', '60s'])
    const run = await runCli(['storm', lab.address, '--burst', '10', '--close', 'fin', '--timeout', '600ms', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe('native')
    expect(result.target.family).toBe(6)
    expect(result.counts.byOutcome).toMatchObject({connected: 3, timeout: 7})
    expect(result.latencyUs.failedFromActual.min).toBeGreaterThanOrEqual(590_000)
  })

  it('binds IPv6 connects to an IPv6 --source', async () => {
    const lab = await startLab(['--host', '::1', '--backlog', '64'])
    const run = await runCli(['storm', lab.address, '--burst', '20', '--source', '::1', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe('native')
    expect(result.plan.sources).toEqual(['::1'])
    expect(result.counts.byOutcome).toMatchObject({connected: 20, addrNotAvail: 0, other: 0})
  })

  it('ends the run when the loop ends, not at its next 50 ms drain', async () => {
    const port = await closedPort()
    const durations = []
    for (let i = 0; i < 3; i++) {
      const run = await runCli(['storm', `127.0.0.1:${port}`, '--burst', '10', '--json'])
      const result = parseJsonResult(run.stdout)
      expect(result.counts.byOutcome.refused).toBe(10)
      durations.push(result.durationMs)
    }
    // 10 refusals take well under a millisecond; the best of three keeps a loaded machine's stall out.
    expect(Math.min(...durations)).toBeLessThan(40)
  })

  it('is used with --source, and not where a stream is needed (--probe, --close hold)', async () => {
    const lab = await startLab(['--backlog', '64'])
    const paths = []
    for (const flags of [['--probe', 'send:x', '--probe-timeout', '200ms'], ['--close', 'hold', '--max-duration', '500ms'], ['--source', '127.0.0.1']]) {
      const run = await runCli(['storm', lab.address, '--burst', '3', ...flags, '--json'])
      expect(run.code, run.stderr).toBe(0)
      paths.push(parseJsonResult(run.stdout).self.connectPath)
    }
    expect(paths).toEqual(['net', 'net', 'native'])
  })
})

const isRoot = process.getuid?.() === 0
const hasIp = !spawnSync('ip', ['-V'], {stdio: 'ignore'}).error

describe.skipIf(!isRoot || !hasIp)('--source on the native loop and on bare handles (root: a namespace of its own)', () => {
  const namespace = `cs${process.pid % 100_000}-nsrc`
  let lab: ChildProcess | undefined

  afterEach(() => {
    if (lab?.pid && lab.exitCode === null) lab.kill('SIGKILL')
    lab = undefined
    spawnSync('ip', ['netns', 'del', namespace], {stdio: 'ignore'})
  })

  it.each(['native', 'handle'] as const)('%s: binds connect g to address g mod A and the (g div A)-th port of the range; a taken port is retried with a kernel-picked one', async (path) => {
    const inside = (...command: string[]) => ['netns', 'exec', namespace, ...command]
    execFileSync('ip', ['netns', 'add', namespace])
    execFileSync('ip', ['-n', namespace, 'link', 'set', 'lo', 'up'])
    execFileSync('ip', inside('sysctl', '-qw', 'net.ipv4.ip_local_port_range=40000 40009'))
    // No reuse of TIME_WAIT pairs (loopback allows it by default): each client socket stays, after
    // its FIN, on the address and port it was bound to. The lab listens on 127.0.0.1:40000 — the
    // very pair connect 0 would bind — and closes only after the client's FIN.
    execFileSync('ip', inside('sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=0'))
    await new Promise<void>((resolve, reject) => {
      lab = spawn('ip', inside(process.execPath, RUN_JS, 'lab', '--port', '40000', '--backlog', '64', '--on-accept', 'hold', '--max-duration', '30s', '--json'))
      lab.stdout!.setEncoding('utf8').once('data', () => resolve())
      lab.once('exit', (code) => reject(new Error(`lab exited ${code}`)))
    })
    const storm = ['storm', '127.0.0.1:40000', '--burst', '30', '--source', '127.0.0.1-127.0.0.4', '--close', 'fin', '--json']
    const {CONNSTORM_SOCKET_PATH: _inherited, ...parentEnv} = process.env
    const env = path === 'native' ? parentEnv : {...parentEnv, CONNSTORM_SOCKET_PATH: path}
    const result = parseJsonResult(execFileSync('ip', inside(process.execPath, RUN_JS, ...storm), {encoding: 'utf8', env}))
    expect(result.self.connectPath).toBe(path)
    expect(result.counts.byOutcome).toMatchObject({connected: 30, addrNotAvail: 0})
    // Client sockets are the ones whose peer is the lab (ss: local address 4th column, peer 5th).
    const bound = execFileSync('ip', inside('ss', '-Htan'), {encoding: 'utf8'})
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((columns) => columns[4] === '127.0.0.1:40000')
      .map((columns) => columns[3]!)
    const planned = Array.from({length: 30}, (_, g) => `127.0.0.${(g % 4) + 1}:${40_000 + Math.floor(g / 4)}`)
    // 127.0.0.2–4 get exactly their planned ports.
    expect(bound.filter((pair) => !pair.startsWith('127.0.0.1:')).sort(), JSON.stringify(bound)).toEqual(planned.filter((pair) => !pair.startsWith('127.0.0.1:')).sort())
    // 127.0.0.1's first connect finds its port held by the lab and is retried on a kernel-picked
    // one. With SO_REUSEADDR the kernel searches the lower half of the range first, i.e. ports
    // planned for later connects: those then find their pair taken and are retried in turn, or
    // take over a finished one (Linux reuses a TIME_WAIT pair for a bound socket when timestamps
    // are on). So 7 or 8 sockets remain on 127.0.0.1, all in the range, none on 40000.
    const first = bound.filter((pair) => pair.startsWith('127.0.0.1:'))
    expect(first.length).toBeGreaterThanOrEqual(7)
    expect(first.length).toBeLessThanOrEqual(8)
    expect(new Set(first).size).toBe(first.length)
    expect(first).not.toContain('127.0.0.1:40000')
    for (const pair of first) expect(pair).toMatch(/^127\.0\.0\.1:4000\d$/)
  })
})
