import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {moveToOwnNetworkNamespace} from '../helpers/own-namespace.js'

// Its storms count the counters of a network namespace of this file's own, so it runs beside other
// files (vitest.config.ts); it times nothing they could disturb.
moveToOwnNetworkNamespace()

afterEach(stopAllLabs)
const directory = mkdtempSync(join(tmpdir(), 'connstorm-advice-'))
afterAll(() => rmSync(directory, {recursive: true, force: true}))

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
