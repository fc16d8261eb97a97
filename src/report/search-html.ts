import {formatMicros} from '../plan/units.js'
import type {SearchFile} from '../results/search-format.js'
import {htmlPage} from './html.js'
import {renderSearchReport} from './search-text.js'
import {esc, scatterChart} from './svg-chart.js'

/**
 * A search as one self-contained HTML page: the share of connects that needed a SYN retransmit and
 * the p99 connect latency of every trial against its size, with the answer marked, and the trace
 * as text. A pure function of the search file.
 */
export function renderSearchHtml(search: SearchFile): string {
  const unit = search.dimension === 'burst' ? 'burst size (connects)' : 'connect rate (per second)'
  const judged = search.trials.filter((trial) => trial.pass !== null)
  const name = search.criterion.kind === 'ndr' ? 'NDR' : 'PDR'
  const markers = search.bracket.largestPass === null ? [] : [{x: search.bracket.largestPass, label: `${name} ${search.bracket.largestPass}`}]
  const shares = judged.map((trial) => {
    const steps = trial.result.attribution?.steps ?? []
    const delayed = steps.filter((step) => step.retransmits > 0).reduce((sum, step) => sum + step.connects, 0) + trial.result.counts.byOutcome.timeout
    const share = trial.result.counts.attempted === 0 ? 0 : delayed / trial.result.counts.attempted
    return {x: trial.size, y: share * 100, className: trial.pass ? 'ok' : 'fail', title: `${trial.size}: ${delayed} of ${trial.result.counts.attempted} needed a SYN retransmit (${(share * 100).toFixed(1)} %)`}
  })
  const p99s = judged
    .filter((trial) => trial.result.latencyUs.fromIntended.count > 0)
    .map((trial) => ({x: trial.size, y: trial.result.latencyUs.fromIntended.p99, className: trial.pass ? 'ok' : 'fail', title: `${trial.size}: p99 ${formatMicros(trial.result.latencyUs.fromIntended.p99)}`}))
  const title = `connstorm search: ${search.dimension === 'burst' ? 'the largest burst' : 'the highest connect rate'}`
  const body = [
    `<header><h1>${esc(title)}</h1>`,
    `<p class="sub">generated from a saved search by ${esc(search.tool.name)} ${esc(search.tool.version)}; self-contained, no network</p></header>`,
    '<h2>Connects that needed a SYN retransmit</h2>',
    scatterChart({id: 'search-retransmits', points: shares, markers, xLabel: unit, yLabel: 'share of connects', yMax: 100, formatY: (y) => `${y} %`, emptyText: 'no trial was judged'}),
    '<h2>p99 connect latency (from intended start)</h2>',
    scatterChart({id: 'search-p99', points: p99s, markers, xLabel: unit, yLabel: 'p99', formatY: (y) => formatMicros(y), emptyText: 'no connect succeeded'}),
    '<h2>Trials</h2>',
    `<pre>${esc(renderSearchReport(search))}</pre>`,
  ]
  return htmlPage(title, body)
}
