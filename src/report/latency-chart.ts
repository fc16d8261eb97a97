import {type Histogram, countsInBuckets} from '../results/histogram.js'
import {formatMicros} from '../plan/units.js'

/** 4 buckets per octave: 1.0, 1.19, 1.41, 1.68, 2.0 … so ladder steps at 1, 2, 3, 4, 5, 7 s land apart. */
const BUCKETS_PER_OCTAVE = 4
const BAR_WIDTH = 40

/** Edges are anchored at 1 s, so the first retransmit steps (≈1.03, 2.05, 3.07 s) sit just above an edge. */
const ANCHOR_US = 1_000_000

/** Bucket edges in µs, 1 s × 2^(k/4), from at or below `minUs` to above `maxUs`. */
export function logBucketEdges(minUs: number, maxUs: number): number[] {
  const octaves = (us: number): number => Math.log2(Math.max(1, us) / ANCHOR_US) * BUCKETS_PER_OCTAVE
  const first = Math.floor(octaves(minUs))
  const last = Math.floor(octaves(maxUs)) + 1
  const edges: number[] = []
  for (let k = first; k <= last; k++) edges.push(ANCHOR_US * 2 ** (k / BUCKETS_PER_OCTAVE))
  return edges
}

/**
 * A terminal histogram of latencies on log-spaced buckets. Only non-empty buckets are drawn; a
 * run of empty ones becomes "⋮", so a cluster of connects at ~1 s or ~3 s stands apart from the
 * immediate ones instead of hiding in a percentile.
 */
export function renderLatencyChart(histogram: Histogram, labelRow?: (fromUs: number, toUs: number) => string | undefined): string[] {
  if (histogram.totalCount === 0) return []
  const edges = logBucketEdges(histogram.minNonZeroValue, histogram.maxValue)
  const counts = countsInBuckets(histogram, edges)
  const largest = Math.max(...counts)
  const total = histogram.totalCount
  const lines: string[] = []
  let skipped = false
  let cumulative = 0
  for (const [index, count] of counts.entries()) {
    if (count === 0) {
      skipped = lines.length > 0
      continue
    }
    if (skipped) lines.push(`${' '.repeat(21)}⋮`)
    skipped = false
    cumulative += count
    const range = `${formatMicros(edges[index]!)} – ${formatMicros(edges[index + 1]!)}`.padStart(19)
    const bar = '█'.repeat(Math.max(1, Math.round((count / largest) * BAR_WIDTH)))
    const label = labelRow?.(edges[index]!, edges[index + 1]!)
    const row = `${range}  ${bar.padEnd(BAR_WIDTH)} ${String(count).padStart(7)}  ${((cumulative / total) * 100).toFixed(1).padStart(5)}%`
    lines.push(label ? `${row}  ${label}` : row)
  }
  return lines
}
