import {formatMicros} from '../plan/units.js'
import {type Histogram, countsInBuckets} from '../results/histogram.js'
import {logBucketEdges} from './latency-chart.js'

/**
 * A small SVG chart kit for the HTML report: histograms on log axes with labelled markers,
 * stacked bars, axes, ticks and legends. It knows charts, not connect storms: report/html.ts
 * turns runs into series and markers. Every chart is an <svg> with an id and a data-points
 * attribute (how many bars it drew), so a test can tell an empty chart from one with data.
 */

export const WIDTH = 960

export const MARGIN = {left: 64, right: 24, bottom: 46}

const LABEL_ROW = 15

const FONT_CHAR_PX = 6.4

/** Text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')
}

export const esc = escapeHtml

export interface Series {
  name: string
  /** the CSS class of its bars: ok, fail, or run1 … run6 in a comparison */
  className: string
  histogram: Histogram
}

export interface Marker {
  us: number
  label: string
  kind: 'step' | 'ladder' | 'timeout'
}

interface HistogramChartSpec {
  id: string
  series: Series[]
  markers: Marker[]
  emptyText: string
  /** stacked: the series add up in each bucket (connected + failed); grouped: side by side (one per run) */
  layout?: 'stacked' | 'grouped'
}

export function histogramChart(spec: HistogramChartSpec): string {
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

export function stackedBar(id: string, entries: readonly (readonly [string, number])[], total: number): string {
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

export function emptyChart(id: string, text: string): string {
  return `<svg id="${id}" data-points="0" viewBox="0 0 ${WIDTH} 60" width="${WIDTH}" height="60" role="img" aria-label="no data"><text x="${MARGIN.left}" y="34">${esc(text)}</text></svg>`
}

export function legend(items: readonly {className: string; name: string}[], yPos: number, note?: string): string {
  let at = MARGIN.left
  const out: string[] = []
  for (const item of items) {
    out.push(`<rect class="${item.className}" x="${at}" y="${yPos - 9}" width="10" height="10"/><text x="${at + 14}" y="${yPos}">${esc(item.name)}</text>`)
    at += 14 + item.name.length * FONT_CHAR_PX + 18
  }
  if (note) out.push(`<text x="${WIDTH - MARGIN.right}" y="${yPos}" text-anchor="end">${esc(note)}</text>`)
  return out.join('')
}

export function yAxis(top: number, y: (count: number) => number, plotTop: number, plotHeight: number, label: string): string[] {
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

export function axisFrame(plotTop: number, plotHeight: number): string {
  const bottom = plotTop + plotHeight
  return `<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${bottom}" y2="${bottom}"/><line class="axis" x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${plotTop}" y2="${bottom}"/>`
}

/** The smallest tick of linearTicks(max) at or above max, so the y axis ends on a labelled tick. */
export function niceCeiling(max: number): number {
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
export function tickLabel(us: number): string {
  return formatMicros(us).replace(/^(\d+)\.0+ /, '$1 ').replace(/^(\d+\.\d*?)0+ /, '$1 ')
}

export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0)
}

/** For tests and the command: how many charts have data, by id. */
export function chartPoints(html: string): Record<string, number> {
  const points: Record<string, number> = {}
  for (const match of html.matchAll(/<svg id="([^"]+)" data-points="(\d+)"/g)) points[match[1]!] = Number(match[2])
  return points
}

export interface ScatterPoint {
  x: number
  y: number
  /** ok (passed) or fail */
  className: string
  title: string
}

interface ScatterChartSpec {
  id: string
  points: readonly ScatterPoint[]
  /** vertical lines at these x values, labelled above the plot */
  markers: readonly {x: number; label: string}[]
  xLabel: string
  yLabel: string
  /** the y axis' top (else the largest y, rounded up) */
  yMax?: number
  formatY: (y: number) => string
  emptyText: string
}

/**
 * Points on a log x axis (a search's trial sizes grow ×4, then bisect) against a linear y, with
 * labelled vertical markers. `data-points` is the number of points drawn.
 */
export function scatterChart(spec: ScatterChartSpec): string {
  if (spec.points.length === 0) return emptyChart(spec.id, spec.emptyText)
  const xs = [...spec.points.map((point) => point.x), ...spec.markers.map((marker) => marker.x)]
  const lo = Math.min(...xs) / 1.5
  const hi = Math.max(...xs) * 1.5
  const top = spec.yMax ?? niceCeiling(1.08 * Math.max(...spec.points.map((point) => point.y), 1e-9))
  const plotTop = 40
  const plotHeight = 200
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right
  const height = plotTop + plotHeight + MARGIN.bottom
  const x = (value: number): number => MARGIN.left + ((Math.log2(value) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo))) * plotWidth
  const y = (value: number): number => plotTop + plotHeight - (value / top) * plotHeight
  const out = [`<svg id="${spec.id}" data-points="${spec.points.length}" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${esc(`${spec.yLabel} against ${spec.xLabel}`)}">`]
  for (const tick of linearTicks(top)) {
    const at = y(tick).toFixed(1)
    out.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${at}" y2="${at}"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${esc(spec.formatY(tick))}</text>`)
  }
  const middle = plotTop + plotHeight / 2
  out.push(`<text x="14" y="${middle}" text-anchor="middle" transform="rotate(-90 14 ${middle})">${esc(spec.yLabel)}</text>`)
  for (const tick of powerTicks(lo, hi)) {
    const at = x(tick).toFixed(1)
    out.push(`<line class="grid" x1="${at}" x2="${at}" y1="${plotTop}" y2="${plotTop + plotHeight}"/>`)
    out.push(`<text x="${at}" y="${plotTop + plotHeight + 15}" text-anchor="middle">${tick}</text>`)
  }
  out.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">${esc(spec.xLabel)} (log scale)</text>`)
  for (const marker of spec.markers) {
    const at = x(marker.x).toFixed(1)
    out.push(`<line class="step" x1="${at}" x2="${at}" y1="${plotTop - 4}" y2="${plotTop + plotHeight}"/>`)
    out.push(`<text class="steplabel" x="${(x(marker.x) + 4).toFixed(1)}" y="${plotTop - 8}">${esc(marker.label)}</text>`)
  }
  for (const point of spec.points) {
    out.push(`<circle class="${point.className}" cx="${x(point.x).toFixed(1)}" cy="${y(Math.min(point.y, top)).toFixed(1)}" r="5"><title>${esc(point.title)}</title></circle>`)
  }
  out.push(axisFrame(plotTop, plotHeight))
  out.push('</svg>')
  return out.join('\n')
}

/** 1, 2, 5 × 10^n between lo and hi: tick labels for a log axis of counts or rates. */
function powerTicks(lo: number, hi: number): number[] {
  const ticks: number[] = []
  for (let power = 10 ** Math.floor(Math.log10(lo)); power <= hi; power *= 10) {
    for (const m of [1, 2, 5]) if (m * power >= lo && m * power <= hi) ticks.push(m * power)
  }
  return ticks
}
