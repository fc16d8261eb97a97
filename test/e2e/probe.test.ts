import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {parseJsonResult} from '../helpers/result.js'

// Labs are stopped after the file: the concurrent tests below each start their own, and one test's
// end must not stop a sibling's lab.
afterAll(stopAllLabs)
const servers = new Set<ChildProcess>()
afterEach(() => {
  for (const server of servers) server.kill('SIGKILL')
  servers.clear()
})
const directory = mkdtempSync(join(tmpdir(), 'connstorm-probe-'))
afterAll(() => rmSync(directory, {recursive: true, force: true}))

/** A server in a child process (never in the test's own process, whose loop would be measured too). */
function startServer(source: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {stdio: ['ignore', 'pipe', 'inherit']})
    servers.add(child)
    child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(Number(line.trim())))
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)))
    setTimeout(() => child.kill('SIGKILL'), 60_000).unref()
  })
}

/** Picks the connect path of the storms this file starts (CONNSTORM_SOCKET_PATH, inherited by runCli); undefined: the default. */
function setSocketPath(value: string | undefined): void {
  if (value === undefined) delete process.env.CONNSTORM_SOCKET_PATH
  else process.env.CONNSTORM_SOCKET_PATH = value
}

/** Every probe outcome at 0: a test names the ones it expects, so any other is a failure. */
const NO_OUTCOMES = {ok: 0, probeTimeout: 0, resetAfterConnect: 0, closedBeforeReply: 0, tlsError: 0, unexpectedReply: 0, probeError: 0}

describe('--probe: what happens after connect', () => {
  it('times status and headers of one HTTP/1.1 request on each connection, against node:http and the lab', async () => {
    const port = await startServer(`
      import {createServer} from 'node:http'
      const server = createServer((request, response) => response.writeHead(204).end())
      server.listen(0, '127.0.0.1', () => console.log(server.address().port))`)
    const run = await runCli(['storm', `127.0.0.1:${port}`, '--burst', '20', '--probe', 'http:/health', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.probe).toMatchObject({kind: 'http', outcomes: {ok: 20}, httpStatus: {'204': 20}})
    expect(result.probe!.latencyUs.httpHeaders.count).toBe(20)

    const lab = await startLab(['--backlog', '64', '--on-accept', 'http'])
    const viaLab = await runCli(['storm', lab.address, '--burst', '10', '--probe', 'http'])
    expect(viaLab.code, viaLab.stderr).toBe(0)
    expect(viaLab.stdout).toMatch(/^ {10}HTTP status: 200 ×10$/m)
    expect(viaLab.stdout).toMatch(/^ {10}HTTP headers \(from intended start\) +min/m)
  })

  // The only live TLS test: openssl makes its certificate. npm test's set-up installs openssl; with
  // CI=true a missing one fails the file instead of skipping.
  it.skipIf(skipUnless({tools: ['openssl']}, 'the live TLS test'))(
    'reports a self-signed certificate as tlsError, and times the handshake with --insecure (said loudly)',
    async () => {
      const key = join(directory, 'key.pem')
      const cert = join(directory, 'cert.pem')
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], {stdio: 'ignore'})
      const port = await startServer(`
        import {readFileSync} from 'node:fs'
        import {createServer} from 'node:https'
        const server = createServer({key: readFileSync(${JSON.stringify(key)}), cert: readFileSync(${JSON.stringify(cert)})}, (request, response) => response.end('ok'))
        server.listen(0, '127.0.0.1', () => console.log(server.address().port))`)
      const strictRun = await runCli(['storm', `127.0.0.1:${port}`, '--burst', '5', '--probe', 'https', '--json'])
      expect(strictRun.code, strictRun.stderr).toBe(0)
      const strict = parseJsonResult(strictRun.stdout)
      expect(strict.probe!.outcomes).toEqual({...NO_OUTCOMES, tlsError: 5})
      expect(strict.probe!.errorCodes).toEqual({DEPTH_ZERO_SELF_SIGNED_CERT: 5})

      const insecure = await runCli(['storm', `127.0.0.1:${port}`, '--burst', '5', '--probe', 'https', '--insecure'])
      expect(insecure.code, insecure.stderr).toBe(0)
      expect(insecure.stdout).toMatch(/WARNING: --insecure: TLS certificates were NOT verified/)
      expect(insecure.stdout).toMatch(/^ {10}TLS handshake done \(from intended\) +min .*\(n=5\)$/m)
      expect(insecure.stdout).toMatch(/HTTP status: 200 ×5/)
    },
  )

})

/**
 * The first-byte probes run on the native loop (the default) and on net.Socket
 * (CONNSTORM_SOCKET_PATH=net, as where the addon is missing): every rule below holds on both.
 */
describe.concurrent.each([
  {path: 'native', socketPath: undefined},
  {path: 'net', socketPath: 'net'},
])('--probe send: and banner on the $path path', ({path, socketPath}) => {
  // Each storm gets its path in its own environment: the tests of both paths run concurrently.
  const env = {CONNSTORM_SOCKET_PATH: socketPath}

  it('ends a probe that never gets an answer at --probe-timeout, and the run still ends by --max-duration', async () => {
    const lab = await startLab(['--backlog', '64', '--on-accept', 'hold'])
    const run = await runCli(['storm', lab.address, '--burst', '10', '--probe', 'banner', '--probe-timeout', '1s', '--json'], {env})
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe(path)
    expect(result.probe!.outcomes).toEqual({...NO_OUTCOMES, probeTimeout: 10})
    expect(result.durationMs).toBeGreaterThanOrEqual(1000)
    expect(result.durationMs).toBeLessThan(3000)

    const cut = parseJsonResult((await runCli(['storm', lab.address, '--burst', '10', '--probe', 'banner', '--max-duration', '1s', '--json'], {env})).stdout)
    expect(cut).toMatchObject({stopReason: 'deadline', counts: {connected: 10, pending: 0}, probe: {pending: 10}})
  })

  it('checks the reply with --expect: echo containing the text is ok for all 5', async () => {
    const echo = await startLab(['--backlog', '64', '--on-accept', 'echo'])
    const run = await runCli(['storm', echo.address, '--burst', '5', '--probe', String.raw`send:PING\r\n`, '--expect', 'PING', '--json'], {env})
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe(path)
    expect(result.probe!.outcomes).toEqual({...NO_OUTCOMES, ok: 5})
    expect(result.probe!.latencyUs.firstByte.count).toBe(5)
  })

  it('ends as probeTimeout when the server speaks without the expected text and keeps the connection open', async () => {
    // The lab's banner ("connstorm-lab ready") lacks SSH-2.0 and the lab holds the connection: only the deadline ends the probe.
    const banner = await startLab(['--backlog', '64', '--on-accept', 'banner'])
    const run = await runCli(['storm', banner.address, '--burst', '3', '--probe', 'banner', '--expect', 'SSH-2.0', '--probe-timeout', '500ms', '--json'], {env})
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe(path)
    expect(result.probe!.outcomes).toEqual({...NO_OUTCOMES, probeTimeout: 3})
    // The banner came, so its first byte is timed though the probe timed out.
    expect(result.probe!.latencyUs.firstByte.count).toBe(3)
  })

  it('reports unexpectedReply when the server answers without the expected text and then closes', async () => {
    // The lab's http mode answers a request with a 200 and a FIN: a reply, but not the one expected.
    const http = await startLab(['--backlog', '64', '--on-accept', 'http'])
    const run = await runCli(['storm', http.address, '--burst', '4', '--probe', String.raw`send:GET / HTTP/1.1\r\n\r\n`, '--expect', 'SSH-2.0', '--probe-timeout', '5s', '--json'], {env})
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe(path)
    expect(result.probe!.outcomes).toEqual({...NO_OUTCOMES, unexpectedReply: 4})
  })

  it('counts a first byte ≥ 200 ms after the connect as an accept wait', async () => {
    // The lab spends 250 ms on each connection before its banner, accepting nothing meanwhile: the
    // 3 connects complete at once (the kernel's queue) and hear back 250, 500 and 750 ms later.
    const slow = await startLab(['--backlog', '64', '--on-accept', 'banner', '--handler-delay', '250ms'])
    const run = await runCli(['storm', slow.address, '--burst', '3', '--probe', 'banner', '--probe-timeout', '5s', '--json'], {env})
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe(path)
    expect(result.probe!.outcomes).toEqual({...NO_OUTCOMES, ok: 3})
    expect(result.acceptWait!.admittedNotAccepted).toBe(3)
    expect(result.probe!.latencyUs.responseAfterConnect.min).toBeGreaterThanOrEqual(250_000)
  })

  it('reports closedBeforeReply when the server closes (FIN) before sending a byte, resetAfterConnect (ECONNRESET) when it resets', async () => {
    // The lab's close mode ends each accepted connection at once with a FIN, before any data.
    const close = await startLab(['--backlog', '64', '--on-accept', 'close'])
    const run = await runCli(['storm', close.address, '--burst', '4', '--probe', 'banner', '--probe-timeout', '5s', '--json'], {env})
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.self.connectPath).toBe(path)
    expect(result.counts.connected).toBe(4)
    expect(result.probe!.outcomes).toEqual({...NO_OUTCOMES, closedBeforeReply: 4})
    expect(result.probe!.latencyUs.firstByte.count).toBe(0)

    // rst: an RST instead, before the probe started (connected, then reset) or while it waited.
    const rst = await startLab(['--backlog', '64', '--on-accept', 'rst'])
    const reset = parseJsonResult((await runCli(['storm', rst.address, '--burst', '4', '--probe', 'send:x', '--probe-timeout', '5s', '--json'], {env})).stdout)
    expect(reset.counts.connected).toBe(4)
    expect(reset.probe!.outcomes).toEqual({...NO_OUTCOMES, resetAfterConnect: 4})
    expect(reset.probe!.errorCodes).toEqual({ECONNRESET: 4})
  })
})

it('times the first byte alike on the native loop and on net.Socket: within 1 ms + 10 %', async () => {
  // The lab spends 30 ms on each connection before its banner and accepts nothing meanwhile: of 5
  // connects made at once, the k-th hears its first byte k × 30 ms after its start, on either path.
  const lab = await startLab(['--backlog', '64', '--on-accept', 'banner', '--handler-delay', '30ms'])
  const inherited = process.env.CONNSTORM_SOCKET_PATH
  const figures = ['min', 'p50', 'max'] as const
  const best: Record<string, Record<(typeof figures)[number], number>> = {}
  try {
    // Two rounds, the paths alternating: a busy machine only ever adds delay (to the lab or to us),
    // so each path's least of two is the closer to its own cost.
    for (let round = 0; round < 2; round++) {
      for (const socketPath of [undefined, 'net']) {
        setSocketPath(socketPath)
        const run = await runCli(['storm', lab.address, '--burst', '5', '--probe', 'banner', '--probe-timeout', '5s', '--json'])
        expect(run.code, run.stderr).toBe(0)
        const result = parseJsonResult(run.stdout)
        expect(result.probe!.outcomes).toEqual({...NO_OUTCOMES, ok: 5})
        const firstByte = result.probe!.latencyUs.firstByte
        const path = result.self.connectPath
        best[path] ??= {min: Infinity, p50: Infinity, max: Infinity}
        for (const figure of figures) best[path]![figure] = Math.min(best[path]![figure], firstByte[figure])
      }
    }
  } finally {
    setSocketPath(inherited)
  }
  expect(Object.keys(best).sort()).toEqual(['native', 'net'])
  for (const path of ['native', 'net']) {
    expect(best[path]!.min).toBeGreaterThanOrEqual(30_000)
    expect(best[path]!.max).toBeGreaterThanOrEqual(150_000)
  }
  // Both time the same waits of the same server: they may differ by their own scheduling, not more.
  for (const figure of figures) {
    const {native, net} = {native: best.native![figure], net: best.net![figure]}
    expect(Math.abs(native - net), `${figure}: native ${native} µs, net ${net} µs`).toBeLessThanOrEqual(1000 + 0.1 * net)
  }
})

// These need a namespace of their own (clean counters, sysctls set only there): root only.
describe.skipIf(skipUnless({root: true, tools: ['unshare', 'ip']}, 'isolated accept-queue wait'))('accept-queue wait, isolated (root)', () => {
  it('shows what connect latency hides: connected by the 1 s (under load 2 s) retransmit, first byte 200 ms apart up to ≥ 3 s, ACK-time overflow named', async () => {
    const run = await runCli(['storm', '--isolate', '--lab-backlog', '5', '--lab-stall', '0', '--lab-on-accept', 'echo', '--lab-handler-delay', '200ms', '--burst', '20', '--probe', 'send:x', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.counts.connected).toBe(20)
    // Connected at once or by the 1 s retransmit; when the loaded machine delays the lab's single
    // thread (200 ms per connection) past that moment, its queue is still full and a few connects
    // need the 2 s one (p90 2.04 s seen with the suite's files in parallel) — still well inside the
    // first-byte wait below, which is the point: connect latency hides the accept-queue wait.
    const steps = result.attribution!.steps.map((step) => step.retransmits)
    expect(steps.every((k) => k <= 2), `steps ${steps.join(', ')}`).toBe(true)
    expect(result.latencyUs.fromActual.max).toBeLessThan(2_500_000)
    expect(result.probe!.outcomes.ok).toBe(20)
    expect(result.probe!.latencyUs.firstByte.max).toBeGreaterThanOrEqual(3_000_000)
    expect(result.acceptWait!.admittedNotAccepted).toBeGreaterThanOrEqual(10)
    expect(result.afterConnect!.mechanisms).toContain('ackDropped')
    // Counted where the ACKs were dropped: the lab's host (--isolate's server namespace).
    expect(result.kernel!.serverEvidence!.counterDeltas.TcpExtListenOverflows).toBeGreaterThan(0)
  })

  // "--isolate --sysctl net.ipv4.tcp_abort_on_overflow=1 with a queue that overflows at ACK time:
  // connects succeed and resetAfterConnect > 0; the verdict names abort_on_overflow" is the
  // abort-on-overflow incident (--link-rate puts the ACKs behind the SYNs), asserted in
  // test/e2e/incidents.test.ts: every connect succeeded, resetAfterConnect > 0, abortOnOverflow named.
})
