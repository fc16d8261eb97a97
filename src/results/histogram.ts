import {createRequire} from 'node:module'

import type * as Hdr from 'hdr-histogram-js'

export type Histogram = Hdr.Histogram

let loaded: typeof Hdr | undefined
/**
 * hdr-histogram-js, loaded at its first use: ~60 ms of every CLI start here, which refusals, --help
 * and the commands that never touch a histogram need not pay (docs/performance.md "Start-up").
 */
export function hdrLibrary(): typeof Hdr {
  loaded ??= createRequire(import.meta.url)('hdr-histogram-js') as typeof Hdr
  return loaded
}

/**
 * Latencies in µs, 1 µs to 360 s at 3 significant digits; it grows by itself past 360 s
 * (a --timeout of minutes), so no value is ever clamped.
 */
export function newLatencyHistogram(): Histogram {
  return hdrLibrary().build({lowestDiscernibleValue: 1, highestTrackableValue: 360_000_000, numberOfSignificantValueDigits: 3, autoResize: true})
}

/** HdrHistogram's compressed base64 form, readable by the Java, Go, C … HdrHistogram libraries. */
export function encodeHistogram(histogram: Histogram): string {
  return hdrLibrary().encodeIntoCompressedBase64(histogram)
}

export function decodeHistogram(base64: string): Histogram {
  return hdrLibrary().decodeFromCompressedBase64(base64, 32, false)
}

export interface LatencySummary {
  count: number
  min: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

/** Summary in µs; an empty histogram gives count 0 and zeros (count tells them apart). */
export function summarize(histogram: Histogram): LatencySummary {
  const count = histogram.totalCount
  if (count === 0) return {count, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0}
  // We record every latency as ≥ 1 µs, so the lowest non-zero value is the minimum.
  const min = histogram.minNonZeroValue
  const max = histogram.maxValue
  // summary.pXX truncates to 3 digits (1.028 s shows as 1.02 s, below the minimum); the
  // percentile lookup keeps full precision, clamped so that min ≤ pXX ≤ max always holds.
  const at = (percentile: number): number => Math.min(max, Math.max(min, histogram.getValueAtPercentile(percentile)))
  return {count, min, mean: Math.round(histogram.mean), p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max}
}

/** Every distinct recorded value (µs, ascending) with its count. */
export function recordedValues(histogram: Histogram): {valueUs: number; count: number}[] {
  const iterator = (histogram as unknown as {recordedValuesIterator: RecordedValuesIterator}).recordedValuesIterator
  iterator.reset()
  const values: {valueUs: number; count: number}[] = []
  while (iterator.hasNext()) {
    const step = iterator.next()
    values.push({valueUs: step.valueIteratedTo, count: step.countAtValueIteratedTo})
  }
  return values
}

/** The recorded values as milliseconds with their counts: what the ladder attribution reads. */
export function latencyCountsMs(histogram: Histogram): {latencyMs: number; count: number}[] {
  return recordedValues(histogram).map(({valueUs, count}) => ({latencyMs: valueUs / 1000, count}))
}

/** Count of recorded values v with low ≤ v < high (µs) for consecutive bucket edges. */
export function countsInBuckets(histogram: Histogram, edgesUs: readonly number[]): number[] {
  const counts = Array.from({length: edgesUs.length - 1}, () => 0)
  let bucket = 0
  for (const {valueUs, count} of recordedValues(histogram)) {
    // Past the last edge edgesUs[bucket + 1] is undefined and the comparison false, so the loop stops there;
    // such a value is not counted (below).
    while (valueUs >= edgesUs[bucket + 1]!) bucket++
    if (valueUs >= edgesUs[0]! && valueUs < edgesUs.at(-1)!) counts[bucket]! += count
  }
  return counts
}

interface RecordedValuesIterator {
  reset(): void
  hasNext(): boolean
  next(): {valueIteratedTo: number; countAtValueIteratedTo: number}
}
