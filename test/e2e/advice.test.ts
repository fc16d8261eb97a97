import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {parseJsonResult} from '../helpers/result.js'
import {moveToOwnNetworkNamespace} from '../helpers/own-namespace.js'

// Its storms count the counters of a network namespace of this file's own, so it runs beside other
// files (vitest.config.ts); it times nothing they could disturb.
moveToOwnNetworkNamespace()

afterEach(stopAllLabs)
const directory = mkdtempSync(join(tmpdir(), 'connstorm-advice-'))
afterAll(() => rmSync(directory, {recursive: true, force: true}))
const SOMAXCONN = '/proc/sys/net/core/somaxconn'

describe('advice, analyze and thresholds', () => {
  it('analyze prints exactly the attribution and advice the live run printed', async () => {
    const file = join(directory, 'run.json')
    const live = await runCli(['storm', '--lab-backlog', '4', '--lab-stall', '1.2s', '--burst', '40', '--server', 'nginx', '--out', file])
    expect(live.code, live.stderr).toBe(0)
    const analyzed = await runCli(['analyze', file])
    expect(analyzed.code, analyzed.stderr).toBe(0)
    expect(analyzed.stdout).toBe(live.stdout)
    expect(live.stdout).toMatch(/^advice \(for nginx\)$/m)
    // The advice is in the saved result too.
    const saved = JSON.parse(readFileSync(file, 'utf8'))
    expect(saved.recommendations[0]).toMatchObject({knob: 'backlog', current: '4', proposed: '63'})
    expect(saved.advice).toMatchObject({proposedBacklog: 63, neededQueue: 40, inputs: {acceptStallMs: null, server: 'nginx'}})
    expect(live.stdout).toMatch(/^ {6}listen 80 backlog=63;/m)

    // Another server's syntax for the same run: same numbers, other lines.
    const redis = await runCli(['analyze', file, '--server', 'redis'])
    expect(redis.stdout).toMatch(/^ {6}tcp-backlog 63$/m)
    expect(redis.stdout.split('\nadvice')[0]).toBe(live.stdout.split('\nadvice')[0])
  })


  describe('analyze refuses a file that is not a valid result: one line naming the file, the path and the problem, exit 2', () => {
    // The corrupt files are made from one valid file; the cases then run concurrently.
    let saved: Record<string, unknown>
    beforeAll(async () => {
      const file = join(directory, 'good.json')
      const run = await runCli(['storm', '--lab-stall', '0', '--burst', '5', '--out', file])
      expect(run.code, run.stderr).toBe(0)
      saved = JSON.parse(readFileSync(file, 'utf8'))
    })

    const corrupt = (change: (result: Record<string, any>) => void) => (): string => {
      const copy = structuredClone(saved) as Record<string, any>
      change(copy)
      return JSON.stringify(copy)
    }
    describe.concurrent('cases', () => {
    it.for([
      ['a file of another schema version', () => JSON.stringify({schemaVersion: 2}), /has schema version 2; this connstorm reads version 1/],
      ['a truncated file', () => '{"schemaVersion": 1, "tool": {', /is not JSON \(truncated/],
      ['an empty file', () => '', /is not JSON \(empty\)/],
      ['a foreign JSON file', () => JSON.stringify({name: 'package'}), /has no schemaVersion: it is not a connstorm result/],
      ['a histogram that does not decode', corrupt((result) => (result.histograms.fromActual = 'AAAA')), /\/histograms\/fromActual: is not an HdrHistogram/],
      ['a negative count', corrupt((result) => (result.counts.byOutcome.connected = -1)), /\/counts\/byOutcome\/connected: must be >= 0/],
      ['a missing plan', corrupt((result) => delete result.plan), /\/: must have required property 'plan'/],
    ] as const)('%s', async ([name, content, message], {expect}) => {
      // Side by side, each in a file of its own.
      const file = join(directory, `bad-${name.replaceAll(' ', '-')}.json`)
      writeFileSync(file, content())
      const run = await runCli(['analyze', file])
      expect(run.code).toBe(2)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(run.stderr).toMatch(message)
      expect(run.stdout).toBe('')
    })

    it('a directory', async ({expect}) => {
      const run = await runCli(['analyze', directory])
      expect(run.code).toBe(2)
      expect(run.stderr.trim()).toMatch(/cannot read .* \(EISDIR\)$/)
    })
    })
  })

  it('exits 99 (not 1, which is a crash) and names the threshold that failed; exits 0 when every threshold holds', async () => {
    // The built-in lab stalls from the first connect: 3 connect at once, 7 on a retransmit ≥ 1 s.
    const failing = await runCli(['storm', '--lab-backlog', '2', '--lab-stall', '1.2s', '--burst', '10', '--threshold', 'p99<10ms', '--threshold', 'connected>=100%'])
    expect(failing.code).toBe(99)
    expect(failing.stdout).toMatch(/^threshold p99<10ms +FAILED +\(p99 = [\d.]+ s\)$/m)
    expect(failing.stdout).toMatch(/^threshold connected>=100% +held/m)

    const lab2 = await startLab(['--backlog', '64'])
    const holding = await runCli(['storm', lab2.address, '--burst', '10', '--threshold', 'p99<5s', '--threshold', 'timeout<1%'])
    expect(holding.code, holding.stderr).toBe(0)
    expect(holding.stdout).toMatch(/^threshold p99<5s +held/m)
  })
})

// --verify with --isolate sets somaxconn inside a namespace of its own: root only (CI is root).
describe.skipIf(skipUnless({root: true, tools: ['unshare', 'ip']}, '--isolate --verify'))('storm --isolate --verify (root)', () => {
  it('proposes backlog 255 for 200 connects against backlog 8 under somaxconn 128, re-runs with both raised inside the namespace only: 200 at once, the host untouched', async () => {
    const hostSomaxconn = readFileSync(SOMAXCONN, 'utf8')
    // The classic ladder (SYNs at 0, 1, 3 s) set in the namespace: the lab's 2.2 s stall, counted
    // from the storm's first connect, drops the 1 s SYN and ends 0.8 s before the 3 s SYN, which
    // gets through (k = 2).
    // somaxconn 128 there makes the advised backlog need a raised somaxconn too.
    const run = await runCli([
      'storm', '--isolate', '--verify',
      '--sysctl', 'net.ipv4.tcp_syn_linear_timeouts=0', '--sysctl', 'net.ipv4.tcp_syn_retries=6', '--sysctl', 'net.core.somaxconn=128',
      '--lab-backlog', '8', '--lab-stall', '2.2s', '--burst', '200', '--json',
    ])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.kernel!.sysctls['net.core.somaxconn']).toBe('128')
    // 9 = backlog 8 + 1 at once; 255 = 2^8 − 1, the smallest backlog whose queue (256) holds 200 + 25 %.
    expect(result.verification!.before).toMatchObject({connectsPerStep: {'0': 9, '2': 191}, timedOut: 0})
    expect(result.advice!.proposedBacklog).toBe(255)
    expect(result.recommendations).toMatchObject([
      {knob: 'backlog', current: '8', proposed: '255'},
      {knob: 'net.core.somaxconn', current: '128', proposed: '256'},
    ])
    // The re-run saw somaxconn 256 inside the namespace: under 128 the queue would hold 129, not 200.
    expect(result.verification).toMatchObject({
      backlog: 255,
      somaxconn: 256,
      verified: true,
      after: {connectsPerStep: {'0': 200}, timedOut: 0, listenOverflows: 0},
    })
    expect(readFileSync(SOMAXCONN, 'utf8')).toBe(hostSomaxconn)
  })
})
