import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {evaluateThresholds} from '../../src/analysis/thresholds.js'
import {parseThreshold} from '../../src/plan/thresholds.js'
import type {StormResult} from '../../src/results/format.js'
import type {MergedResult} from '../../src/results/merge.js'
import {runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {type ConnectGroup, syntheticResult} from '../helpers/synthetic-result.js'

// What merge makes of result files, with nothing timed: the shards' start skew, which needs a quiet
// machine, is merge.test.ts's (the one-at-a-time group); these run side by side (vitest.config.ts).
const directory = mkdtempSync(join(tmpdir(), 'connstorm-merge-files-'))
afterAll(() => rmSync(directory, {recursive: true, force: true}))
afterAll(stopAllLabs)

describe.concurrent('merge refuses files of different plans', () => {
  it('refuses files whose plans differ, naming the field', async () => {
    const lab = await startLab(['--backlog', '64'])
    const a = join(directory, 'a.json')
    const b = join(directory, 'b.json')
    await runCli(['storm', lab.address, '--burst', '10', '--timeout', '5s', '--out', a])
    await runCli(['storm', lab.address, '--burst', '10', '--timeout', '6s', '--out', b])
    const run = await runCli(['merge', a, b, '--out', join(directory, 'ab.json')])
    expect(run.code).toBe(2)
    expect(run.stderr.trim()).toMatch(/plan\.timeoutMs differs: .*a\.json has 5000, .*b\.json has 6000 \(--force merges anyway\)$/)
    // Under --json the refusal is a JSON line a script can match on, with a code of its own.
    const json = await runCli(['merge', a, b, '--out', join(directory, 'ab.json'), '--json'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual({error: {code: 'MERGE_MISMATCH', message: expect.stringMatching(/^FILE: plan\.timeoutMs differs: /)}})
    expect((await runCli(['merge', a, b, '--out', join(directory, 'ab.json'), '--force'])).code).toBe(0)
  })
})

/** Shard k of 3 of a burst of 300 (100 connects each), written where merge reads it. */
function writeShard(k: 1 | 2 | 3, connects: ConnectGroup[], timeouts = 0, name = `hand-${k}.json`): {file: string; result: StormResult} {
  const result = syntheticResult({plan: {burst: '300', shard: `${k}/3`}, connects, failures: timeouts > 0 ? {timeout: timeouts} : {}})
  // A directory per shard file: the tests below run side by side and reuse the same names.
  const file = join(mkdtempSync(join(directory, 'shard-')), name)
  writeFileSync(file, JSON.stringify(result))
  return {file, result}
}

// Files only (no sockets, nothing timed): the tests run side by side.
describe.concurrent('the verdict of the whole storm (hand-built shard files)', () => {
  it('fails a count threshold that every shard passes alone: 2 timeouts each hold timeout<5, the union\'s 6 do not: exit 99', async () => {
    const shards = ([1, 2, 3] as const).map((k) => writeShard(k, [{latencyMs: 10, count: 98}], 2))
    for (const {result} of shards) expect(evaluateThresholds([parseThreshold('timeout<5')], result)[0]!.held).toBe(true)
    const out = join(directory, 'verdict.json')
    const run = await runCli(['merge', ...shards.map((shard) => shard.file), '--out', out, '--threshold', 'timeout<5', '--threshold', 'p99<100ms'])
    expect(run.code, run.stderr).toBe(99)
    expect(run.stdout).toContain('threshold timeout<5  FAILED  (timeout = 6)')
    expect(run.stdout).toContain('threshold p99<100ms  held    (p99 = 10 ms)')
    // The verdict is in the merged file too, so that analyze reads the same.
    expect((JSON.parse(readFileSync(out, 'utf8')) as MergedResult).thresholds!.map((outcome) => outcome.held)).toEqual([false, true])
  })

  it('fails p99<100ms on the union where the mean of the shards\' p99s (10, 10, 250 ms: 90 ms) would pass it: exit 99', async () => {
    // Shard 3: 10 of its 100 connects took 250 ms. The union: 10 of 300 at 250 ms, so its 297th value (p99) is 250 ms.
    const files = [writeShard(1, [{latencyMs: 10, count: 100}]), writeShard(2, [{latencyMs: 10, count: 100}]), writeShard(3, [{latencyMs: 10, count: 90}, {latencyMs: 250, count: 10}])]
    const run = await runCli(['merge', ...files.map((shard) => shard.file), '--out', join(directory, 'p99.json'), '--threshold', 'p99<100ms'])
    expect(run.code, run.stderr).toBe(99)
    expect(run.stdout).toMatch(/threshold p99<100ms {2}FAILED {2}\(p99 = 25\d(\.\d+)? ms\)/)
  })

  it('fails p99<100ms on the union of three shards that each pass it alone, when the union\'s p99 sits within the histogram\'s resolution of the limit: exit 99', async () => {
    // Shard 1: 100 connects at 99.99 ms; its p99 is clamped to its max, 99.99 ms: held. Shards 2 and 3:
    // 99 at 1 ms and 1 at 500 ms each; p99 1 ms: held. The union's 297th of 300 values is a 99.99 ms
    // one; HDR (3 significant digits) reads its bucket as 100.03 ms, and the union's max (500 ms) no
    // longer clamps it: FAILED. (A union's p99 lies between its shards' p99s; only the resolution
    // puts it past them: docs/kubernetes.md §3.)
    const files = [
      writeShard(1, [{latencyMs: 99.99, count: 100}], 0, 'edge-1.json'),
      writeShard(2, [{latencyMs: 1, count: 99}, {latencyMs: 500, count: 1}], 0, 'edge-2.json'),
      writeShard(3, [{latencyMs: 1, count: 99}, {latencyMs: 500, count: 1}], 0, 'edge-3.json'),
    ]
    for (const {result} of files) expect(evaluateThresholds([parseThreshold('p99<100ms')], result)[0]!.held).toBe(true)
    const run = await runCli(['merge', ...files.map((shard) => shard.file), '--out', join(directory, 'edge.json'), '--threshold', 'p99<100ms'])
    expect(run.code, run.stderr).toBe(99)
    expect(run.stdout).toContain('threshold p99<100ms  FAILED  (p99 = 100.03 ms)')
  })

  it('passes p99<100ms on the union where one shard alone fails it (2 of its 100 at 250 ms; 2 of 300 in the union): exit 0', async () => {
    const files = [writeShard(1, [{latencyMs: 10, count: 100}]), writeShard(2, [{latencyMs: 10, count: 100}]), writeShard(3, [{latencyMs: 10, count: 98}, {latencyMs: 250, count: 2}])]
    expect(evaluateThresholds([parseThreshold('p99<100ms')], files[2]!.result)[0]!.held).toBe(false)
    const run = await runCli(['merge', ...files.map((shard) => shard.file), '--out', join(directory, 'p99-held.json'), '--threshold', 'p99<100ms'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('threshold p99<100ms  held    (p99 = 10 ms)')
  })

  it('prints each shard\'s start skew and counts', async () => {
    const files = ([1, 2, 3] as const).map((k) => writeShard(k, [{latencyMs: 10, count: 98}], 2, `skew-${k}.json`))
    const run = await runCli(['merge', ...files.map((shard) => shard.file), '--out', join(directory, 'skew.json')])
    expect(run.code, run.stderr).toBe(0)
    // The hand-built shards all started at 12:00:00.000: 0 ms from the earliest.
    const lines = run.stdout.split('\n').filter((line) => line.startsWith('source'))
    expect(lines).toEqual([1, 2, 3].map((k) => `source    shard ${k}/3   ${files[k - 1]!.file}  start skew 0 ms  attempted 100, connected 98, failed 2`))
  })

  it('refuses a storm with a shard missing (2 of 3 present names shard 1), one line, exit 2, nothing written', async () => {
    const files = [writeShard(2, [{latencyMs: 10, count: 100}]), writeShard(3, [{latencyMs: 10, count: 100}])].map((shard) => shard.file)
    const out = join(directory, 'partial.json')
    const run = await runCli(['merge', ...files, '--out', out, '--threshold', 'p99<100ms'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe('connstorm merge: FILE: shard 1 of 3 missing (the files hold 2, 3); a partial storm is no verdict (--allow-missing merges what is there)\n')
    expect(existsSync(out)).toBe(false)
  })

  it('merges the shards present with --allow-missing, warns which one is missing, and records it', async () => {
    const files = [writeShard(2, [{latencyMs: 10, count: 100}]), writeShard(3, [{latencyMs: 10, count: 100}])].map((shard) => shard.file)
    const out = join(directory, 'allowed.json')
    const run = await runCli(['merge', ...files, '--out', out, '--allow-missing'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toBe('connstorm merge: warning: shard 1 of 3 missing (--allow-missing): the merged result is a partial storm\n')
    const merged = JSON.parse(readFileSync(out, 'utf8')) as MergedResult
    expect(merged.merge.missingShards).toEqual([1])
    expect(merged.counts.attempted).toBe(200)
  })

  it('refuses the same file twice in one line, exit 2', async () => {
    const {file} = writeShard(1, [{latencyMs: 10, count: 100}])
    const run = await runCli(['merge', file, file, '--out', join(directory, 'twice.json')])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`connstorm merge: FILE: '${file}' is given twice; each result belongs in the merge once\n`)
  })

  it('refuses shard 2/3 twice (a pod that ran again) in one line naming both files, exit 2', async () => {
    const shards = [writeShard(1, [{latencyMs: 10, count: 100}]), writeShard(2, [{latencyMs: 10, count: 100}]), writeShard(3, [{latencyMs: 10, count: 100}]), writeShard(2, [{latencyMs: 12, count: 100}], 0, 'hand-2-again.json')]
    const run = await runCli(['merge', ...shards.map((shard) => shard.file), '--out', join(directory, 'again-2.json')])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`connstorm merge: FILE: ${shards[1]!.file} and ${shards[3]!.file} are both shard 2/3 (a pod that ran twice?); each shard belongs in the merge once\n`)
  })

  it('takes the files after --threshold too (one expression per --threshold)', async () => {
    const files = ([1, 2, 3] as const).map((k) => writeShard(k, [{latencyMs: 10, count: 100}], 0, `after-${k}.json`).file)
    const run = await runCli(['merge', '--threshold', 'p99<100ms', ...files, '--out', join(directory, 'after.json')])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('threshold p99<100ms  held    (p99 = 10 ms)')
  })

  it('refuses a malformed --threshold before reading any file, in one line, exit 2', async () => {
    const run = await runCli(['merge', 'no-such-1.json', 'no-such-2.json', '--out', join(directory, 'bad.json'), '--threshold', 'p99<<1ms'])
    expect(run.code).toBe(2)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toMatch(/^connstorm merge: --threshold: invalid value 'p99<<1ms'/)
  })
})
