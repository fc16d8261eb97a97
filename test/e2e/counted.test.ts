import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {type AddressInfo, Socket, createServer} from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {RUN_JS, startLab, stopAllLabs} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {parseJsonResult} from '../helpers/result.js'
import type {StormResult} from '../../src/results/format.js'
import {moveToOwnNetworkNamespace} from '../helpers/own-namespace.js'

// Its storms count the counters of a network namespace of this file's own, so it runs beside other
// files (vitest.config.ts); it times nothing they could disturb.
moveToOwnNetworkNamespace()

afterEach(stopAllLabs)

type Path = 'native' | 'handle' | 'net'
const PATHS: Path[] = ['native', 'handle', 'net']

/** One storm on the given connect path (docs/guide.md "connect paths"), its --json result. */
function storm(path: Path, args: string[]): Promise<StormResult> {
  const {CONNSTORM_SOCKET_PATH: _inherited, ...parentEnv} = process.env
  const env = path === 'native' ? parentEnv : {...parentEnv, CONNSTORM_SOCKET_PATH: path}
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN_JS, 'storm', ...args, '--json'], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('close', (code) => {
      clearTimeout(killer)
      if (code === 0) resolve(parseJsonResult(stdout))
      else reject(new Error(`${path}: exit ${code}: ${stderr}`))
    })
  })
}

/** The host's ladder, read here from /proc (not from the code under test). */
function hostSysctl(name: string): string {
  return readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim()
}

const addon = createRequire(import.meta.url)('../../build/Release/connstorm.node') as {
  tcpInfo(fd: number): Record<string, number | null> | null
  synRetransmits(fd: number): number | null
}

describe('the addon\'s TCP_INFO reader', () => {
  it('reads an established loopback connect: no retransmit, state 1 (established), and the 6.7+ RTO counts present (0) on this kernel', async () => {
    // The server keeps its end open, so the client stays established while it is read.
    const accepted: Socket[] = []
    const server = createServer((socket) => accepted.push(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const socket = new Socket()
    try {
      await new Promise<void>((resolve, reject) => socket.connect((server.address() as AddressInfo).port, '127.0.0.1', resolve).once('error', reject))
      const fd = (socket as unknown as {_handle: {fd: number}})._handle.fd
      // 248 bytes: the layout up to tcpi_total_rto_time (Linux 6.7+), which is all we ask for.
      expect(addon.tcpInfo(fd)).toMatchObject({totalRetrans: 0, totalRto: 0, totalRtoRecoveries: 0, totalRtoTimeMs: 0, state: 1, length: 248})
      expect(addon.synRetransmits(fd)).toBe(0)
    } finally {
      socket.destroy()
      for (const peer of accepted) peer.destroy()
      server.close()
    }
  })

  it('answers null for a descriptor that is no TCP socket (0: stdin), and refuses a non-number', () => {
    expect(addon.tcpInfo(0)).toBeNull()
    expect(addon.synRetransmits(0)).toBeNull()
    expect(() => addon.tcpInfo('3' as unknown as number)).toThrow('connstorm native: tcpInfo(fd) needs a descriptor')
  })
})

describe('counted SYN retransmits, every connect path', () => {
  it('gives the connects that timed out against a listener that never accepts the exact count the kernel sent before the timeout: 18 of 20 with k retransmits, k + 1 SYNs (5 on the linear ladder)', async () => {
    // Backlog 1: the accept queue holds 2, the other 18 never get a SYN-ACK. Linear ladder (this
    // kernel's default, 6 and 4): SYNs at 0, 1, 2, 3, 4, 5 s left before a 5.5 s timeout (the 5 s
    // one at most ~0.3 s late: docs/kernel.md §2; the next is at 7 s), so 6 SYNs = 5 retransmits;
    // classic: 0, 1, 3 s, 2 retransmits (the next at 7 s).
    const linear = hostSysctl('tcp_syn_linear_timeouts') === '4' && hostSysctl('tcp_syn_retries') === '6'
    const classic = hostSysctl('tcp_syn_linear_timeouts') === '0' && Number(hostSysctl('tcp_syn_retries')) >= 3
    // One lab per path (its accept queue is the 2 that connect), the three runs side by side.
    const labs = await Promise.all(PATHS.map(() => startLab(['--backlog', '1', '--stall', '60s'])))
    const results = await Promise.all(PATHS.map((path, index) => storm(path, [labs[index]!.address, '--burst', '20', '--timeout', '5.5s'])))
    for (const [index, result] of results.entries()) {
      expect(result.self.connectPath).toBe(PATHS[index])
      expect(result.counts.byOutcome).toMatchObject({connected: 2, timeout: 18})
      const timedOut = result.counts.countedRetransmits!.byOutcome.timeout!
      expect(Object.values(timedOut)).toEqual([18]) // every one counted, all on one count
      const k = Number(Object.keys(timedOut)[0])
      if (linear) expect(k).toBe(5)
      if (classic) expect(k).toBe(2)
      expect(result.attribution!.timedOut).toEqual([{atLeastRetransmits: k, retransmits: k, synsSent: k + 1, connects: 18, source: 'counted'}])
    }
  }, 30_000)
})

describe.skipIf(skipUnless({root: true, tools: ['unshare', 'ip']}, 'isolated counted attribution'))('counted SYN retransmits, storm alone in a namespace (root)', () => {
  it('counts 17 connects with no retransmit and the 83 a 2.5 s stall released with 3 each (the linear ladder\'s 3 s SYN), Σ k·n = the namespace\'s TcpExtTCPSynRetrans = 249, the same on all three paths', async () => {
    const ladder = ['--sysctl', 'net.ipv4.tcp_syn_linear_timeouts=4', '--sysctl', 'net.ipv4.tcp_syn_retries=6']
    const results = await Promise.all(PATHS.map((path) => storm(path, ['--isolate', ...ladder, '--lab-backlog', '16', '--lab-stall', '2.5s', '--burst', '100'])))
    for (const [index, result] of results.entries()) {
      expect(result.self.connectPath).toBe(PATHS[index])
      expect(result.counts.countedRetransmits).toMatchObject({byOutcome: {connected: {'0': 17, '3': 83}}, notCounted: 0})
      expect(result.attribution!.source).toBe('counted')
      expect(result.attribution!.steps.map((step) => [step.retransmits, step.connects, step.source])).toEqual([
        [0, 17, 'counted'],
        [3, 83, 'counted'],
      ])
      expect(result.attribution!.expectedSynRetrans).toBe(249)
      expect(result.kernel!.counterDeltas!.TcpExtTCPSynRetrans).toBe(249)
      // The latency windows agree with every count here (each wave ~3.07 s): nothing to report.
      expect(result.attribution!.disagreements).toEqual([])
    }
  }, 30_000)
})
