import {OUTCOMES} from '../results/outcome.js'
import {formatAddress} from '../plan/target.js'
import {formatMicros, formatMs} from '../plan/units.js'
import {type Histogram, type LatencySummary, countsInBuckets, decodeHistogram} from '../results/histogram.js'
import type {StormResult} from '../results/format.js'
import {PROBE_OUTCOMES} from '../results/outcome.js'
import {type ComparisonSection, type ReportRun, SECTION_TITLES, adviceChanges, compareRuns, describeChange} from './compare.js'
import {renderVerdict} from './diagnosis-text.js'
import {logBucketEdges} from './latency-chart.js'
import {renderRunReport} from './run-report.js'

/**
 * The HTML report: one self-contained file (inline CSS, SVG drawn here, no script, no network),
 * a pure function of the saved run(s). Every chart is an <svg> with an id and a data-points
 * attribute (how many bars it drew), so a test can tell an empty chart from one with data.
 */

const WIDTH = 960
const MARGIN = {left: 64, right: 24, bottom: 46}
const LABEL_ROW = 15
const FONT_CHAR_PX = 6.4

/** Text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')
}

const esc = escapeHtml

export function renderHtmlReport(runs: readonly ReportRun[]): string {
  if (runs.length === 0) throw new RangeError('renderHtmlReport needs at least one run')
  const title = runs.length === 1 ? `connstorm report: ${runs[0]!.label}` : `connstorm: ${runs.map((run) => run.label).join(' vs ')}`
  const body: string[] = [`<header><h1>${esc(title)}</h1>`]
  body.push(`<p class="sub">generated from ${runs.length === 1 ? 'a saved run' : `${runs.length} saved runs`} by ${esc(runs[0]!.result.tool.name)} ${esc(runs[0]!.result.tool.version)}; self-contained, no network</p></header>`)
  if (runs.length > 1) body.push(comparisonSection(runs))
  runs.forEach((run, index) => body.push(runSection(run, index, runs.length > 1)))
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No network at all: nothing may be fetched, not even a favicon.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<link rel="icon" href="data:,">',
    `<title>${esc(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n')
}

const STYLE = `
:root{--fg:#1d232b;--muted:#5b6673;--line:#d8dde3;--ok:#2a78c2;--fail:#d0432c;--step:#7b3fb0;--ladder:#9aa4ae;--bg:#fff;--panel:#f6f8fa}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1010px;padding:20px 24px 48px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 2px}h2{font-size:18px;margin:28px 0 8px;padding-top:8px;border-top:1px solid var(--line)}h3{font-size:15px;margin:18px 0 6px}
.sub,.note{color:var(--muted);margin:2px 0 8px}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--panel);border:1px solid var(--line);border-radius:4px;padding:8px 10px;overflow-x:auto;white-space:pre}
pre.config{white-space:pre-wrap;overflow-wrap:anywhere}
table.counters td:nth-child(odd){text-align:left;padding-left:18px}table.counters td:first-child{padding-left:10px}
table{border-collapse:collapse;margin:6px 0 10px}
.scroll{overflow-x:auto}#comparison-table td{white-space:nowrap;padding:3px 8px}#comparison-table td:first-child{white-space:normal;min-width:180px}th,td{padding:3px 10px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}th{font-weight:600;background:var(--panel)}
tr.section td{font-weight:600;background:#eef1f4;text-align:left}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.verdict{background:#fff8e6;border-left:4px solid #e0a800;padding:6px 10px;margin:10px 0}
.partial{background:#fdecea;border-left:4px solid var(--fail);padding:6px 10px}
.rec{border:1px solid var(--line);border-radius:4px;padding:6px 12px;margin:8px 0}.rec h4{margin:2px 0 4px;font-size:14px}
.rec ul{margin:2px 0 6px;padding-left:20px}.change{font-weight:600}.keep{color:var(--muted)}
svg{display:block;max-width:100%;height:auto;font-family:system-ui,"DejaVu Sans",sans-serif}
svg .axis{stroke:#6b7580;stroke-width:1}svg .grid{stroke:#e7eaee;stroke-width:1}
svg text{font-size:11px;fill:#38414b}svg text.title{font-size:12px;font-weight:600}
svg .ok{fill:var(--ok)}svg .fail{fill:var(--fail)}svg .run1{fill:#2a78c2}svg .run2{fill:#e08a1e}svg .run3{fill:#2e9e5b}svg .run4{fill:#8e44ad}svg .run5{fill:#c0392b}svg .run6{fill:#5d6d7e}svg .ladder{stroke:var(--ladder);stroke-dasharray:3 3}svg .step{stroke:var(--step);stroke-width:1.5}
svg text.steplabel{fill:var(--step);font-weight:600}svg text.halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}svg text.ladderlabel{fill:#7d8792;font-size:10px}svg .timeout{stroke:var(--fail);stroke-dasharray:6 3}
svg .seg-connected{fill:var(--ok)}svg .seg-timeout{fill:#d0432c}svg .seg-refused{fill:#e67e22}svg .seg-reset{fill:#a93226}svg .seg-addrNotAvail{fill:#8e44ad}
svg .seg-fileLimit{fill:#6c3483}svg .seg-unreachable{fill:#7f8c8d}svg .seg-other{fill:#34495e}
svg .seg-ok{fill:var(--ok)}svg .seg-probeTimeout{fill:#d0432c}svg .seg-resetAfterConnect{fill:#a93226}svg .seg-closedBeforeReply{fill:#e67e22}svg .seg-tlsError{fill:#8e44ad}svg .seg-unexpectedReply{fill:#b7950b}svg .seg-probeError{fill:#34495e}
.legend{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:-1px}
`.trim()

// ---------------------------------------------------------------- sections

function comparisonSection(runs: readonly ReportRun[]): string {
  const rows = compareRuns(runs)
  const out = ['<section id="comparison">', `<h2>Side by side</h2>`, `<p class="note">change: ${esc(runs.at(-1)!.label)} against ${esc(runs[0]!.label)}</p>`]
  out.push(`<div class="scroll"><table id="comparison-table"><thead><tr><th></th>${runs.map((run) => `<th>${esc(run.label)}</th>`).join('')}<th>change</th></tr></thead><tbody>`)
  let section: ComparisonSection | null = null
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section
      out.push(`<tr class="section"><td colspan="${runs.length + 2}">${esc(SECTION_TITLES[section])}</td></tr>`)
    }
    out.push(`<tr><td>${esc(row.label)}</td>${row.values.map((value) => `<td>${esc(value)}</td>`).join('')}<td>${esc(row.change ?? '')}</td></tr>`)
  }
  out.push('</tbody></table></div>')
  out.push('<h3>Connect latency of every run, from the actual start (log axis, side by side per bucket)</h3>')
  out.push(comparisonLatencyChart(runs))
  const changes = adviceChanges(runs)
  out.push(changes.length === 0 ? '<p>Advice changes: none.</p>' : `<p>Advice changes:</p><ul>${changes.map((change) => `<li>${esc(change)}</li>`).join('')}</ul>`)
  out.push('</section>')
  return out.join('\n')
}

function runSection(run: ReportRun, index: number, several: boolean): string {
  const {result} = run
  const id = (name: string): string => (index === 0 ? name : `${name}-${index + 1}`)
  const out: string[] = [`<section class="run" id="${id('run')}">`]
  if (several) out.push(`<h2>[${index + 1}] ${esc(run.label)}</h2>`)
  if (result.partial) out.push(`<p class="partial">PARTIAL (${esc(result.stopReason)}): the figures below cover only what was measured before the stop</p>`)
  out.push(summaryFacts(run))
  const verdict = [renderVerdict(result, result.counts.connected + result.counts.failed), result.afterConnect?.sentence ? `after connect: ${result.afterConnect.sentence}` : null]
    .filter((part) => part !== null)
    .join('; ')
  if (verdict) out.push(`<p class="verdict"><strong>verdict</strong> ${esc(verdict)}</p>`)
  out.push(latencyTable(result))

  out.push('<h3>Connect latency, from the actual start (log axis, 4 buckets per octave)</h3>')
  out.push(latencyChart(result, id('latency-chart')))
  out.push('<h3>Timeline: connects completed and failed, per time bin since the start</h3>')
  out.push(timelineChart(result, id('timeline-chart')))
  out.push('<h3>Outcomes</h3>')
  out.push(outcomeChart(result, id('outcome-chart')))
  if (result.probe) out.push(probeSection(result, id('first-byte-chart')))
  out.push(attributionSection(result, id('attribution-table')))
  out.push(kernelSection(result, id('kernel-table')))
  out.push(adviceSection(run))
  out.push(
    `<details><summary>the text report (as <code>connstorm analyze</code> prints it)</summary><pre>${esc(renderRunReport(run))}</pre></details>`,
  )
  out.push('</section>')
  return out.join('\n')
}

function summaryFacts(run: ReportRun): string {
  const {result} = run
  const {counts, plan} = result
  const target = formatAddress(result.target.host, result.target.port)
  const facts: [string, string][] = [
    ['file', run.label],
    ['target', `${target}${result.target.requested === target ? '' : ` (resolved from ${result.target.requested})`}${result.target.lab ? ', the built-in lab target' : ''}`],
  ]
  if (result.lab) {
    const lab = result.lab
    facts.push([
      'lab',
      `backlog ${lab.backlog}${lab.effectiveBacklog === null ? '' : ` (effective ${lab.effectiveBacklog}, accept queue holds ${lab.effectiveBacklog + 1})`}` +
        `${lab.stallMs > 0 ? `; accepts nothing for the first ${formatMs(lab.stallMs)}` : ''}; on accept: ${lab.onAccept}`,
    ])
  }
  const shape =
    plan.mode === 'burst'
      ? `burst of ${plan.connects} connects`
      : plan.mode === 'rate'
        ? `${plan.rate} connects/s for ${formatMs(plan.durationMs ?? 0)} (${plan.connects})`
        : `${plan.waves} waves of ${plan.burst} every ${formatMs(plan.intervalMs ?? 0)} (${plan.connects} connects)`
  facts.push(['plan', `${shape}; concurrency ≤ ${plan.concurrency}, timeout ${formatMs(plan.timeoutMs)} per connect, close ${plan.close}`])
  facts.push(['run', `${result.partial ? 'stopped' : 'completed'} after ${formatMs(result.durationMs)}; ${counts.attempted} started in ${formatMs(result.startWindowMs)}; started at ${result.startedAt}`])
  return `<dl class="facts">${facts.map(([name, value]) => `<dt>${esc(name)}</dt><dd>${esc(value)}</dd>`).join('')}</dl>`
}

function latencyTable(result: StormResult): string {
  const rows: [string, LatencySummary][] = [
    ['connect, from intended start', result.latencyUs.fromIntended],
    ['connect, from actual start', result.latencyUs.fromActual],
  ]
  if (result.counts.failed > 0) rows.push(['time to failure, from actual start', result.latencyUs.failedFromActual])
  return summaryTable(rows)
}

function summaryTable(rows: readonly [string, LatencySummary][]): string {
  const cells = (summary: LatencySummary): string =>
    summary.count === 0
      ? `<td colspan="6">none</td><td>0</td>`
      : [summary.min, summary.p50, summary.p90, summary.p99, summary.p999, summary.max].map((us) => `<td>${esc(formatMicros(us))}</td>`).join('') + `<td>${summary.count}</td>`
  return (
    '<table class="latency"><thead><tr><th>latency</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>n</th></tr></thead><tbody>' +
    rows.map(([label, summary]) => `<tr><td>${esc(label)}</td>${cells(summary)}</tr>`).join('') +
    '</tbody></table>'
  )
}

function attributionSection(result: StormResult, tableId: string): string {
  const {ladder, attribution} = result
  const out = ['<h3>SYN retransmits: connects per ladder step</h3>']
  if (!ladder || !attribution) {
    out.push('<p class="note">Not attributed: tcp_syn_retries / tcp_syn_linear_timeouts could not be read on the machine that ran the storm.</p>')
    return out.join('\n')
  }
  out.push(
    `<p class="note">Ladder from the storming kernel (tcp_syn_retries=${esc(ladder.synRetries)}, tcp_syn_linear_timeouts=${esc(ladder.linearTimeouts)}): ` +
      `retransmits at ${esc(ladder.sendTimesMs.slice(1).map((ms) => ms / 1000).join(', '))} s; connect() gives up at ${ladder.giveUpMs / 1000} s.</p>`,
  )
  out.push(`<table id="${tableId}"><thead><tr><th>retransmits</th><th>SYN sent at</th><th>connects</th><th>share</th><th>observed median</th></tr></thead><tbody>`)
  for (const step of attribution.steps) {
    out.push(`<tr><td>${step.retransmits}</td><td>${step.atMs / 1000} s</td><td>${step.connects}</td><td>${(step.share * 100).toFixed(1)} %</td><td>${esc(formatMs(step.observedMedianMs))}</td></tr>`)
  }
  for (const group of attribution.timedOut) out.push(`<tr><td>≥ ${group.atLeastRetransmits}</td><td>timed out</td><td>${group.connects}</td><td></td><td></td></tr>`)
  for (const group of attribution.failedSteps) out.push(`<tr><td>${group.retransmits}</td><td>failed (RST)</td><td>${group.connects}</td><td></td><td></td></tr>`)
  if (attribution.betweenSteps.connects > 0) {
    out.push(
      `<tr><td>between steps</td><td>not SYN loss</td><td>${attribution.betweenSteps.connects}</td><td>${(attribution.betweenSteps.share * 100).toFixed(1)} %</td>` +
        `<td>${esc(formatMs(attribution.betweenSteps.observedMedianMs ?? 0))}</td></tr>`,
    )
  }
  out.push('</tbody></table>')
  out.push(`<p class="note">Σ k·n = ${attribution.expectedSynRetrans}${attribution.expectedIsLowerBound ? ' (a lower bound)' : ''} SYN retransmits expected.</p>`)
  return out.join('\n')
}

function kernelSection(result: StormResult, tableId: string): string {
  const {kernel} = result
  if (!kernel) return ''
  const out = ['<h3>Kernel</h3>']
  const deltas = kernel.counterDeltas
  const netns = kernel.linkRate ? `${kernel.netns} (packets toward the lab paced at ${kernel.linkRate})` : kernel.netns
  if (deltas === null) {
    out.push(`<p class="note">netns ${esc(netns)}; counters unreadable</p>`)
  } else {
    const names = Object.keys(deltas).sort()
    out.push(`<p class="note">netns ${esc(netns)}; counter deltas over the run</p>`)
    const cells = names.map((name) => `<td>${esc(name)}</td><td>+${deltas[name]}</td>`)
    const rows: string[] = []
    for (let index = 0; index < cells.length; index += 3) rows.push(`<tr>${cells.slice(index, index + 3).join('')}</tr>`)
    if (rows.length > 0) out.push(`<table id="${tableId}" class="counters"><tbody>${rows.join('')}</tbody></table>`)
  }
  if (kernel.listener) {
    const {effectiveBacklog, peakQueue, samples, source} = kernel.listener
    const full = effectiveBacklog !== null && peakQueue !== null && peakQueue > effectiveBacklog ? ' (full)' : ''
    out.push(
      `<p>listener: effective backlog ${effectiveBacklog ?? 'unknown'} (source: ${esc(String(source))}); peak accept queue ${peakQueue ?? 'unknown'}/` +
        `${effectiveBacklog === null ? 'unknown' : `${effectiveBacklog}+1`}${full}, from ${samples} samples</p>`,
    )
  }
  return out.join('\n')
}

function adviceSection(run: ReportRun): string {
  const {advice} = run
  const out = [`<section class="advice"><h3>Advice${run.serverName ? ` (for ${esc(run.serverName)})` : ''}${advice.unverified ? ' — UNVERIFIED: some facts it rests on were unknown' : ''}</h3>`]
  out.push(`<p>${esc(advice.model)}</p>`)
  if (advice.notTheFix) out.push(`<p class="verdict"><strong>a bigger queue is not the fix:</strong> ${esc(advice.notTheFix)}</p>`)
  for (const recommendation of advice.recommendations) {
    const changed = recommendation.proposed !== null
    out.push(`<div class="rec"><h4><code>${esc(recommendation.knob)}</code> <span class="${changed ? 'change' : 'keep'}">${esc(describeChange(recommendation))}</span></h4>`)
    if (recommendation.evidence.length > 0) out.push(`<ul>${recommendation.evidence.map((fact) => `<li>evidence: ${esc(fact)}</li>`).join('')}</ul>`)
    if (recommendation.lines.length > 0) out.push(`<pre class="config">${esc(recommendation.lines.join('\n'))}</pre>`)
    out.push('</div>')
  }
  for (const warning of advice.warnings) out.push(`<p class="note">warning: ${esc(warning)}</p>`)
  const {verification, thresholds} = run.result
  if (verification) out.push(`<p><strong>verify</strong> ${verification.verified ? 'VERIFIED' : 'NOT VERIFIED'}: ${esc(verification.reason)}</p>`)
  if (thresholds && thresholds.length > 0) {
    out.push(`<ul>${thresholds.map((threshold) => `<li>${threshold.held ? 'held' : 'FAILED'}: <code>${esc(threshold.expr)}</code> (measured ${esc(threshold.display)})</li>`).join('')}</ul>`)
  }
  out.push('</section>')
  return out.join('\n')
}

function probeSection(result: StormResult, chartId: string): string {
  const probe = result.probe!
  const out = ['<h3>Probe: first byte back, from the intended start</h3>', `<p class="note">${esc(probe.description)}; deadline ${esc(formatMs(probe.timeoutMs))} after connect${probe.insecure ? '; WARNING: --insecure: TLS certificates were NOT verified' : ''}</p>`]
  out.push(histogramChart({id: chartId, series: [{name: 'first byte', className: 'ok', histogram: decodeHistogram(probe.histograms.firstByteUs)}], markers: [], emptyText: 'no first byte was received'}))
  const outcomes = PROBE_OUTCOMES.map((outcome) => [outcome, probe.outcomes[outcome]] as const)
  out.push(stackedBar(`${chartId}-outcomes`, outcomes, outcomes.reduce((sum, [, n]) => sum + n, 0) + probe.pending))
  out.push(
    summaryTable([
      ['first byte, from intended start', probe.latencyUs.firstByte],
      ['TLS handshake done, from intended start', probe.latencyUs.tlsHandshake],
      ['HTTP headers, from intended start', probe.latencyUs.httpHeaders],
      ['first response after connect', probe.latencyUs.responseAfterConnect],
    ].filter(([, summary]) => (summary as LatencySummary).count > 0) as [string, LatencySummary][]),
  )
  return out.join('\n')
}

// ---------------------------------------------------------------- charts

interface Series {
  name: string
  /** the CSS class of its bars: ok, fail, or run1 … run6 in a comparison */
  className: string
  histogram: Histogram
}

interface Marker {
  us: number
  label: string
  kind: 'step' | 'ladder' | 'timeout'
}

/** The connect-latency histogram with the ladder: the steps connects landed on, labelled, and the other send times of the ladder in range. */
function latencyChart(result: StormResult, id: string): string {
  const connected = decodeHistogram(result.histograms.fromActual)
  const failed = decodeHistogram(result.histograms.failedFromActual)
  const markers: Marker[] = []
  const {ladder, attribution} = result
  const reached = new Set((attribution?.steps ?? []).filter((step) => step.connects > 0).map((step) => step.retransmits))
  if (ladder) {
    ladder.sendTimesMs.forEach((ms, k) => {
      // A step connects landed on is labelled in full above the plot; the others by k only.
      if (k > 0) markers.push({us: ms * 1000, label: reached.has(k) ? '' : `k=${k}`, kind: 'ladder'})
    })
  }
  for (const step of attribution?.steps ?? []) {
    if (step.connects === 0) continue
    const what = step.retransmits === 0 ? 'no SYN retransmit' : `${step.retransmits} SYN retransmit${step.retransmits === 1 ? '' : 's'}`
    markers.push({us: step.observedMedianMs * 1000, label: `${what}, ${formatMs(step.observedMedianMs)} (${step.connects} connects)`, kind: 'step'})
  }
  if (result.counts.byOutcome.timeout > 0) markers.push({us: result.plan.timeoutMs * 1000, label: `--timeout ${formatMs(result.plan.timeoutMs)}`, kind: 'timeout'})
  return histogramChart({
    id,
    series: [
      {name: 'connected', className: 'ok', histogram: connected},
      {name: 'failed (time to failure)', className: 'fail', histogram: failed},
    ],
    markers,
    emptyText: 'no connect completed',
  })
}

/** Every run's connect latencies on one log axis, a colour per run, with the first run's ladder. */
function comparisonLatencyChart(runs: readonly ReportRun[]): string {
  const shown = runs.slice(0, 6)
  const ladder = runs.find((run) => run.result.ladder)?.result.ladder
  const markers: Marker[] = (ladder?.sendTimesMs ?? []).flatMap((ms, k) => (k > 0 ? [{us: ms * 1000, label: `k=${k}`, kind: 'ladder' as const}] : []))
  return histogramChart({
    id: 'compare-latency-chart',
    series: shown.map((run, index) => ({name: run.label, className: `run${index + 1}`, histogram: decodeHistogram(run.result.histograms.fromActual)})),
    markers,
    emptyText: 'no connect completed in any run',
    layout: 'grouped',
  })
}

interface HistogramChartSpec {
  id: string
  series: Series[]
  markers: Marker[]
  emptyText: string
  /** stacked: the series add up in each bucket (connected + failed); grouped: side by side (one per run) */
  layout?: 'stacked' | 'grouped'
}

function histogramChart(spec: HistogramChartSpec): string {
  const present = spec.series.filter((series) => series.histogram.totalCount > 0)
  if (present.length === 0) return emptyChart(spec.id, spec.emptyText)
  const minUs = Math.min(...present.map((series) => series.histogram.minNonZeroValue))
  const maxUs = Math.max(...present.map((series) => series.histogram.maxValue))
  // One empty bucket-ish of room on each side, so a lone cluster does not touch the frame.
  const edges = logBucketEdges(minUs / 1.5, maxUs * 1.5)
  const lo = edges[0]!
  const hi = edges.at(-1)!
  const counts = present.map((series) => countsInBuckets(series.histogram, edges))
  const stacked = edges.slice(0, -1).map((_, bucket) => counts.reduce((sum, series) => sum + series[bucket]!, 0))
  const grouped = spec.layout === 'grouped'
  // Headroom above the tallest bar for its count.
  const top = niceCeiling(1.08 * Math.max(1, ...(grouped ? counts.flat() : stacked)))

  const markers = spec.markers.filter((marker) => marker.us >= lo && marker.us <= hi).sort((a, b) => a.us - b.us)
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right
  const x = (us: number): number => MARGIN.left + ((Math.log2(us) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo))) * plotWidth

  // Step labels sit above the plot, each in the first row where it does not overlap another.
  const placed = placeLabels(markers.filter((marker) => marker.kind !== 'ladder').map((marker) => ({x: x(marker.us), text: marker.label})), MARGIN.left, WIDTH - MARGIN.right)
  const rows = Math.max(1, ...placed.map((label) => label.row + 1))
  const plotTop = 40 + rows * LABEL_ROW
  const plotHeight = 220
  const height = plotTop + plotHeight + MARGIN.bottom
  const y = (count: number): number => plotTop + plotHeight - (count / top) * plotHeight

  const out: string[] = []
  const points = stacked.filter((count) => count > 0).length
  out.push(
    `<svg id="${spec.id}" data-points="${points}" data-total="${present.reduce((sum, series) => sum + series.histogram.totalCount, 0)}" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${esc(`histogram, ${points} buckets`)}">`,
  )
  out.push(legend(present.map((series) => ({className: series.className, name: `${series.name} (${series.histogram.totalCount})`})), 16))
  out.push(...yAxis(top, y, plotTop, plotHeight, 'connects'))
  for (const tick of logTicks(lo, hi)) {
    const at = x(tick).toFixed(1)
    out.push(`<line class="grid" x1="${at}" x2="${at}" y1="${plotTop}" y2="${plotTop + plotHeight}"/>`)
    out.push(`<text x="${at}" y="${plotTop + plotHeight + 15}" text-anchor="middle">${esc(tickLabel(tick))}</text>`)
  }
  out.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">latency (log scale)</text>`)
  const ladder = markers.filter((candidate) => candidate.kind === 'ladder')
  for (const marker of ladder) {
    const at = x(marker.us).toFixed(1)
    out.push(`<line class="ladder" x1="${at}" x2="${at}" y1="${plotTop}" y2="${plotTop + plotHeight}"><title>${esc(`a SYN retransmit is sent at ${formatMicros(marker.us)}`)}</title></line>`)
  }
  // Bars: in each bucket the series stacked (or side by side), each with its count and range in a tooltip.
  for (let bucket = 0; bucket < stacked.length; bucket++) {
    if (stacked[bucket] === 0) continue
    const left = x(edges[bucket]!) + 0.5
    const width = Math.max(1, x(edges[bucket + 1]!) - x(edges[bucket]!) - 1)
    const slot = grouped ? width / present.length : width
    let base = 0
    for (const [index, series] of present.entries()) {
      const count = counts[index]![bucket]!
      if (count === 0) continue
      const from = grouped ? 0 : base
      const y0 = y(from + count)
      const h = Math.max(1, y(from) - y0)
      const barX = grouped ? left + index * slot : left
      out.push(
        `<rect class="${series.className}" x="${barX.toFixed(1)}" y="${y0.toFixed(1)}" width="${Math.max(1, slot - (grouped ? 0.5 : 0)).toFixed(1)}" height="${h.toFixed(1)}">` +
          `<title>${esc(`${series.name}: ${count} between ${formatMicros(edges[bucket]!)} and ${formatMicros(edges[bucket + 1]!)}`)}</title></rect>`,
      )
      if (grouped && slot >= 12) out.push(`<text x="${(barX + slot / 2).toFixed(1)}" y="${(y0 - 3).toFixed(1)}" text-anchor="middle">${count}</text>`)
      base += count
    }
    if (!grouped) out.push(`<text x="${(left + width / 2).toFixed(1)}" y="${(y(stacked[bucket]!) - 3).toFixed(1)}" text-anchor="middle">${stacked[bucket]}</text>`)
  }
  // Ladder labels over the bars, with a halo so that a bar does not hide them.
  for (const marker of ladder.filter((candidate) => candidate.label !== '')) {
    out.push(`<text class="ladderlabel halo" x="${x(marker.us).toFixed(1)}" y="${plotTop + 11}" text-anchor="middle">${esc(marker.label)}</text>`)
  }
  for (const marker of markers.filter((candidate) => candidate.kind !== 'ladder')) {
    const at = x(marker.us).toFixed(1)
    out.push(`<line class="${marker.kind}" x1="${at}" x2="${at}" y1="${plotTop - 4}" y2="${plotTop + plotHeight}"/>`)
  }
  for (const label of placed) {
    const marker = markers.find((candidate) => candidate.label === label.text)!
    const labelY = 36 + label.row * LABEL_ROW
    const at = label.x.toFixed(1)
    out.push(`<line class="${marker.kind}" x1="${at}" x2="${at}" y1="${labelY + 3}" y2="${plotTop - 4}" stroke-opacity="0.5"/>`)
    out.push(
      `<text class="steplabel"${marker.kind === 'timeout' ? ' style="fill:var(--fail)"' : ''} x="${(label.anchor === 'start' ? label.x + 4 : label.x - 4).toFixed(1)}" y="${labelY}" text-anchor="${label.anchor}">${esc(label.text)}</text>`,
    )
  }
  out.push(axisFrame(plotTop, plotHeight))
  out.push('</svg>')
  return out.join('\n')
}

interface PlacedLabel {
  x: number
  text: string
  row: number
  anchor: 'start' | 'end'
}

/** Greedy rows: a label goes right of its line (left of it in the right half) in the first row it fits. */
export function placeLabels(labels: readonly {x: number; text: string}[], minX: number, maxX: number): PlacedLabel[] {
  const rows: [number, number][][] = []
  return labels.map(({x, text}) => {
    const width = text.length * FONT_CHAR_PX + 8
    const anchor: 'start' | 'end' = x + width > maxX && x - width >= minX ? 'end' : 'start'
    const span: [number, number] = anchor === 'start' ? [x, x + width] : [x - width, x]
    let row = rows.findIndex((occupied) => occupied.every(([from, to]) => span[1] + 6 < from || span[0] > to + 6))
    if (row === -1) {
      rows.push([])
      row = rows.length - 1
    }
    rows[row]!.push(span)
    return {x, text, row, anchor}
  })
}

/** Tick values (µs) for a log axis: 1-2-5 per decade, or finer / coarser to get 3 to 12 ticks. */
export function logTicks(lo: number, hi: number): number[] {
  const within = (mantissas: readonly number[]): number[] => {
    const ticks: number[] = []
    for (let decade = Math.floor(Math.log10(lo)); decade <= Math.ceil(Math.log10(hi)); decade++) {
      for (const mantissa of mantissas) {
        const value = mantissa * 10 ** decade
        if (value >= lo && value <= hi) ticks.push(value)
      }
    }
    return ticks
  }
  // The densest of decades, 1-2-5 and 1-1.5-2-3-5-7 that keeps to 10 ticks (finer only when needed).
  let best = within([1])
  const oneTwoFive = within([1, 2, 5])
  if (oneTwoFive.length <= 10 || best.length < 3) best = oneTwoFive
  const fine = within([1, 1.5, 2, 3, 5, 7])
  if (best.length < 3 && fine.length <= 12) best = fine
  return best
}

/** The timeline: connects completed (and failed, stacked above) per time bin since the start. */
function timelineChart(result: StormResult, id: string): string {
  const timeline = result.timeline
  const bins = timeline ? Math.max(timeline.connected.length, timeline.failed.length) : 0
  if (!timeline || bins === 0) return emptyChart(id, timeline ? 'no connect completed' : 'this result file has no timeline (written before timelines were kept)')
  const {binMs} = timeline
  const connected = Array.from({length: bins}, (_, index) => timeline.connected[index] ?? 0)
  const failed = Array.from({length: bins}, (_, index) => timeline.failed[index] ?? 0)
  const top = niceCeiling(1.05 * Math.max(1, ...connected.map((count, index) => count + failed[index]!)))
  // Room after the last bin, so the last wave is not drawn on the frame.
  const spanMs = bins * binMs + Math.max(2 * binMs, bins * binMs * 0.04)
  const plotTop = 30
  const plotHeight = 200
  const height = plotTop + plotHeight + MARGIN.bottom
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right
  const x = (ms: number): number => MARGIN.left + (ms / spanMs) * plotWidth
  const y = (count: number): number => plotTop + plotHeight - (count / top) * plotHeight

  // Each series is one step-shaped <path> (a vertex only where the count changes): a long run stays a few KB.
  // Failures are stacked on the completions: the red area is connected + failed, the blue one drawn over it.
  const area = (values: readonly number[]): string => {
    const base = y(0).toFixed(1)
    let d = `M${x(0).toFixed(1)} ${base}`
    let current = 0
    for (const [index, value] of values.entries()) {
      if (value === current) continue
      d += `H${x(index * binMs).toFixed(1)}V${y(value).toFixed(1)}`
      current = value
    }
    return `${d}H${x(bins * binMs).toFixed(1)}V${base}Z`
  }
  const totals = connected.map((count, index) => count + failed[index]!)
  const points = connected.filter((count, index) => count + failed[index]! > 0).length
  const out: string[] = [
    `<svg id="${id}" data-points="${points}" data-bins="${bins}" data-bin-ms="${binMs}" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${esc(`timeline, ${points} bins with completions`)}">`,
  ]
  out.push(legend([{className: 'ok', name: `connected (${sum(connected)})`}, {className: 'fail', name: `failed (${sum(failed)})`}], 16, `bins of ${formatMs(binMs)}`))
  out.push(...yAxis(top, y, plotTop, plotHeight, `per ${formatMs(binMs)}`))
  for (const tickMs of linearTicks(spanMs)) {
    const at = x(tickMs).toFixed(1)
    out.push(`<line class="grid" x1="${at}" x2="${at}" y1="${plotTop}" y2="${plotTop + plotHeight}"/>`)
    out.push(`<text x="${at}" y="${plotTop + plotHeight + 15}" text-anchor="middle">${esc(tickMs === 0 ? '0' : tickLabel(tickMs * 1000))}</text>`)
  }
  out.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">time since the start of the run</text>`)
  // For a burst every connect starts at ~0, so a completion's time is its latency: the ladder shows here too.
  if (result.plan.mode === 'burst' && result.ladder) {
    for (const [k, ms] of result.ladder.sendTimesMs.entries()) {
      if (k === 0 || ms > spanMs) continue
      const at = x(ms).toFixed(1)
      out.push(`<line class="ladder" x1="${at}" x2="${at}" y1="${plotTop}" y2="${plotTop + plotHeight}"/>`)
      out.push(`<text class="ladderlabel" x="${at}" y="${plotTop - 3}" text-anchor="middle">k=${k}</text>`)
    }
  }
  if (sum(failed) > 0) out.push(`<path class="fail" d="${area(totals)}"><title>failed per ${esc(formatMs(binMs))} (stacked on the connected)</title></path>`)
  if (sum(connected) > 0) out.push(`<path class="ok" d="${area(connected)}"><title>connected per ${esc(formatMs(binMs))}</title></path>`)
  out.push(axisFrame(plotTop, plotHeight))
  out.push('</svg>')
  return out.join('\n')
}

/** Connect outcomes as one stacked bar, with a table of the counts. */
function outcomeChart(result: StormResult, id: string): string {
  const {counts} = result
  const entries = OUTCOMES.map((outcome) => [outcome, counts.byOutcome[outcome]] as const)
  const parts = [stackedBar(id, entries, counts.attempted)]
  const rows = entries
    .filter(([outcome, n]) => n > 0 || outcome === 'connected')
    .map(([outcome, n]) => `<tr><td>${outcome}</td><td>${n}</td><td>${counts.attempted > 0 ? ((n / counts.attempted) * 100).toFixed(1) : '0.0'} %</td></tr>`)
  const none = entries.filter(([outcome, n]) => n === 0 && outcome !== 'connected').map(([outcome]) => outcome)
  if (none.length > 0) rows.push(`<tr><td colspan="3" class="note">none: ${none.join(', ')}</td></tr>`)
  if (counts.pending > 0) rows.push(`<tr><td>in flight at the stop</td><td>${counts.pending}</td><td></td></tr>`)
  if (counts.notStarted > 0) rows.push(`<tr><td>never started</td><td>${counts.notStarted}</td><td></td></tr>`)
  const errnos = Object.entries(counts.otherErrnos).map(([code, n]) => `${code} ×${n}`)
  parts.push(`<table id="${id}-table"><thead><tr><th>outcome</th><th>connects</th><th>share</th></tr></thead><tbody>${rows.join('')}</tbody></table>`)
  if (errnos.length > 0) parts.push(`<p class="note">other errors: ${esc(errnos.join(', '))}</p>`)
  return parts.join('\n')
}

function stackedBar(id: string, entries: readonly (readonly [string, number])[], total: number): string {
  const present = entries.filter(([, n]) => n > 0)
  const height = 58
  const barWidth = WIDTH - MARGIN.left - MARGIN.right
  const out = [`<svg id="${id}" data-points="${present.length}" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="outcomes">`]
  if (total === 0 || present.length === 0) {
    out.push(`<text x="${MARGIN.left}" y="30">nothing was attempted</text></svg>`)
    return out.join('\n')
  }
  const sumShown = present.reduce((sum, [, n]) => sum + n, 0)
  let at = MARGIN.left
  for (const [name, n] of present) {
    const width = (n / Math.max(total, sumShown)) * barWidth
    out.push(`<rect class="seg-${name}" x="${at.toFixed(1)}" y="8" width="${Math.max(1, width).toFixed(1)}" height="22"><title>${esc(`${name}: ${n}`)}</title></rect>`)
    const label = `${name} ${n} (${((n / total) * 100).toFixed(1)} %)`
    if (width > label.length * FONT_CHAR_PX + 6) out.push(`<text x="${(at + 5).toFixed(1)}" y="23" style="fill:#fff">${esc(label)}</text>`)
    at += width
  }
  out.push(`<text x="${MARGIN.left}" y="48">${esc(present.map(([name, n]) => `${name} ${n}`).join(' · '))} of ${total}</text>`)
  out.push('</svg>')
  return out.join('\n')
}

function emptyChart(id: string, text: string): string {
  return `<svg id="${id}" data-points="0" viewBox="0 0 ${WIDTH} 60" width="${WIDTH}" height="60" role="img" aria-label="no data"><text x="${MARGIN.left}" y="34">${esc(text)}</text></svg>`
}

function legend(items: readonly {className: string; name: string}[], yPos: number, note?: string): string {
  let at = MARGIN.left
  const out: string[] = []
  for (const item of items) {
    out.push(`<rect class="${item.className}" x="${at}" y="${yPos - 9}" width="10" height="10"/><text x="${at + 14}" y="${yPos}">${esc(item.name)}</text>`)
    at += 14 + item.name.length * FONT_CHAR_PX + 18
  }
  if (note) out.push(`<text x="${WIDTH - MARGIN.right}" y="${yPos}" text-anchor="end">${esc(note)}</text>`)
  return out.join('')
}

function yAxis(top: number, y: (count: number) => number, plotTop: number, plotHeight: number, label: string): string[] {
  const out: string[] = []
  for (const tick of linearTicks(top, {whole: true})) {
    const at = y(tick).toFixed(1)
    out.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${at}" y2="${at}"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${tick}</text>`)
  }
  const middle = plotTop + plotHeight / 2
  out.push(`<text x="14" y="${middle}" text-anchor="middle" transform="rotate(-90 14 ${middle})">${esc(label)}</text>`)
  return out
}

function axisFrame(plotTop: number, plotHeight: number): string {
  const bottom = plotTop + plotHeight
  return `<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${bottom}" y2="${bottom}"/><line class="axis" x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${plotTop}" y2="${bottom}"/>`
}

/** The smallest tick of linearTicks(max) at or above max, so the y axis ends on a labelled tick. */
function niceCeiling(max: number): number {
  const ticks = linearTicks(max, {whole: true})
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1
  return Math.ceil(max / step) * step
}

/** 0 and round steps (1, 2, 5 × 10^n) up to `max`, about 4 to 8 of them. */
export function linearTicks(max: number, {whole = false} = {}): number[] {
  if (max <= 0) return [0]
  const rough = whole ? Math.max(1, max / 5) : max / 5
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough) ?? 10 * power
  const ticks: number[] = []
  for (let value = 0; value <= max + 1e-9; value += step) ticks.push(Math.round(value * 1e6) / 1e6)
  return ticks
}

/** "5 ms", "2 s", "1.5 s": a tick value without the trailing zeros formatMicros keeps for alignment. */
function tickLabel(us: number): string {
  return formatMicros(us).replace(/^(\d+)\.0+ /, '$1 ').replace(/^(\d+\.\d*?)0+ /, '$1 ')
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0)
}

/** For tests and the command: how many charts have data, by id. */
export function chartPoints(html: string): Record<string, number> {
  const points: Record<string, number> = {}
  for (const match of html.matchAll(/<svg id="([^"]+)" data-points="(\d+)"/g)) points[match[1]!] = Number(match[2])
  return points
}

