import {stepWindows} from '../analysis/attribution.js'
import type {LadderRecord, StormResult} from '../results/format.js'
import {type Histogram, decodeHistogram, recordedValues} from '../results/histogram.js'
import {OUTCOMES} from '../results/outcome.js'

/**
 * A saved run as a Prometheus text exposition (docs/openmetrics.md): what `promtool check metrics`
 * checks, what a Pushgateway takes and what Prometheus scrapes. Every series carries the labels
 * that say which storm it was (target, run, and shard when the run was one); the latency
 * histograms' bounds include the edges of the ladder's attribution windows, so "connects that
 * waited for at least k SYN retransmits" is one bucket.
 */

/** The labels every series carries: the grouping key of a push. */
export interface RunLabels {
  target: string
  run: string
  /** `i/n` for a `--shard i/n` run; absent for a whole run */
  shard?: string
}

export function runLabels(result: StormResult): RunLabels {
  const {host, port, family} = result.target
  const target = family === 6 ? `[${host}]:${port}` : `${host}:${port}`
  // Shards of one storm share --start-at: the same run label lets a query sum them (docs/openmetrics.md).
  const run = result.plan.startAt ?? result.startedAt
  const shard = result.plan.shard ? `${result.plan.shard.index}/${result.plan.shard.count}` : undefined
  return shard === undefined ? {target, run} : {target, run, shard}
}

/**
 * Below the first retransmit: a fixed grid for connects that needed none (loopback takes µs, a
 * continent ~100 ms). µs, so every bound is an exact integer of the HDR histogram's unit.
 */
const DIRECT_BOUNDS_US = [100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000] as const

/** Without a known ladder: the same grid continued by decades to 10 min (Linux's longest give-up is ~16 min). */
const NO_LADDER_BOUNDS_US = [1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 600_000_000] as const

/**
 * The histograms' finite upper bounds, µs ascending: the direct grid, then for each retransmit k
 * the opening and the close of its attribution window with no round trip (analysis/attribution.ts
 * stepWindows: k's send time − 50 ms, and k's send time × 1.03 + 200 ms, docs/kernel.md §2), and
 * the ladder's give-up time. The bounds depend on the ladder only, so runs on one kernel can be
 * summed bucket by bucket.
 */
export function latencyBoundsUs(ladder: LadderRecord | null): number[] {
  const bounds = new Set<number>(DIRECT_BOUNDS_US)
  if (ladder === null) for (const bound of NO_LADDER_BOUNDS_US) bounds.add(bound)
  else {
    for (const window of stepWindows(ladder.sendTimesMs, 0)) {
      if (window.retransmits === 0) continue
      bounds.add(Math.round(window.fromMs * 1000))
      bounds.add(Math.round(window.toMs * 1000))
    }
    bounds.add(Math.round(ladder.giveUpMs * 1000))
  }
  return [...bounds].sort((a, b) => a - b)
}

/**
 * How many recorded latencies are ≤ each bound (Prometheus's `le`), exactly from the HDR
 * histogram: an HDR bucket counts toward a bound when its highest equivalent value is ≤ the bound,
 * so one that straddles a bound counts above it (never a connect called faster than it may have
 * been; the error bound is in docs/openmetrics.md).
 */
export function cumulativeCounts(histogram: Histogram, boundsUs: readonly number[]): number[] {
  // recordedValues gives each HDR bucket at its highest equivalent value (hdr-histogram-js's iterator).
  const values = recordedValues(histogram)
  return boundsUs.map((bound) => values.filter(({valueUs}) => valueUs <= bound).reduce((sum, {count}) => sum + count, 0))
}

type Labels = Record<string, string>

interface Family {
  name: string
  type: 'counter' | 'gauge' | 'histogram'
  help: string
  samples: {suffix?: string; labels: Labels; value: number}[]
}

/** Options for rendering. */
export interface RenderOptions {
  /**
   * Leave the run labels off the samples: a Pushgateway adds them from the grouping key (the push
   * path), and the text must not say them twice.
   */
  withoutRunLabels?: boolean
}

/** The exposition of one saved run, ending with a newline. */
export function renderOpenMetrics(result: StormResult, options: RenderOptions = {}): string {
  const run: Labels = options.withoutRunLabels ? {} : {...runLabels(result)}
  const families: Family[] = []
  const family = (name: string, help: string, type: Family['type']): Family['samples'] => {
    const samples: Family['samples'] = []
    families.push({name, type, help, samples})
    return samples
  }

  const bounds = latencyBoundsUs(result.ladder)
  const histogram = (name: string, help: string, base64: string): void => {
    const samples = family(name, help, 'histogram')
    const decoded = decodeHistogram(base64)
    const cumulative = cumulativeCounts(decoded, bounds)
    for (const [index, bound] of bounds.entries()) samples.push({suffix: '_bucket', labels: {...run, le: seconds(bound)}, value: cumulative[index]!})
    samples.push({suffix: '_bucket', labels: {...run, le: '+Inf'}, value: decoded.totalCount})
    // HDR keeps no exact sum: its mean is of bucket midpoints, within the histogram's precision.
    samples.push({suffix: '_sum', labels: run, value: decoded.totalCount === 0 ? 0 : (decoded.mean * decoded.totalCount) / 1e6})
    samples.push({suffix: '_count', labels: run, value: decoded.totalCount})
  }
  histogram(
    'connstorm_connect_duration_seconds',
    'Connected connects: latency from the actual start (the first SYN) to connected; the bounds include each SYN retransmit\'s attribution window.',
    result.histograms.fromActual,
  )
  histogram(
    'connstorm_connect_scheduled_duration_seconds',
    'Connected connects: latency from the intended start (the schedule), so it includes the load generator\'s own start lag; p99 thresholds use it.',
    result.histograms.fromIntended,
  )
  histogram('connstorm_connect_failure_duration_seconds', 'Failed connects (timeout, refused, reset ...): time from the actual start to the failure.', result.histograms.failedFromActual)

  const outcomes = family('connstorm_connects_total', 'Connects by how they ended.', 'counter')
  for (const outcome of OUTCOMES) outcomes.push({labels: {...run, outcome}, value: result.counts.byOutcome[outcome]})
  family('connstorm_connects_attempted_total', 'Connects started.', 'counter').push({labels: run, value: result.counts.attempted})
  family('connstorm_connects_pending', 'Connects still connecting when the run stopped.', 'gauge').push({labels: run, value: result.counts.pending})
  family('connstorm_connects_not_started', 'Connects of the plan never started (the run stopped first).', 'gauge').push({labels: run, value: result.counts.notStarted})

  const counted = result.counts.countedRetransmits
  if (counted) {
    const perCount = family(
      'connstorm_syn_retransmits_counted_connects_total',
      'Connects by outcome and by the SYN retransmits the kernel itself counted for them (TCP_INFO).',
      'counter',
    )
    for (const [outcome, byCount] of Object.entries(counted.byOutcome)) {
      const entries = Object.entries(byCount ?? {}).sort(([a], [b]) => Number(a) - Number(b))
      for (const [retransmits, connects] of entries) perCount.push({labels: {...run, outcome, retransmits}, value: connects})
    }
    family('connstorm_syn_retransmits_uncounted_connects_total', 'Connects whose SYN retransmits the kernel could not report.', 'counter').push({labels: run, value: counted.notCounted})
  }

  if (result.attribution) {
    const steps = family(
      'connstorm_ladder_step_connects_total',
      'Connected connects on each SYN retransmit ladder step (source: counted by the kernel, or inferred from latency).',
      'counter',
    )
    const source = result.attribution.source ?? 'inferred'
    for (const step of result.attribution.steps) steps.push({labels: {...run, retransmits: String(step.retransmits), source: step.source ?? source}, value: step.connects})
    family('connstorm_ladder_between_steps_connects_total', 'Connected connects far from every ladder step: slowness that is not SYN loss.', 'counter').push({
      labels: run,
      value: result.attribution.betweenSteps.connects,
    })
  }

  if (result.ladder) {
    const sends = family('connstorm_ladder_send_seconds', 'When the client kernel sends SYN retransmit k, nominally (k = 0: the first SYN).', 'gauge')
    for (const [retransmits, atMs] of result.ladder.sendTimesMs.entries()) sends.push({labels: {...run, retransmits: String(retransmits)}, value: atMs / 1000})
    family('connstorm_ladder_give_up_seconds', 'When the client kernel gives a connect up (ETIMEDOUT), nominally.', 'gauge').push({labels: run, value: result.ladder.giveUpMs / 1000})
  }

  const kernel = result.kernel
  if (kernel?.counterDeltas) {
    const deltas = family(
      'connstorm_kernel_nstat_delta',
      'Kernel counters (nstat names) after minus before the run, in the storm\'s network namespace (netns="shared": other traffic counts too).',
      'gauge',
    )
    for (const [nstat, delta] of Object.entries(kernel.counterDeltas).sort(([a], [b]) => a.localeCompare(b))) deltas.push({labels: {...run, nstat, netns: kernel.netns}, value: delta})
  }
  const listener = kernel?.listener
  if (listener) {
    if (listener.effectiveBacklog !== null) family('connstorm_listener_effective_backlog', 'The target listener\'s backlog as the kernel took it.', 'gauge').push({labels: run, value: listener.effectiveBacklog})
    if (listener.peakQueue !== null) family('connstorm_listener_peak_accept_queue', 'The longest accept queue sampled on the target listener.', 'gauge').push({labels: run, value: listener.peakQueue})
    if (listener.drops !== undefined && listener.drops !== null) family('connstorm_listener_drops', 'The target listener\'s own drops (sk_drops) during the run.', 'gauge').push({labels: run, value: listener.drops})
  }

  family('connstorm_run_duration_seconds', 'How long the run took.', 'gauge').push({labels: run, value: result.durationMs / 1000})
  family('connstorm_run_start_time_seconds', 'When the run started (Unix time).', 'gauge').push({labels: run, value: Date.parse(result.startedAt) / 1000})
  family('connstorm_run_info', 'The run: connstorm version, plan mode, why it stopped (value always 1).', 'gauge').push({
    labels: {...run, version: result.tool.version, mode: result.plan.mode, stop_reason: result.stopReason},
    value: 1,
  })

  const lines: string[] = []
  for (const {name, type, help, samples} of families) {
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
    for (const sample of samples) lines.push(`${name}${sample.suffix ?? ''}${renderLabels(sample.labels)} ${formatValue(sample.value)}`)
  }
  return `${lines.join('\n')}\n`
}

/** µs as a bound in seconds, the shortest exact decimal (950000 → '0.95'). */
function seconds(us: number): string {
  return String(us / 1e6)
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

function renderLabels(labels: Labels): string {
  const entries = Object.entries(labels)
  if (entries.length === 0) return ''
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`
}

/** The text format's escapes: backslash, double quote and newline in a label value. */
function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')
}

/** In HELP: backslash and newline. */
function escapeHelp(help: string): string {
  return help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')
}
