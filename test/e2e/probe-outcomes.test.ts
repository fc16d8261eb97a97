import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {parseJsonResult} from '../helpers/result.js'

// What a probe ends with, on each connect path: outcomes, counts, error codes, and waits that a
// busy machine can only lengthen (a first byte ≥ 200 ms after connect, a --probe-timeout of 1 s
// against a bound of 3 s). Nothing here needs a quiet machine, so the file runs side by side with
// others (vitest.config.ts); what does (the two paths' first-byte times within 1 ms + 10 %) is
// probe.test.ts's, one file at a time.
//
// Labs and servers are stopped after the file: the concurrent tests below each start their own,
// and one test's end must not stop a sibling's.
afterAll(stopAllLabs)
const servers = new Set<ChildProcess>()
afterAll(() => {
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


/** Every probe outcome at 0: a test names the ones it expects, so any other is a failure. */
const NO_OUTCOMES = {ok: 0, probeTimeout: 0, resetAfterConnect: 0, closedBeforeReply: 0, tlsError: 0, unexpectedReply: 0, probeError: 0}

describe.concurrent('--probe: what happens after connect', () => {
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
