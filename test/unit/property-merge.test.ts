import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import type {StormRun} from '../../src/engine/storm.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {ResolvedTarget} from '../../src/plan/target.js'
import type {KernelObservation, StormResult} from '../../src/results/format.js'
import {decodeHistogram, encodeHistogram, newLatencyHistogram} from '../../src/results/histogram.js'
import {type MergeSource} from '../../src/results/merge.js'
import {type FailureOutcome, type Outcome, OUTCOMES} from '../../src/results/outcome.js'
import {StormRecorder} from '../../src/results/recorder.js'
import {assertProperty} from '../helpers/property.js'
import {buildMeasurement} from '../../src/run/build-result.js'
import {buildResult, mergeAndDiagnose} from '../helpers/synthetic-result.js'

/**
 * Merging the shards of one storm gives the storm: the same connects recorded by k shards (each
 * through worker recorders added together, as --workers does) and merged by `connstorm merge` read
 * exactly as the same connects recorded by one run. HDR histograms of one configuration add
 * without loss (docs/decisions.md: percentiles of the union, never averages of percentiles), so
 * the expectation is equality, not closeness.
 */

const TARGET: ResolvedTarget = {requested: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, family: 4}
const TOOL = {name: 'connstorm', version: '0.1.0'}
const STARTED_AT = new Date('2025-11-25T12:00:00.000Z')

/** One connect as the engine records it: how it ended, its latency from the actual start, how late it started. */
interface ConnectRecord {
  outcome: Outcome
  fromActualUs: number
  lagUs: number
  errno: string | undefined
}

/** The errno each failure outcome comes with; a kernel ETIMEDOUT is a `timeout` too (src/results/outcome.ts). */
const ERRNOS: Record<FailureOutcome, readonly (string | undefined)[]> = {
  timeout: [undefined, 'ETIMEDOUT'],
  refused: ['ECONNREFUSED'],
  reset: ['ECONNRESET', 'EPIPE'],
  addrNotAvail: ['EADDRNOTAVAIL'],
  fileLimit: ['EMFILE'],
  unreachable: ['EHOSTUNREACH'],
  other: ['EPROTO', 'EACCES', undefined],
}

/**
 * Latencies on loopback and near the default ladder's steps (docs/kernel.md §2); in one storm of
 * three, some also far out, to minutes past the histogram's initial 360 s range (it grows). Long
 * values are drawn per storm, not per connect: every HDR percentile walks the buckets up to the
 * largest value, and a storm with one long latency costs four times one without.
 */
function latencyUs(long: boolean): fc.Arbitrary<number> {
  const near = [
    {arbitrary: fc.integer({min: 20, max: 3000}), weight: 3},
    {arbitrary: fc.constantFrom(1030, 2050, 3070, 4100, 5120, 7140, 11_360).chain((ms) => fc.integer({min: ms * 1000 - 40_000, max: ms * 1000 + 400_000})), weight: 3},
  ]
  const far = [
    {arbitrary: fc.integer({min: 1, max: 140_000_000}), weight: 1},
    {arbitrary: fc.integer({min: 360_000_000, max: 700_000_000}), weight: 1},
  ]
  return fc.oneof(...near, ...(long ? far : []))
}

function record(long: boolean): fc.Arbitrary<ConnectRecord> {
  return fc
    .record({
      outcome: fc.oneof({arbitrary: fc.constant<Outcome>('connected'), weight: 3}, {arbitrary: fc.constantFrom(...OUTCOMES), weight: 2}),
      fromActualUs: latencyUs(long),
      lagUs: fc.oneof(fc.integer({min: 0, max: 1200}), fc.integer({min: 0, max: 2_000_000})),
      pick: fc.nat(),
    })
    .map(({outcome, fromActualUs, lagUs, pick}) => {
      const errnos = outcome === 'connected' ? [undefined] : ERRNOS[outcome]
      return {outcome, fromActualUs, lagUs, errno: errnos[pick % errnos.length]}
    })
}

interface Storm {
  shards: number
  workers: number
  synRetries: number
  linearTimeouts: number
  long: boolean
  records: ConnectRecord[]
  /** each shard's TcpExtTCPSynRetrans delta; the unsharded run saw their sum */
  synRetrans: number[]
}

const storms: fc.Arbitrary<Storm> = fc
  .record({
    shards: fc.integer({min: 2, max: 4}),
    workers: fc.integer({min: 1, max: 2}),
    synRetries: fc.integer({min: 1, max: 8}),
    linearTimeouts: fc.integer({min: 0, max: 6}),
    long: fc.integer({min: 0, max: 2}).map((one) => one === 0),
  })
  .chain((shape) =>
    fc
      .record({
        // Any length up to 60, not fast-check's small default: a count summed wrongly shows only when
        // two shards both have the outcome. A case costs about the same with 60 connects as with 6.
        records: fc.array(record(shape.long), {minLength: shape.shards, maxLength: 60, size: 'max'}),
        synRetrans: fc.array(fc.nat({max: 500}), {minLength: shape.shards, maxLength: shape.shards}),
      })
      .map((drawn) => ({...shape, ...drawn})),
  )

/**
 * Records the connects as the engine does: one thread records straight into its recorder; with
 * --workers N each thread records its share and the threads' snapshots are added (src/engine/workers.ts).
 */
function recordAll(records: readonly ConnectRecord[], workers: number): StormRecorder {
  const threads = Array.from({length: workers}, () => new StormRecorder())
  for (const [index, connect] of records.entries()) {
    const recorder = threads[index % workers]!
    recorder.recordStart(connect.lagUs)
    const atMs = (connect.lagUs + connect.fromActualUs) / 1000
    if (connect.outcome === 'connected') {
      recorder.recordConnected(connect.lagUs + connect.fromActualUs, connect.fromActualUs)
      recorder.timeline.record(atMs, 'connected')
    } else {
      recorder.recordFailure(connect.outcome, connect.fromActualUs, connect.errno)
      recorder.timeline.record(atMs, 'failed')
    }
  }
  if (workers === 1) return threads[0]!
  const combined = new StormRecorder()
  for (const thread of threads) combined.add(thread.snapshot())
  return combined
}

function resultOf(records: readonly ConnectRecord[], options: {workers: number; burst: number; shard?: string; sysctls: Record<string, string>; synRetrans: number}): StormResult {
  const plan = buildPlan({burst: String(options.burst), ...(options.shard ? {shard: options.shard} : {})})
  const run: StormRun = {
    recorder: recordAll(records, options.workers),
    probes: null,
    startedAt: STARTED_AT,
    durationMs: 1000,
    startWindowMs: 2,
    heldAtEnd: 0,
    stopReason: 'completed',
    pending: 0,
    notStarted: 0,
    eventLoopDelayUs: {p50: 100, p99: 2000, max: 4000},
    connectPath: 'native',
  }
  const kernel: KernelObservation = {
    netns: 'isolated',
    sysctls: options.sysctls,
    counterDeltas: {TcpExtTCPSynRetrans: options.synRetrans, TcpActiveOpens: records.filter((r) => r.outcome !== 'addrNotAvail' && r.outcome !== 'fileLimit').length},
    listener: null,
  }
  const context = {tool: TOOL, target: TARGET, plan, kernel}
  // A shard file's own diagnosis is dropped by the merge, which diagnoses the union again
  // (src/results/merge.ts); leaving shards undiagnosed halves the cost of a case.
  return options.shard ? (buildMeasurement(run, context) as StormResult) : buildResult(run, context)
}

/**
 * Every property below draws the same storms (one seed, one arbitrary), and building them is the
 * expensive part (~20 ms of HDR percentile walks per result): each storm is built once per file.
 */
const built = new Map<string, {whole: StormResult; merged: StormResult}>()

/** The storm once whole and once as k shards merged: shard i gets the connects i, i + k, i + 2k … of the plan (src/plan/plan.ts globalIndex). */
function wholeAndMerged(storm: Storm): {whole: StormResult; merged: StormResult} {
  const key = JSON.stringify(storm)
  const known = built.get(key)
  if (known) return known
  const both = build(storm)
  built.set(key, both)
  return both
}

function build(storm: Storm): {whole: StormResult; merged: StormResult} {
  const sysctls = {'net.ipv4.tcp_syn_retries': String(storm.synRetries), 'net.ipv4.tcp_syn_linear_timeouts': String(storm.linearTimeouts)}
  const burst = storm.records.length
  const whole = resultOf(storm.records, {workers: storm.workers, burst, sysctls, synRetrans: storm.synRetrans.reduce((a, b) => a + b, 0)})
  const sources: MergeSource[] = Array.from({length: storm.shards}, (_, i) => ({
    file: `shard${i + 1}.json`,
    result: resultOf(
      storm.records.filter((_, index) => index % storm.shards === i),
      {workers: storm.workers, burst, shard: `${i + 1}/${storm.shards}`, sysctls, synRetrans: storm.synRetrans[i]!},
    ),
  }))
  return {whole, merged: mergeAndDiagnose(sources)}
}

/** The histogram re-encoded after adding it into a fresh one: equal buckets, equal text. */
function canonical(encoded: string): string {
  const histogram = newLatencyHistogram()
  histogram.add(decodeHistogram(encoded))
  return encodeHistogram(histogram)
}

const tally = (records: readonly ConnectRecord[], keep: (r: ConnectRecord) => boolean): number => records.filter(keep).length

describe('merging the shards of one storm equals the storm recorded whole', () => {
  it('the counts are the connects: attempted, each outcome, errnos of `other`, kernel timeouts and late starts', () => {
    assertProperty(
      fc.property(storms, (storm) => {
        const {whole, merged} = wholeAndMerged(storm)
        const {records} = storm
        expect(merged.counts).toEqual(whole.counts)
        expect(merged.counts.attempted).toBe(records.length)
        expect(merged.counts.connected).toBe(tally(records, (r) => r.outcome === 'connected'))
        expect(merged.counts.failed).toBe(tally(records, (r) => r.outcome !== 'connected'))
        for (const outcome of OUTCOMES) expect(merged.counts.byOutcome[outcome]).toBe(tally(records, (r) => r.outcome === outcome))
        expect(merged.counts.kernelTimeouts).toBe(tally(records, (r) => r.errno === 'ETIMEDOUT'))
        expect(merged.self.lateStarts).toBe(tally(records, (r) => r.lagUs > 1000))
        expect(merged.plan.connects).toBe(records.length)
      }),
      {runs: 15},
    )
  })

  it('the histograms add exactly, bucket for bucket, and their totals are the connects', () => {
    assertProperty(
      fc.property(storms, (storm) => {
        const {whole, merged} = wholeAndMerged(storm)
        const {records} = storm
        // The encoded form holds every bucket's count, but also the highest trackable value, which
        // depends on how the histogram grew (recording a value past 360 s, or adding a decoded one):
        // both are brought to one form by adding them into a fresh histogram, then compared.
        for (const name of ['fromIntended', 'fromActual', 'failedFromActual', 'failedEarlyFromActual'] as const) {
          expect(canonical(merged.histograms[name]), name).toBe(canonical(whole.histograms[name]))
        }
        const totals = Object.fromEntries(Object.entries(merged.histograms).map(([name, encoded]) => [name, decodeHistogram(encoded).totalCount]))
        expect(totals).toEqual({
          fromIntended: tally(records, (r) => r.outcome === 'connected'),
          fromActual: tally(records, (r) => r.outcome === 'connected'),
          failedFromActual: tally(records, (r) => r.outcome !== 'connected'),
          failedEarlyFromActual: tally(records, (r) => r.outcome !== 'connected' && r.outcome !== 'timeout'),
        })
      }),
      {runs: 15},
    )
  })

  it('min, mean, percentiles and max are the whole run ones to the histogram precision (3 significant digits), the count exactly', () => {
    // A histogram read back from its encoded form knows each value only to its bucket: its min is the
    // bucket's lowest value and its max the highest, where the live one kept the exact extremes. A
    // merge reads encoded shards, a one-thread run summarizes its live histogram, so the two agree to
    // one bucket: at most 1/1024 of the value at 3 significant digits (2048 sub-buckets, the upper half used).
    const close = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(a, b) / 1024 + 1
    assertProperty(
      fc.property(storms, (storm) => {
        const {whole, merged} = wholeAndMerged(storm)
        for (const name of ['fromIntended', 'fromActual', 'failedFromActual'] as const) {
          const [m, w] = [merged.latencyUs[name], whole.latencyUs[name]]
          expect(m.count).toBe(w.count)
          const far = (['min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const).filter((key) => !close(m[key], w[key]))
          expect(far, name).toEqual([])
        }
        // The extremes are the records' own, to the same precision.
        const connected = storm.records.filter((r) => r.outcome === 'connected').map((r) => r.fromActualUs)
        if (connected.length > 0) {
          expect(close(merged.latencyUs.fromActual.max, Math.max(...connected))).toBe(true)
          expect(close(merged.latencyUs.fromActual.min, Math.min(...connected))).toBe(true)
        }
      }),
      {runs: 15},
    )
  })

  it('the attribution to ladder steps and the counters verdict are those of the whole run', () => {
    assertProperty(
      fc.property(storms, (storm) => {
        const {whole, merged} = wholeAndMerged(storm)
        expect(merged.ladder).toEqual(whole.ladder)
        expect(merged.attribution).toEqual(whole.attribution)
        expect(merged.kernel?.counterDeltas).toEqual(whole.kernel?.counterDeltas)
        expect(merged.kernel?.corroboration).toEqual(whole.kernel?.corroboration)
      }),
      {runs: 15},
    )
  })

  it('the timeline of completions per bin is the whole run timeline', () => {
    assertProperty(
      fc.property(storms, (storm) => {
        const {whole, merged} = wholeAndMerged(storm)
        expect(merged.timeline).toEqual(whole.timeline)
      }),
      {runs: 15},
    )
  })
})
