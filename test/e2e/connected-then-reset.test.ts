import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {RUN_JS} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {decodeHistogram} from '../../src/results/histogram.js'
import type {StormResult} from '../../src/results/format.js'
import {moveToOwnNetworkNamespace} from '../helpers/own-namespace.js'

// Its storms count the counters of a network namespace of this file's own, so it runs beside other
// files (vitest.config.ts); it times nothing they could disturb.
moveToOwnNetworkNamespace()

/**
 * Connects reset after their handshake completed (ECONNRESET from connect(), docs/kernel.md §10)
 * are connected, then reset, on every connect path; and the lab measures its own accept-queue wait.
 */

type Path = 'native' | 'handle' | 'net'
const PATHS: Path[] = ['native', 'handle', 'net']

let directory: string
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'connstorm-ctr-'))
})
afterEach(() => {
  rmSync(directory, {recursive: true, force: true})
})

/** One storm on the given connect path: its text report (stdout) and its result (--out). */
function storm(path: Path, args: string[]): Promise<{text: string; result: StormResult}> {
  const {CONNSTORM_SOCKET_PATH: _inherited, ...parentEnv} = process.env
  const env = path === 'native' ? parentEnv : {...parentEnv, CONNSTORM_SOCKET_PATH: path}
  const out = join(directory, `${path}-${Math.random().toString(36).slice(2)}.json`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN_JS, 'storm', ...args, '--out', out], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000)
    child.on('close', (code) => {
      clearTimeout(killer)
      if (code === 0) resolve({text: stdout, result: JSON.parse(readFileSync(out, 'utf8')) as StormResult})
      else reject(new Error(`${path}: exit ${code}: ${stderr}`))
    })
  })
}

function verdictLine(text: string): string {
  return text.split('\n').find((line) => line.startsWith('verdict')) ?? ''
}

describe('a lab that resets every connection it accepts (--lab-on-accept rst)', () => {
  it('every connect of a burst of 300 at concurrency 64 gets a connect latency and none is reported reset, on all three paths; those reset before the client saw them connect are connected, then reset, and the verdict names the application', async () => {
    // Backlog 4096: nothing overflows, so every reset is the application's. Which connects the
    // lab's reset reaches before the client sees them connect is a race: on the net path (the
    // slowest client) 49–67 of 300 measured, on the native loop 0–7; so the net path must show some.
    const lab = ['--lab-on-accept', 'rst', '--lab-stall', '0', '--lab-backlog', '4096', '--burst', '300', '--concurrency', '64']
    const runs = await Promise.all(PATHS.map((path) => storm(path, lab)))
    for (const [index, {result, text}] of runs.entries()) {
      expect(result.self.connectPath).toBe(PATHS[index])
      expect(result.counts.byOutcome).toMatchObject({connected: 300, reset: 0})
      expect(decodeHistogram(result.histograms.fromActual).totalCount).toBe(300)
      const thenReset = result.counts.connectedThenReset ?? 0
      expect(thenReset).toBeLessThanOrEqual(300)
      if (thenReset > 0) {
        expect(verdictLine(text)).toContain(`${thenReset === 300 ? 'all 300' : `${thenReset} of 300`} connected, then were reset: the application accepted and reset them`)
        expect(verdictLine(text)).not.toContain('during the handshake')
      }
    }
    expect(runs[2]!.result.counts.connectedThenReset).toBeGreaterThan(0)
  }, 60_000)
})

describe.skipIf(skipUnless({root: true, tools: ['unshare', 'ip']}, 'isolated tcp_abort_on_overflow'))('tcp_abort_on_overflow=1 at a full accept queue (root: --isolate)', () => {
  it('names tcp_abort_on_overflow for the connects its RSTs reset (as many as TcpExtEmbryonicRsts), where the same storm with it off has none', async () => {
    // syncookies off: each SYN wave gets request socks up to the backlog (docs/kernel.md §9), and
    // a lab taking 5 a second leaves fewer free places in its queue (8+1) at the next wave than
    // that: the handshake ACKs of the rest meet the full queue. With abort_on_overflow=1 the
    // kernel answers them with RST at once (measured: 10 of 100, = EmbryonicRsts, every run);
    // with it off it drops them and the client's retransmit tries again.
    const common = ['--isolate', '--sysctl', 'net.ipv4.tcp_syncookies=0', '--lab-backlog', '8', '--lab-accept-rate', '5', '--burst', '100', '--timeout', '4s']
    const [on, off] = await Promise.all([
      storm('native', [...common, '--sysctl', 'net.ipv4.tcp_abort_on_overflow=1']),
      storm('native', [...common, '--sysctl', 'net.ipv4.tcp_abort_on_overflow=0']),
    ])
    const reset = on.result.counts.connectedThenReset ?? 0
    expect(reset).toBeGreaterThan(0)
    expect(on.result.counts.byOutcome.reset).toBe(0)
    // Counted where the RSTs were sent: the lab's host (--isolate's server namespace).
    expect(on.result.kernel!.serverEvidence!.counterDeltas.TcpExtEmbryonicRsts).toBe(reset)
    expect(verdictLine(on.text)).toContain(`${reset} of 100 connected, then were reset: tcp_abort_on_overflow=1 answered their handshake ACK at the full accept queue with RST`)
    expect(on.result.afterConnect!.mechanisms).toContain('abortOnOverflow')
    expect(off.result.counts.connectedThenReset).toBeUndefined()
    expect(verdictLine(off.text)).not.toContain('then were reset')
  }, 60_000)
})

describe("the lab's own accept-queue wait", () => {
  it('agrees with the wait the client derives from its first byte, within 10 ms + 10 % at every rank: echo, 200 ms per connection, burst 20, --probe send:x', async () => {
    // Backlog 32 holds all 20, so no handshake ACK is dropped: the lab counts from the moment the
    // kernel queued each connection, the client from its connect, and those are the same instant
    // only then. The lab answers each one 200 ms after accepting it, so the client's first byte
    // comes its accept-queue wait + 200 ms after its connect. 10 ms: the lab reads whole ms in
    // 4 ms steps (HZ=250) and its thread wakes late on a loaded machine; 10 %: the acceptance's
    // share for the later ranks.
    const {result, text} = await storm('net', ['--lab-on-accept', 'echo', '--lab-handler-delay', '200ms', '--lab-stall', '0', '--lab-backlog', '32', '--burst', '20', '--probe', 'send:x'])
    const wait = result.lab!.acceptWait!
    expect(wait.measured).toBe(20)
    // One value per connection, sorted (HDR keeps 3 digits: ≤ 0.1 % off, far inside the tolerance).
    const ranks = (encoded: string): number[] => {
      const histogram = decodeHistogram(encoded)
      return Array.from({length: histogram.totalCount}, (_, i) => histogram.getValueAtPercentile(((i + 0.5) / histogram.totalCount) * 100) / 1000)
    }
    const lab = ranks(wait.histogramUs)
    const client = ranks(result.probe!.histograms.responseAfterConnectUs).map((ms) => ms - 200)
    expect(lab).toHaveLength(20)
    expect(client).toHaveLength(20)
    // Beyond the acceptance's 10 ms + 10 %: the client reads its clock in its event loop, late by
    // up to that loop's own delay, which the run reports (on this shared machine, 10–40 ms at times).
    const loopLagMs = (result.self.eventLoopDelayUs?.max ?? 0) / 1000
    for (let rank = 0; rank < 20; rank++) {
      const tolerance = 10 + 0.1 * Math.max(lab[rank]!, client[rank]!) + loopLagMs
      expect(Math.abs(lab[rank]! - client[rank]!), `rank ${rank}: lab ${lab[rank]} ms, client ${client[rank]} ms, loop lag ${loopLagMs} ms`).toBeLessThanOrEqual(tolerance)
    }
    // Served one after the other, 200 ms each: the last waited for the 19 before it.
    expect(lab[19]!).toBeGreaterThanOrEqual(19 * 200 - 10)
    expect(text).toContain("lab wait  accept-queue wait as the lab read it at accept() (TCP_INFO, ms steps)")
    expect(text).toContain("the client's first response after connect, less the lab's 200 ms on each connection")
  }, 60_000)
})
