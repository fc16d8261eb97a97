import {UsageError} from '../errors.js'
import {type Histogram, decodeHistogram, encodeHistogram, latencyCountsMs, newLatencyHistogram, summarize} from './histogram.js'
import {OUTCOMES, emptyOutcomeCounts} from './outcome.js'
import type {CountedRetransmits, Measurement, StormResult} from './format.js'
import {addRetransmits} from './recorder.js'
import {assertEachShardOnce, assertNoneMissing, shardCoverage} from './shards.js'
import {Timeline} from './timeline.js'

export interface MergeSource {
  file: string
  result: StormResult
}

/** One line per shard in the merged file: where each number came from. */
export interface MergedSource {
  file: string
  startedAt: string
  durationMs: number
  target: StormResult['target']
  shard: StormResult['plan']['shard'] | null
  counts: {attempted: number; connected: number; failed: number}
  startSkewMs: number | null
}

interface MergeRecord {
  sources: MergedSource[]
  /** missingShards: the indexes of the split no file held (merged with --allow-missing); absent when none */
  merge: {files: number; startSpreadMs: number; missingShards?: number[]}
}

/** The union of the shards' measurements; analysis/diagnose.ts diagnoses it like any run. */
export type MergedMeasurement = Measurement & MergeRecord
/** A merged file: the merged measurement with its diagnosis. */
export type MergedResult = StormResult & MergeRecord

/** Plan fields that every shard must share; connects and the shard index differ by design. */
const SHARED_PLAN_FIELDS = ['mode', 'burst', 'rate', 'durationMs', 'waves', 'intervalMs', 'timeoutMs', 'close'] as const
const HISTOGRAMS = ['fromIntended', 'fromActual', 'failedFromActual', 'failedEarlyFromActual'] as const

/**
 * Merges the results of several shards (or hosts) of one storm into one result: histograms are
 * added (HDR add — percentiles of the union, never averages of percentiles), counts summed, and
 * the attribution and the counters' verdict computed again from the merged data.
 */
export function mergeResults(sources: readonly MergeSource[], {force = false, allowMissing = false} = {}): MergedMeasurement {
  const [first, ...rest] = sources
  for (const other of rest) {
    if (!force) checkCompatible(first!, other)
  }
  // A shard twice or a shard missing is named before the count: "shard 2 of 3 missing" says more than "needs two files".
  assertEachShardOnce(sources)
  const coverage = shardCoverage(sources)
  assertNoneMissing(coverage, {allowMissing})
  if (sources.length < 2 || first === undefined) throw new UsageError('FILE: merge needs at least two result files')
  const base = first.result

  const histograms = Object.fromEntries(HISTOGRAMS.map((name) => [name, addHistograms(sources.map((source) => source.result.histograms[name]))])) as Record<
    (typeof HISTOGRAMS)[number],
    Histogram
  >
  const byOutcome = emptyOutcomeCounts()
  const otherErrnos: Record<string, number> = {}
  let attempted = 0
  let pending = 0
  let notStarted = 0
  let kernelTimeouts = 0
  let connectedThenReset = 0
  let lateStarts = 0
  // Counted only when every shard counted: a shard without counts would leave its connects out.
  const countedRetransmits: CountedRetransmits | null = sources.every(({result}) => result.counts.countedRetransmits) ? {byOutcome: {}, notCounted: 0} : null
  for (const {result} of sources) {
    for (const outcome of OUTCOMES) byOutcome[outcome] += result.counts.byOutcome[outcome]
    for (const [code, n] of Object.entries(result.counts.otherErrnos ?? {})) otherErrnos[code] = (otherErrnos[code] ?? 0) + n
    attempted += result.counts.attempted
    pending += result.counts.pending
    notStarted += result.counts.notStarted ?? 0
    kernelTimeouts += result.counts.kernelTimeouts ?? 0
    connectedThenReset += result.counts.connectedThenReset ?? 0
    if (countedRetransmits) addRetransmits(countedRetransmits, result.counts.countedRetransmits!)
    lateStarts += result.self.lateStarts
  }
  const starts = sources.map((source) => Date.parse(source.result.startedAt))
  const ends = sources.map((source, index) => starts[index]! + source.result.durationMs)
  const start = Math.min(...starts)
  const connected = byOutcome.connected
  const timeline = new Timeline()
  for (const [index, {result}] of sources.entries()) {
    if (result.timeline) timeline.add(result.timeline, starts[index]! - start)
  }
  const worstLag = sources.map((source) => source.result.self.startLagUs).sort((a, b) => b.p99 - a.p99)[0]!
  const loops = sources.map((source) => source.result.self.eventLoopDelayUs).filter((loop) => loop !== null)
  const stopReasons = sources.map((source) => source.result.stopReason)
  const connectPaths = new Set(sources.map((source) => source.result.self.connectPath))

  // What the shards share (tool, target, plan, self's threshold) comes from the first; everything
  // diagnosed, and what belongs to one shard only (its lab, probe, verification), is left behind.
  const {ladder: _ladder, attribution: _attribution, afterConnect: _afterConnect, recommendations: _recommendations, advice: _advice, thresholds: _thresholds,
    verification: _verification, probe: _probe, acceptWait: _acceptWait, lab: _lab, kernel: _kernel, ...shared} = base
  const merged: MergedMeasurement = {
    ...shared,
    startedAt: new Date(start).toISOString(),
    plan: {...base.plan, connects: sources.reduce((sum, source) => sum + source.result.plan.connects, 0), shard: undefined},
    counts: {attempted, connected, failed: attempted - connected - pending, pending, notStarted, byOutcome, otherErrnos, kernelTimeouts, ...(countedRetransmits ? {countedRetransmits} : {}), ...(connectedThenReset > 0 ? {connectedThenReset} : {})},
    latencyUs: Object.fromEntries(HISTOGRAMS.map((name) => [name, summarize(histograms[name])])) as unknown as StormResult['latencyUs'],
    histograms: Object.fromEntries(HISTOGRAMS.map((name) => [name, encodeHistogram(histograms[name])])) as StormResult['histograms'],
    self: {
      // Each shard's own event loop: the worst of them is what could have distorted the union.
      eventLoopDelayUs: loops.length === 0 ? null : {p50: Math.max(...loops.map((loop) => loop.p50)), p99: Math.max(...loops.map((loop) => loop.p99)), max: Math.max(...loops.map((loop) => loop.max))},
      lateStarts,
      lateStartThresholdUs: base.self.lateStartThresholdUs,
      startLagUs: worstLag,
      ...(connectPaths.size === 1 ? {connectPath: [...connectPaths][0]} : {}),
    },
    durationMs: Math.max(...ends) - start,
    achievedRate: sources.reduce((sum, source) => sum + source.result.achievedRate, 0),
    startWindowMs: Math.max(...sources.map((source) => source.result.startWindowMs)),
    partial: sources.some((source) => source.result.partial),
    stopReason: stopReasons.includes('interrupted') ? 'interrupted' : stopReasons.includes('deadline') ? 'deadline' : 'completed',
    timeline: timeline.toJSON(),
    heldAtEnd: sources.reduce((sum, source) => sum + (source.result.heldAtEnd ?? 0), 0),
    kernel: mergedKernel(sources),
    sources: sources.map(({file, result}, index) => ({
      file,
      startedAt: result.startedAt,
      durationMs: result.durationMs,
      target: result.target,
      shard: result.plan.shard ?? null,
      counts: {attempted: result.counts.attempted, connected: result.counts.connected, failed: result.counts.failed},
      startSkewMs: result.self.startSkewMs ?? (starts[index]! - start),
    })),
    merge: {files: sources.length, startSpreadMs: Math.max(...starts) - start, ...(coverage.missing.length > 0 ? {missingShards: coverage.missing} : {})},
  }
  return merged
}

/** The kernel's view of the union: every shard's counter deltas added (null if one could not read them). */
function mergedKernel(sources: readonly MergeSource[]): Measurement['kernel'] {
  const kernel = sources[0]!.result.kernel
  if (!kernel) return null
  const all = sources.map((source) => source.result.kernel?.counterDeltas ?? null)
  const counterDeltas = all.includes(null) ? null : sumCounters(all as Record<string, number>[])
  const netns = sources.every((source) => source.result.kernel?.netns === 'isolated') ? 'isolated' : 'shared'
  return {netns, sysctls: kernel.sysctls, counterDeltas, listener: null}
}

function checkCompatible(first: MergeSource, other: MergeSource): void {
  for (const field of SHARED_PLAN_FIELDS) {
    const a = first.result.plan[field]
    const b = other.result.plan[field]
    if (a !== b) throw new UsageError(`FILE: plan.${field} differs: ${first.file} has ${JSON.stringify(a)}, ${other.file} has ${JSON.stringify(b)} (--force merges anyway)`, 'MERGE_MISMATCH')
  }
  if (first.result.plan.shard?.count !== other.result.plan.shard?.count) {
    throw new UsageError(`FILE: plan.shard differs: ${first.file} and ${other.file} are not shards of the same split (--force merges anyway)`, 'MERGE_MISMATCH')
  }
  const ladderA = JSON.stringify(first.result.ladder?.sendTimesMs ?? null)
  const ladderB = JSON.stringify(other.result.ladder?.sendTimesMs ?? null)
  if (ladderA !== ladderB) throw new UsageError(`FILE: ladder.sendTimesMs differs: ${first.file} has ${ladderA}, ${other.file} has ${ladderB} (--force merges anyway)`, 'MERGE_MISMATCH')
}

function addHistograms(encoded: readonly (string | undefined)[]): Histogram {
  const sum = newLatencyHistogram()
  for (const one of encoded) if (one !== undefined) sum.add(decodeHistogram(one))
  return sum
}

function sumCounters(deltas: readonly Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {}
  for (const one of deltas) for (const [name, value] of Object.entries(one)) sum[name] = (sum[name] ?? 0) + value
  return sum
}
