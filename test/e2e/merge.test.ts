import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import * as hdr from 'hdr-histogram-js'
import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {decodeHistogram, newLatencyHistogram} from '../../src/results/histogram.js'
import type {MergedResult} from '../../src/results/merge.js'
import {RUN_JS, idleAt, runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {parseJsonResult} from '../helpers/result.js'

// The shards' start skew is timed here: this file runs one at a time (vitest.config.ts). What merge
// makes of files, with nothing timed, is merge-files.test.ts's, side by side.
afterEach(stopAllLabs)
const directory = mkdtempSync(join(tmpdir(), 'connstorm-merge-'))
afterAll(() => rmSync(directory, {recursive: true, force: true}))

/** p99 of the union of the files' histograms, built directly (not through merge). */
function unionP99(files: string[]): number {
  const union = newLatencyHistogram()
  for (const file of files) union.add(decodeHistogram(parseJsonResult(readFileSync(file, 'utf8')).histograms.fromIntended))
  return union.getValueAtPercentile(99)
}

/** A shard's process, and what it said when it ended. */
interface Shard {
  child: ChildProcess
  ended: Promise<{code: number | null; stderr: string}>
}

function startShard(command: string, args: string[]): Shard {
  const child = spawn(command, args, {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return {child, ended: new Promise((resolve) => child.once('close', (code) => resolve({code, stderr})))}
}

/**
 * Starts three shards with one --start-at instant and waits for them to end. A shard still loading
 * Node and its modules at the instant starts late however right its clock is (three CLIs share two
 * cores: ~1.5 s of loading when the machine is quiet, up to 10 s measured beside other busy test
 * runs), so a run says
 * something about the start clock only when every shard was seen waiting, idle, before the instant.
 * When one was not, that attempt is abandoned (its shards killed by PID) and made again with twice
 * the lead: 3, 6, then 12 s.
 */
async function fireTogether(shardCommand: (k: 1 | 2 | 3, at: string) => [string, string[]]): Promise<{code: number | null; stderr: string}[]> {
  const late: string[] = []
  for (const leadMs of [3000, 6000, 12_000]) {
    const at = Date.now() + leadMs
    const shards = ([1, 2, 3] as const).map((k) => startShard(...shardCommand(k, new Date(at).toISOString())))
    // Its coarse timer wakes it 20 ms before the instant: seen idle 100 ms before, it was waiting.
    const waitingAt = await Promise.all(shards.map((shard) => idleAt(shard.child.pid!, at - 100)))
    if (waitingAt.every((seen) => seen !== null) || shards.some((shard) => shard.child.exitCode !== null)) {
      return Promise.all(shards.map((shard) => shard.ended))
    }
    late.push(`${leadMs} ms lead: shards ${waitingAt.map((seen, index) => (seen === null ? index + 1 : 0)).filter(Boolean).join(', ')} still loading`)
    for (const shard of shards) if (shard.child.exitCode === null && shard.child.signalCode === null) process.kill(shard.child.pid!, 'SIGKILL')
    await Promise.all(shards.map((shard) => shard.ended))
  }
  throw new Error(`the shards were never all waiting for their start instant (${late.join('; ')})`)
}

/**
 * What --start-at promises a shard that was waiting: its first connect's clock starts at the
 * instant, never before it (the wait ends only once the wall clock reached it: exact), and at
 * most 100 ms after it — the wake-up of a timer, a counter snapshot and the connect loop's set-up
 * on two cores shared with ten other busy processes (3–81 ms measured there). The clock it would start by without the wait is seconds earlier (the lead), and a
 * wrong unit or time zone seconds to hours off.
 */
function expectStartedAtTheInstant(skewsMs: number[]): void {
  for (const skewMs of skewsMs) {
    expect(skewMs).toBeGreaterThanOrEqual(0)
    expect(skewMs).toBeLessThan(100)
  }
}

describe('shards and merge on loopback', () => {
  it('merges three shards: counts add up, merged p99 is the p99 of the union, shards started together', async () => {
    const lab = await startLab(['--backlog', '64', '--stall', '1.2s'])
    const files = [1, 2, 3].map((shard) => join(directory, `shard-${shard}.json`))
    const ended = await fireTogether((k, at) => [process.execPath, [RUN_JS, 'storm', lab.address, '--burst', '150', '--shard', `${k}/3`, '--start-at', at, '--out', files[k - 1]!]])
    for (const run of ended) expect(run.code, run.stderr).toBe(0)
    const out = join(directory, 'all.json')
    const merged = await runCli(['merge', ...files, '--out', out, '--json'])
    expect(merged.code, merged.stderr).toBe(0)
    const result = JSON.parse(readFileSync(out, 'utf8')) as MergedResult
    const shards = files.map((file) => parseJsonResult(readFileSync(file, 'utf8')))
    expect(shards.map((shard) => shard.plan.connects)).toEqual([50, 50, 50])
    expect(result.counts.attempted).toBe(150)
    expect(result.counts.connected).toBe(shards.reduce((sum, shard) => sum + shard.counts.connected, 0))
    expect(result.latencyUs.fromIntended.p99).toBe(unionP99(files))
    expect(result.sources.map((source) => source.shard?.index)).toEqual([1, 2, 3])
    expectStartedAtTheInstant(shards.map((shard) => shard.self.startSkewMs!))
    // Each source keeps its shard's skew; the merged start is the earliest shard's.
    expect(result.sources.map((source) => source.startSkewMs)).toEqual(shards.map((shard) => shard.self.startSkewMs))
    expect(result.merge.startSpreadMs).toBe(Math.max(...shards.map((shard) => shard.self.startSkewMs!)) - Math.min(...shards.map((shard) => shard.self.startSkewMs!)))
    // The merged file is a result like any other.
    const analyzed = await runCli(['analyze', out])
    expect(analyzed.code, analyzed.stderr).toBe(0)

    // The interval log is one HdrHistogram interval per source, readable by HdrHistogram's own reader.
    const hlog = join(directory, 'all.hlog')
    expect((await runCli(['merge', ...files, '--out', join(directory, 'again.json'), '--hdr-log', hlog])).code).toBe(0)
    const reader = new hdr.HistogramLogReader(readFileSync(hlog, 'utf8'))
    const intervals = [reader.nextIntervalHistogram(), reader.nextIntervalHistogram(), reader.nextIntervalHistogram()]
    expect(intervals.map((interval) => interval?.totalCount)).toEqual(shards.map((shard) => shard.counts.connected))
    expect(reader.nextIntervalHistogram()).toBeNull()
  })
})

// Three client "hosts" and a lab host, each a network namespace, joined by veth pairs on benchmark
// addresses (198.18.0.0/15) that exist only inside them: root only (CI is root). Everything is removed after.
describe.skipIf(skipUnless({root: true, tools: ['ip']}, 'the three-host merge'))('three hosts in network namespaces (root)', () => {
  const tag = `cs${process.pid % 100_000}`
  const namespaces = [`${tag}-lab`, `${tag}-c1`, `${tag}-c2`, `${tag}-c3`]
  let lab: ChildProcess | undefined

  afterAll(() => {
    if (lab?.pid) lab.kill('SIGKILL')
    for (const namespace of namespaces) spawnSync('ip', ['netns', 'del', namespace], {stdio: 'ignore'})
  })

  it('fires three shards from three hosts at one instant, and merges them into the union', async () => {
    const ip = (...args: string[]) => execFileSync('ip', args, {stdio: 'pipe'})
    for (const namespace of namespaces) {
      ip('netns', 'add', namespace)
      ip('-n', namespace, 'link', 'set', 'lo', 'up')
    }
    for (const k of [1, 2, 3]) {
      ip('link', 'add', `${tag}l${k}`, 'netns', namespaces[0]!, 'type', 'veth', 'peer', 'name', `${tag}c${k}`, 'netns', namespaces[k]!)
      ip('-n', namespaces[0]!, 'addr', 'add', `198.18.${k}.1/24`, 'dev', `${tag}l${k}`)
      ip('-n', namespaces[k]!, 'addr', 'add', `198.18.${k}.2/24`, 'dev', `${tag}c${k}`)
      ip('-n', namespaces[0]!, 'link', 'set', `${tag}l${k}`, 'up')
      ip('-n', namespaces[k]!, 'link', 'set', `${tag}c${k}`, 'up')
    }
    const port = await new Promise<number>((resolve, reject) => {
      lab = spawn('ip', ['netns', 'exec', namespaces[0]!, process.execPath, RUN_JS, 'lab', '--host', '0.0.0.0', '--backlog', '64', '--stall', '1.2s', '--max-duration', '40s', '--json'])
      lab.stdout!.setEncoding('utf8').once('data', (line: string) => resolve(JSON.parse(line.split('\n')[0]!).port as number))
      lab.once('exit', (code) => reject(new Error(`lab exited ${code}`)))
    })
    const files = [1, 2, 3].map((k) => join(directory, `host-${k}.json`))
    const ended = await fireTogether((k, at) => [
      'ip',
      ['netns', 'exec', namespaces[k]!, process.execPath, RUN_JS, 'storm', `198.18.${k}.1:${port}`, '--burst', '150', '--shard', `${k}/3`, '--start-at', at, '--out', files[k - 1]!],
    ])
    for (const run of ended) expect(run.code, run.stderr).toBe(0)
    const out = join(directory, 'hosts.json')
    expect((await runCli(['merge', ...files, '--out', out])).code).toBe(0)
    const merged = JSON.parse(readFileSync(out, 'utf8')) as MergedResult
    const shards = files.map((file) => parseJsonResult(readFileSync(file, 'utf8')))
    expect(merged.counts.attempted).toBe(150)
    expect(merged.counts.connected).toBe(shards.reduce((sum, shard) => sum + shard.counts.connected, 0))
    expect(merged.latencyUs.fromIntended.p99).toBe(unionP99(files))
    const skews = shards.map((shard) => shard.self.startSkewMs!)
    expectStartedAtTheInstant(skews)
    // The hosts' first connects are as far apart as their skews: the spread merge reports is that, exactly.
    expect(merged.merge.startSpreadMs).toBe(Math.max(...skews) - Math.min(...skews))

    lab!.kill('SIGTERM')
    for (const namespace of namespaces) ip('netns', 'del', namespace)
    const left = execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'}) + execFileSync('ip', ['link'], {encoding: 'utf8'})
    expect(left).not.toContain(tag)
  })
})
