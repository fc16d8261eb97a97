import {OUTCOMES} from '../results/outcome.js'
import {formatAddress} from '../plan/target.js'
import {formatMicros, formatMs} from '../plan/units.js'
import {type LatencySummary, decodeHistogram} from '../results/histogram.js'
import type {StormResult} from '../results/format.js'
import {PROBE_OUTCOMES} from '../results/outcome.js'
import {type ComparisonSection, type ReportRun, SECTION_TITLES, adviceChanges, compareRuns, describeChange} from './compare.js'
import {renderVerdict} from './diagnosis-text.js'
import {renderRunReport} from './run-report.js'
import {MARGIN, type Marker, type Series, WIDTH, axisFrame, emptyChart, esc, histogramChart, legend, linearTicks, niceCeiling, stackedBar, sum, tickLabel, yAxis} from './svg-chart.js'
import {groupClause} from './listener-group-text.js'
import {QUEUE_SOURCE_WORDS, queueTimelineChart} from './queue-timeline.js'

/**
 * The HTML report: one self-contained file (inline CSS, SVG from report/svg-chart.ts, no script,
 * no network), a pure function of the saved run(s): which charts, sections and tables a run gets.
 */

export function renderHtmlReport(runs: readonly ReportRun[]): string {
  if (runs.length === 0) throw new RangeError('renderHtmlReport needs at least one run')
  const title = runs.length === 1 ? `connstorm report: ${runs[0]!.label}` : `connstorm: ${runs.map((run) => run.label).join(' vs ')}`
  const body: string[] = [`<header><h1>${esc(title)}</h1>`]
  body.push(`<p class="sub">generated from ${runs.length === 1 ? 'a saved run' : `${runs.length} saved runs`} by ${esc(runs[0]!.result.tool.name)} ${esc(runs[0]!.result.tool.version)}; self-contained, no network</p></header>`)
  if (runs.length > 1) body.push(comparisonSection(runs))
  runs.forEach((run, index) => body.push(runSection(run, index, runs.length > 1)))
  return htmlPage(title, body)
}

/** The page around a report's body: inline CSS, no script, nothing fetched (not even a favicon). */
export function htmlPage(title: string, body: readonly string[]): string {
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
svg .queue{fill:#2a78c2;fill-opacity:.35;stroke:#2a78c2;stroke-width:1.5}svg .full{fill:var(--fail)}svg .fullspan{fill:var(--fail);fill-opacity:.1}svg .fullline{stroke:var(--fail);stroke-dasharray:5 3}svg text.fulllabel{fill:var(--fail)}svg .drops{fill:none;stroke:#a93226;stroke-width:1.5}svg text.dropslabel{fill:#a93226;font-size:10px}
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
  const spanMs = timelineSpanMs(result)
  out.push(timelineChart(result, id('timeline-chart'), spanMs))
  out.push(`<h3>Accept queue on the same timeline${result.queueTimeline ? `, as ${esc(QUEUE_SOURCE_WORDS[result.queueTimeline.source])} saw it` : ''}: how full, how long, and the listener's drops</h3>`)
  out.push(queueTimelineChart(result, id('queue-chart'), spanMs))
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
        `${effectiveBacklog === null ? 'unknown' : `${effectiveBacklog}+1`}${full}, from ${samples} samples${esc(groupClause(kernel.listener))}</p>`,
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

/**
 * The time axis the timeline and the queue share: the timeline's bins with room after the last
 * one, so the last wave is not drawn on the frame; the run's duration when it has no timeline.
 */
function timelineSpanMs(result: StormResult): number {
  const timeline = result.timeline
  const bins = timeline ? Math.max(timeline.connected.length, timeline.failed.length) : 0
  if (!timeline || bins === 0) return Math.max(1, result.durationMs * 1.04)
  return bins * timeline.binMs + Math.max(2 * timeline.binMs, bins * timeline.binMs * 0.04)
}

/** The timeline: connects completed (and failed, stacked above) per time bin since the start. */
function timelineChart(result: StormResult, id: string, spanMs: number): string {
  const timeline = result.timeline
  const bins = timeline ? Math.max(timeline.connected.length, timeline.failed.length) : 0
  if (!timeline || bins === 0) return emptyChart(id, timeline ? 'no connect completed' : 'this result file has no timeline (written before timelines were kept)')
  const {binMs} = timeline
  const connected = Array.from({length: bins}, (_, index) => timeline.connected[index] ?? 0)
  const failed = Array.from({length: bins}, (_, index) => timeline.failed[index] ?? 0)
  const top = niceCeiling(1.05 * Math.max(1, ...connected.map((count, index) => count + failed[index]!)))
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
