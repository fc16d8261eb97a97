import type {LocalLimitFinding} from '../analysis/limits.js'
import {formatAddress} from '../plan/target.js'
import {formatMicros, formatMs} from '../plan/units.js'
import {decodeHistogram, type LatencySummary} from '../results/histogram.js'
import {OUTCOMES} from '../results/outcome.js'
import type {StormResult} from '../results/format.js'
import {stepWindows} from '../analysis/attribution.js'
import {renderAttribution, renderKernel, renderVerdict, stillWaiting} from './diagnosis-text.js'
import {renderLatencyChart} from './latency-chart.js'
import {renderProbe} from './probe-text.js'

/**
 * Warn when the tool's own event loop lagged this much: its latencies then include our delay. Not
 * on the native loop, whose thread times every connect and probe itself: there the event loop only
 * feeds and drains it (seconds of both at hand), and runs as SCHED_BATCH, so its 20 ms samples lag
 * by design (docs/performance.md).
 */
const SELF_DELAY_WARNING_US = 10_000

/** The human report: a pure function of the result, so a saved run renders exactly as the live one. */
export function renderTextReport(result: StormResult, limitFindings: readonly LocalLimitFinding[]): string {
  const lines: string[] = []
  const {counts, plan} = result
  const target = formatAddress(result.target.host, result.target.port)
  const resolvedFrom = result.target.requested === target ? '' : ` (resolved from ${result.target.requested})`
  lines.push(`connstorm storm → ${target}${resolvedFrom}${result.target.lab ? ', the built-in lab target' : ''}`)
  if (result.partial) lines.push(partialBanner(result))
  if (result.lab) lines.push(`lab       ${describeLab(result.lab)}`)
  lines.push(`plan      ${describePlanRecord(result)}`)
  lines.push(
    `run       ${result.partial ? 'stopped' : 'completed'} after ${formatMs(result.durationMs)}; ` +
      `${counts.attempted} started in ${formatMs(result.startWindowMs)} ` +
      `(${formatRate(result.achievedRate)} starts/s${plan.rate === undefined ? '' : `, asked ${formatRate(plan.rate)}/s`})`,
  )
  lines.push(`outcomes  ${describeOutcomes(result)}`)
  if (counts.pending > 0 || counts.notStarted > 0) {
    const sentAtLeast = result.attribution?.pending?.[0]?.atLeastRetransmits ?? 0
    const waited = sentAtLeast > 0 ? `; each ${stillWaiting(sentAtLeast)}` : ''
    lines.push(`          ${counts.pending} still in flight when the run stopped (not counted as failed${waited}), ${counts.notStarted} never started`)
  }
  for (const finding of limitFindings) {
    lines.push(`limits    ${finding.count} connect${finding.count === 1 ? '' : 's'} (${finding.outcome}) failed on this machine before a SYN was sent — ${finding.limit}`)
    lines.push(`          fix: ${finding.fix}`)
  }
  if (result.clientLimits && result.clientLimits.problems.length > 0) {
    lines.push(`forced    the pre-flight refused this plan and --force ran it: ${result.clientLimits.problems.join(' | ')}`)
  }
  const intended = result.latencyUs.fromIntended
  if (intended.count > 0) {
    lines.push(`latency   from intended start  ${describeSummary(intended)}`)
    lines.push(`          from actual start    ${describeSummary(result.latencyUs.fromActual)}`)
  } else {
    lines.push('latency   no connect succeeded')
  }
  if (counts.failed > 0) lines.push(`failures  time to failure      ${describeSummary(result.latencyUs.failedFromActual)}`)
  if (plan.close === 'hold') lines.push(`held      ${result.heldAtEnd} connections were still open when the run ended (then reset)`)
  // Charted from the actual start, when the SYN left: that is the clock the retransmit ladder runs on.
  const chart = renderLatencyChart(decodeHistogram(result.histograms.fromActual), stepLabeller(result))
  if (chart.length > 0) {
    lines.push('', 'connect latency from actual start (4 log buckets per octave; count, cumulative %; k = SYN retransmits)', ...chart, '')
  }
  if (result.kernel) lines.push(...renderAttribution(result), '')
  lines.push(...renderProbe(result))
  lines.push(...renderKernel(result))
  lines.push(`self      ${describeSelf(result)}`)
  if (result.self.workers) lines.push(`          ${describeWorkers(result.self.workers)}`)
  const verdict = [renderVerdict(result, counts.connected + counts.failed), result.afterConnect?.sentence ? `after connect: ${result.afterConnect.sentence}` : null]
    .filter((part) => part !== null)
    .join('; ')
  if (verdict) lines.push(`verdict   ${verdict}`)
  lines.push(...warnings(result))
  return lines.join('\n')
}

/** Names the ladder step a chart row belongs to, when the row overlaps that step's window. */
function stepLabeller(result: StormResult): ((fromUs: number, toUs: number) => string | undefined) | undefined {
  const {ladder, attribution} = result
  if (!ladder || !attribution) return undefined
  const windows = stepWindows(ladder.sendTimesMs, attribution.rttAllowanceMs)
  return (fromUs, toUs) => {
    const window = windows.find((candidate) => fromUs / 1000 <= candidate.toMs && toUs / 1000 >= candidate.fromMs)
    return window ? `k=${window.retransmits}` : undefined
  }
}

function partialBanner(result: StormResult): string {
  const why = result.stopReason === 'interrupted' ? 'interrupted' : `hard deadline (--max-duration ${formatMs(result.plan.maxDurationMs)}) reached`
  return `PARTIAL   ${why}: the figures below cover only what was measured before the stop`
}

function describeLab(lab: NonNullable<StormResult['lab']>): string {
  const parts = [
    `backlog ${lab.backlog}` +
      (lab.effectiveBacklog === null ? '' : ` (effective ${lab.effectiveBacklog}, accept queue holds ${lab.effectiveBacklog + 1})`),
  ]
  if (lab.stallMs > 0) parts.push(`accepts nothing for the first ${formatMs(lab.stallMs)}`)
  if (lab.stallEveryMs !== null && lab.stallForMs !== null) parts.push(`stalls ${formatMs(lab.stallForMs)} every ${formatMs(lab.stallEveryMs)}`)
  if (lab.acceptRate !== null) parts.push(`≤ ${lab.acceptRate} accepts/s`)
  if (lab.handlerDelayMs > 0) parts.push(`spends ${formatMs(lab.handlerDelayMs)} on each connection`)
  parts.push(`on accept: ${lab.onAccept}`)
  if (lab.accepted !== null) parts.push(`accepted ${lab.accepted}`)
  return parts.join('; ')
}

function describePlanRecord(result: StormResult): string {
  const {plan} = result
  const sources = plan.sources ? `, bound to ${plan.sources.length} source address${plan.sources.length === 1 ? '' : 'es'} (${describeSources(plan.sources)})` : ''
  const common = `concurrency ≤ ${plan.concurrency}, timeout ${formatMs(plan.timeoutMs)} per connect, close ${plan.close}${sources}, deadline ${formatMs(plan.maxDurationMs)}`
  switch (plan.mode) {
    case 'burst': {
      return `burst of ${plan.connects} connects; ${common}`
    }
    case 'rate': {
      return `${formatRate(plan.rate!)} connects/s for ${formatMs(plan.durationMs!)} (${plan.connects}, open loop); ${common}`
    }
    case 'waves': {
      return `${plan.waves} waves of ${plan.burst} every ${formatMs(plan.intervalMs!)} (${plan.connects} connects); ${common}`
    }
  }
}

function describeSources(sources: readonly string[]): string {
  return sources.length <= 3 ? sources.join(', ') : `${sources[0]} … ${sources.at(-1)}`
}

function describeOutcomes(result: StormResult): string {
  const {counts} = result
  // Shares of every connect started, so that connects still pending at a stop are not hidden.
  const parts = OUTCOMES.map((outcome) => {
    const n = counts.byOutcome[outcome]
    const share = counts.attempted > 0 && n > 0 ? ` (${((n / counts.attempted) * 100).toFixed(1)}%)` : ''
    return `${outcome} ${n}${share}`
  })
  // Connected (the handshake completed), then reset by the server: counted as connected, and said.
  const thenReset = counts.connectedThenReset ?? 0
  if (thenReset > 0) parts[0] += ` [${thenReset} connected, then reset]`
  const errnos = Object.entries(counts.otherErrnos).map(([code, n]) => `${code} ×${n}`)
  return parts.join(' · ') + (errnos.length > 0 ? `  [other: ${errnos.join(', ')}]` : '')
}

function describeSummary(summary: LatencySummary): string {
  return (
    `min ${formatMicros(summary.min)}  p50 ${formatMicros(summary.p50)}  p90 ${formatMicros(summary.p90)}  ` +
    `p99 ${formatMicros(summary.p99)}  p99.9 ${formatMicros(summary.p999)}  max ${formatMicros(summary.max)}  (n=${summary.count})`
  )
}

function describeSelf(result: StormResult): string {
  const {self, counts} = result
  const loop = self.eventLoopDelayUs
  const delay = loop
    ? `event-loop delay p50 ${formatMicros(loop.p50)}, p99 ${formatMicros(loop.p99)}, max ${formatMicros(loop.max)}`
    : 'event-loop delay not sampled (run shorter than the monitor interval)'
  // Off the native loop, why: a slower path taken for a reason the user may want to change (no addon built, say).
  const why = self.connectPath !== 'native' && self.connectPathWhy ? ` (${self.connectPathWhy})` : ''
  const path = self.connectPath === undefined ? '' : `; connects made ${CONNECT_PATH_WORDS[self.connectPath]}${why}`
  return (
    `${delay}; late starts ${self.lateStarts} of ${counts.attempted} ` +
    `(> ${formatMicros(self.lateStartThresholdUs)} behind schedule; start lag p99 ${formatMicros(self.startLagUs.p99)})${path}`
  )
}

const CONNECT_PATH_WORDS: Record<NonNullable<StormResult['self']['connectPath']>, string> = {
  native: 'on the native loop thread',
  handle: 'on bare TCP handles',
  net: 'with net.Socket',
}

/** One thread's loop can lag while the others' do not: the combined line shows only the worst. */
export function describeWorkers(workers: NonNullable<StormResult['self']['workers']>): string {
  const threads = workers.map((worker, index) => {
    const loop = worker.eventLoopDelayUs ? `loop p99 ${formatMicros(worker.eventLoopDelayUs.p99)}` : 'loop not sampled'
    return `#${index + 1} ${worker.attempted} started, ${worker.lateStarts} late, ${loop}`
  })
  return `per thread: ${threads.join(' · ')}`
}

function warnings(result: StormResult): string[] {
  const out: string[] = []
  const {self, counts} = result
  if (self.eventLoopDelayUs && self.eventLoopDelayUs.p99 > SELF_DELAY_WARNING_US && self.connectPath !== 'native') {
    out.push(`warning   connstorm's own event loop lagged (p99 ${formatMicros(self.eventLoopDelayUs.p99)}): latencies include that delay`)
  }
  // A burst is always launched over a few ms; that matters only when it is not small next to the latencies.
  const lagMatters = result.plan.mode !== 'burst' || self.startLagUs.p99 > 0.1 * result.latencyUs.fromActual.p50
  if (counts.attempted > 0 && self.lateStarts / counts.attempted > 0.01 && lagMatters) {
    const why =
      result.plan.mode === 'burst'
        ? `the burst took ${formatMs(result.startWindowMs)} to launch`
        : 'the schedule was not kept (concurrency cap or a busy tool)'
    out.push(`warning   ${self.lateStarts} starts were late (start lag p99 ${formatMicros(self.startLagUs.p99)}): ${why}; latency from intended start includes that wait`)
  }
  return out
}

function formatRate(rate: number): string {
  return rate >= 100 ? Math.round(rate).toLocaleString('en-US') : String(Math.round(rate * 10) / 10)
}
