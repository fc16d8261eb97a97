import {describe, expect, it} from 'vitest'

import {serverQueueTimeline} from '../../src/analysis/server-evidence.js'
import {queueTimelineSince} from '../../src/kernel/queue-sampler.js'
import type {QueueTimeline, StormResult, WatchFile, WatchSample} from '../../src/results/format.js'
import {describeQueueFull, queueFullMs, queueTimelineChart} from '../../src/report/queue-timeline.js'

/**
 * The accept queue over the run (result.queueTimeline): kept by the storm's own sampler for a
 * listener on its machine, or laid over the storm from the server's watch; and how long it stayed
 * full, which the HTML report draws. A queue is full at backlog + 1 (docs/kernel.md §6).
 */

const STORM_START = Date.UTC(2026, 11, 6, 17, 0, 0)

describe('the storm’s own sampler keeps the queue over time', () => {
  it('times its points from the storm’s start, from the last read at or before it, drops counted from there', () => {
    const timeline = queueTimelineSince(
      {
        intervalMs: 40,
        truncated: false,
        points: [
          [STORM_START - 500, 0, 7],
          [STORM_START - 40, 0, 9],
          [STORM_START + 39, 5, 34],
          [STORM_START + 1701, 0, 59],
        ],
      },
      STORM_START,
      4,
    )
    expect(timeline).toEqual({source: 'storm', effectiveBacklog: 4, intervalMs: 40, points: [[-40, 0, 0], [39, 5, 25], [1701, 0, 50]]})
  })

  it('has no timeline when no read saw the listener, and says when the points stopped early', () => {
    expect(queueTimelineSince({intervalMs: 40, truncated: false, points: []}, STORM_START, 4)).toBeNull()
    expect(queueTimelineSince({intervalMs: 40, truncated: true, points: [[STORM_START, 5, null]]}, STORM_START, 4)).toEqual({
      source: 'storm',
      effectiveBacklog: 4,
      intervalMs: 40,
      points: [[0, 5, null]],
      truncated: true,
    })
  })

  it('counts no drops when the count went down (another socket took the port)', () => {
    expect(queueTimelineSince({intervalMs: 40, truncated: false, points: [[STORM_START, 0, 100], [STORM_START + 50, 3, 4]]}, STORM_START, 4)?.points).toEqual([
      [0, 0, 0],
      [50, 3, null],
    ])
  })
})

describe('the server’s queue from its watch', () => {
  const listener = (recvQ: number, drops: number) => ({host: '198.18.0.2', port: 8088, family: 4 as const, recvQ, sendQ: 32, drops})
  const sample = (offsetMs: number, recvQ: number, drops: number): WatchSample => ({t: STORM_START + offsetMs, listeners: [listener(recvQ, drops)]})
  const watch = (samples: WatchSample[]): WatchFile => ({
    kind: 'watch',
    schemaVersion: 1,
    tool: {name: 'connstorm', version: '0.1.0'},
    port: 8088,
    host: null,
    intervalMs: 10,
    startedAtMs: samples[0]!.t,
    endedAtMs: samples.at(-1)!.t,
    stopReason: 'interrupted',
    source: 'netlink',
    sysctls: {},
    samples,
    watcher: {cpuUs: 0, wallMs: 0},
  })

  it('lays the samples over the storm’s window — from the last at or before its start (here at 0) to the first at or after its end — a point at each change and at the last, drops since the first', () => {
    const samples = [sample(-30, 0, 100), sample(-10, 0, 100), sample(0, 20, 110), sample(10, 33, 130), sample(20, 33, 130), sample(2500, 0, 318), sample(3000, 0, 318), sample(3010, 0, 318), sample(4000, 0, 318)]
    expect(serverQueueTimeline({startedAt: new Date(STORM_START).toISOString(), durationMs: 3005}, watch(samples))).toEqual({
      source: 'server',
      effectiveBacklog: 32,
      intervalMs: 10,
      points: [
        [0, 20, 0],
        [10, 33, 20],
        [2500, 0, 208],
        [3010, 0, 208],
      ],
    })
  })

  it('has none when no listener was seen during the storm', () => {
    const empty = watch([{t: STORM_START - 10, listeners: []}, {t: STORM_START + 100, listeners: []}])
    expect(serverQueueTimeline({startedAt: new Date(STORM_START).toISOString(), durationMs: 50}, empty)).toBeNull()
  })
})

describe('how long the queue stayed full', () => {
  const timeline: QueueTimeline = {source: 'storm', effectiveBacklog: 4, intervalMs: 40, points: [[-12, 0, 0], [39, 5, 25], [1011, 5, 50], [1701, 0, 50], [2031, 2, 70]]}

  it('adds the spans at backlog + 1 or more: 5 from 39 ms to 1701 ms is 1662 ms', () => {
    expect(queueFullMs(timeline, 2028)).toBe(1662)
  })

  it('counts a full queue at the last point until the end of the run, and nothing before the start', () => {
    expect(queueFullMs({...timeline, points: [[-100, 5, 0], [500, 0, 0], [900, 5, 0]]}, 1000)).toBe(500 + 100)
  })

  it('cannot say without the backlog; says "never full" when it was not', () => {
    expect(queueFullMs({...timeline, effectiveBacklog: null}, 2028)).toBeNull()
    expect(describeQueueFull({...timeline, effectiveBacklog: 63}, 2028)).toBe('never full (64 fit)')
    expect(describeQueueFull(timeline, 2028)).toBe("full (5) for 1.66 s of the run's 2.03 s")
  })

  it('draws it: one queue path, the full spans, the drops, and the figures as data attributes', () => {
    const svg = queueTimelineChart({queueTimeline: timeline, durationMs: 2028, target: {lab: true}} as unknown as StormResult, 'queue-chart', 2200)
    expect(svg).toMatch(/^<svg id="queue-chart" data-points="5" data-full-ms="1662" data-drops="70" data-source="storm" /)
    expect(svg.match(/<path class="queue"/g)).toHaveLength(1)
    expect(svg.match(/<rect class="fullspan"/g)).toHaveLength(2) // 39–1011 and 1011–1701: two points at 5
    expect(svg).toContain('full (5) for 1.66 s of the run&#39;s 2.03 s; peak 5/4+1; 70 dropped by the listener')
  })

  it('says why there is none for a remote target without a watch', () => {
    const svg = queueTimelineChart({durationMs: 2028, target: {lab: false}} as unknown as StormResult, 'queue-chart', 2200)
    expect(svg).toContain('data-points="0"')
    expect(svg).toContain('the listener is on another host; a watch there (connstorm watch) joined with --server-evidence draws it')
  })
})
