import {formatMs} from '../plan/units.js'
import type {QueueTimeline, StormResult} from '../results/format.js'
import {MARGIN, WIDTH, axisFrame, emptyChart, esc, legend, linearTicks, niceCeiling, tickLabel, yAxis} from './svg-chart.js'

/**
 * The accept queue on the storm's timeline (result.queueTimeline): its length over time against
 * what the listener holds (effective backlog + 1, docs/kernel.md §6), the spans when it was full,
 * and the listener's own drops (sk_drops, docs/kernel.md §14) as they added up — from the storm's
 * own sampler (a listener on its machine, the lab's included) or from the watch on the server's
 * host (--isolate, --server-evidence). Pure: a function of the saved run.
 */

/** Whose eyes saw the queue, in the report's words. */
export const QUEUE_SOURCE_WORDS: Readonly<Record<QueueTimeline['source'], string>> = {
  storm: "the storm's own sampler",
  server: "the watch on the server's host",
}

/**
 * How long the queue was full (at backlog + 1 or more) between 0 and endMs: each point's length
 * holds until the next point, the last one's until endMs. Null when the backlog is unknown.
 */
export function queueFullMs(timeline: QueueTimeline, endMs: number): number | null {
  const {effectiveBacklog, points} = timeline
  if (effectiveBacklog === null) return null
  let full = 0
  for (const [index, [t, queue]] of points.entries()) {
    if (queue < effectiveBacklog + 1) continue
    const from = Math.max(0, t)
    const to = Math.min(endMs, points[index + 1]?.[0] ?? endMs)
    if (to > from) full += to - from
  }
  return full
}

/** The listener's drops over the timeline: the last point's count (null when never read). */
export function queueTimelineDrops(timeline: QueueTimeline): number | null {
  return timeline.points.at(-1)?.[2] ?? null
}

/** "full for 1.70 s of the run's 3.10 s": how long the queue stayed full, in the chart's words. */
export function describeQueueFull(timeline: QueueTimeline, durationMs: number): string {
  const full = queueFullMs(timeline, durationMs)
  if (full === null) return 'how long it was full is unknown (no effective backlog)'
  if (full === 0) return `never full (${timeline.effectiveBacklog! + 1} fit)`
  return `full (${timeline.effectiveBacklog! + 1}) for ${seconds(full)} of the run's ${seconds(durationMs)}`
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`
}

/**
 * The chart, on the same time axis as the storm's timeline chart (spanMs): a step area for the
 * queue, a dashed line where it is full, shaded spans while it was, and the drops as a line on a
 * scale of their own (right). data-points: the timeline's points; data-full-ms: how long it was full.
 */
export function queueTimelineChart(result: StormResult, id: string, spanMs: number): string {
  const timeline = result.queueTimeline
  if (!timeline || timeline.points.length === 0) {
    return emptyChart(
      id,
      result.target.lab
        ? 'this result file has no accept-queue timeline (written before the sampler kept one)'
        : 'no accept-queue timeline: the listener is on another host; a watch there (connstorm watch) joined with --server-evidence draws it',
    )
  }
  const {points, effectiveBacklog} = timeline
  const fullAt = effectiveBacklog === null ? null : effectiveBacklog + 1
  const peak = Math.max(...points.map(([, queue]) => queue))
  const top = niceCeiling(1.1 * Math.max(1, peak, fullAt ?? 0))
  const drops = queueTimelineDrops(timeline)
  const dropsTop = drops === null || drops === 0 ? 0 : niceCeiling(drops)
  const plotTop = 30
  const plotHeight = 160
  const height = plotTop + plotHeight + MARGIN.bottom
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right
  const endMs = Math.min(spanMs, result.durationMs)
  const x = (ms: number): number => MARGIN.left + (Math.min(Math.max(ms, 0), spanMs) / spanMs) * plotWidth
  const y = (queue: number): number => plotTop + plotHeight - (queue / top) * plotHeight
  const yDrops = (count: number): number => plotTop + plotHeight - (count / dropsTop) * plotHeight
  const fullMs = queueFullMs(timeline, result.durationMs)

  // Step paths: a length holds until the next point; the last one until the end of the run.
  const base = y(0).toFixed(1)
  let queuePath = `M${x(points[0]![0]).toFixed(1)} ${base}`
  let dropsPath = ''
  const fullSpans: [number, number][] = []
  for (const [index, [t, queue, dropped]] of points.entries()) {
    const next = points[index + 1]?.[0] ?? endMs
    queuePath += `V${y(queue).toFixed(1)}H${x(next).toFixed(1)}`
    if (dropped !== null && dropsTop > 0) dropsPath += `${dropsPath === '' ? 'M' : 'L'}${x(t).toFixed(1)} ${yDrops(dropped).toFixed(1)}H${x(next).toFixed(1)}`
    if (fullAt !== null && queue >= fullAt && next > Math.max(0, t)) fullSpans.push([Math.max(0, t), next])
  }
  queuePath += `V${base}Z`

  const source = QUEUE_SOURCE_WORDS[timeline.source]
  const summary = `${describeQueueFull(timeline, result.durationMs)}; peak ${peak}${fullAt === null ? '' : `/${effectiveBacklog}+1`}; ${drops === null ? 'drops unread' : `${drops} dropped by the listener`}`
  const out: string[] = [
    `<svg id="${id}" data-points="${points.length}" data-full-ms="${fullMs === null ? '' : Math.round(fullMs)}" data-drops="${drops ?? ''}" data-source="${timeline.source}" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${esc(`accept queue over the run, ${source}: ${summary}`)}">`,
  ]
  out.push(
    legend(
      [
        {className: 'queue', name: `accept queue (${source})`},
        ...(fullAt === null ? [] : [{className: 'full', name: `full at ${fullAt}`}]),
        ...(dropsPath === '' ? [] : [{className: 'drops', name: `listener drops (right scale, ${drops})`}]),
      ],
      16,
      `every ${formatMs(timeline.intervalMs)}`,
    ),
  )
  out.push(...yAxis(top, y, plotTop, plotHeight, 'queued connections'))
  for (const tickMs of linearTicks(spanMs)) {
    const at = x(tickMs).toFixed(1)
    out.push(`<line class="grid" x1="${at}" x2="${at}" y1="${plotTop}" y2="${plotTop + plotHeight}"/>`)
    out.push(`<text x="${at}" y="${plotTop + plotHeight + 15}" text-anchor="middle">${esc(tickMs === 0 ? '0' : tickLabel(tickMs * 1000))}</text>`)
  }
  out.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">time since the start of the run — ${esc(summary)}</text>`)
  for (const [from, to] of fullSpans) {
    out.push(`<rect class="fullspan" x="${x(from).toFixed(1)}" y="${plotTop}" width="${Math.max(0.5, x(to) - x(from)).toFixed(1)}" height="${plotHeight}"><title>full from ${esc(seconds(from))} to ${esc(seconds(to))}</title></rect>`)
  }
  out.push(`<path class="queue" d="${queuePath}"><title>accept queue (${esc(source)})</title></path>`)
  if (fullAt !== null) {
    const at = y(fullAt).toFixed(1)
    out.push(`<line class="fullline" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${at}" y2="${at}"/>`)
    out.push(`<text class="fulllabel halo" x="${MARGIN.left + 4}" y="${(y(fullAt) - 4).toFixed(1)}" text-anchor="start">full: backlog ${effectiveBacklog} + 1</text>`)
  }
  if (dropsPath !== '') {
    out.push(`<path class="drops" d="${dropsPath}"><title>the listener's drops since the start (${drops})</title></path>`)
    out.push(`<text class="dropslabel halo" x="${WIDTH - MARGIN.right - 4}" y="${plotTop + 11}" text-anchor="end">drops: ${dropsTop} at the top</text>`)
  }
  out.push(axisFrame(plotTop, plotHeight))
  out.push('</svg>')
  return out.join('\n')
}
