import {describe, expect, it} from 'vitest'

import type {Advice} from '../../src/analysis/recommend.js'
import {findServer} from '../../src/analysis/servers.js'
import type {ReportRun} from '../../src/report/compare.js'
import {analyzeRun} from '../helpers/synthetic-result.js'
import {chartPoints, escapeHtml, logTicks} from '../../src/report/svg-chart.js'
import {renderHtmlReport} from '../../src/report/html.js'
import {encodeHistogram, newLatencyHistogram, summarize} from '../../src/results/histogram.js'
import type {ProbeResult, StormResult} from '../../src/results/format.js'
import {MAX_BINS, Timeline} from '../../src/results/timeline.js'
import {type ConnectGroup, burstOf200AgainstBacklog8, onStep, syntheticResult} from '../helpers/synthetic-result.js'

/** The synthetic results carry no timeline (the engine records it): build it from the same connects. */
function withTimeline(result: StormResult, groups: readonly ConnectGroup[], failedAtMs: readonly number[] = []): StormResult {
  const timeline = new Timeline()
  for (const group of groups) for (let i = 0; i < group.count; i++) timeline.record(group.latencyMs, 'connected')
  for (const ms of failedAtMs) timeline.record(ms, 'failed')
  return {...result, timeline: timeline.toJSON()}
}

const BEFORE_GROUPS = [onStep(0, 9), onStep(2, 191)]
const before = (): StormResult => withTimeline(burstOf200AgainstBacklog8(), BEFORE_GROUPS)

/** No http:// or https:// (nor protocol-relative) address in a src, href, xlink:href, url() or @import. */
const EXTERNAL = /(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?\/\/)|url\(\s*["']?\s*(?:https?:)?\/\/|@import/i

describe('renderHtmlReport: one run', () => {
  const html = renderHtmlReport([analyzeRun('run.json', before(), findServer('nginx'))])

  it('is one self-contained page: no external address, no script, no stylesheet link, well under 300 KB', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true)
    expect(html).not.toMatch(EXTERNAL)
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).not.toMatch(/<script/i)
    expect(html).not.toMatch(/<link[^>]+stylesheet/i)
    expect(html).toMatch(/<style>[^<]+<\/style>/)
    expect(Buffer.byteLength(html)).toBeLessThan(300 * 1024)
  })

  it('draws the latency histogram and the timeline, both with data', () => {
    const points = chartPoints(html)
    // 9 immediate connects in one bucket, 191 on the 2 s step in another
    expect(points['latency-chart']).toBe(2)
    // the two bins the connects completed in: ~0 ms and ~2.05 s
    expect(points['timeline-chart']).toBe(2)
    expect(points['outcome-chart']).toBe(1)
    expect(html).toMatch(/<svg id="latency-chart" data-points="2" data-total="200"/)
    expect(html).toMatch(/<svg id="timeline-chart" data-points="2" data-bins="206" data-bin-ms="10"/)
    expect(html).toMatch(/<path class="ok" d="M[^"]+Z"/)
    expect(html.match(/<rect class="ok"/g)?.length).toBeGreaterThanOrEqual(2)
  })

  it('draws and labels the ladder steps the connects landed on', () => {
    expect(html).toContain('>2 SYN retransmits, 2.05 s (191 connects)</text>')
    expect(html).toContain('>no SYN retransmit, 300 µs (9 connects)</text>')
    // the ladder's other send times in range, dashed and labelled by k
    expect(html).toContain('>k=1</text>')
    expect(html).toMatch(/<line class="step" x1="[\d.]+"/)
  })

  it('has the outcome breakdown, the attribution table and the advice with its config lines', () => {
    expect(html).toContain('<tr><td>connected</td><td>200</td><td>100.0 %</td></tr>')
    expect(html).toContain('<tr><td>2</td><td>2 s</td><td>191</td><td>95.5 %</td><td>2.05 s</td></tr>')
    expect(html).toContain('Advice (for nginx)')
    expect(html).toContain('<span class="change">8 → 255</span>')
    expect(html).toContain('listen 80 backlog=255;  # on each listen directive that takes the storm')
    expect(html).toContain('evidence: 191 connects waited 2 SYN retransmits (~2.05 s)')
  })

  it('has no first-byte chart without a probe', () => {
    expect(html).not.toContain('id="first-byte-chart"')
  })
})

describe('renderHtmlReport: escaping', () => {
  it('escapes host names, file names and advice lines', () => {
    const result = before()
    const hostile: StormResult = {...result, target: {...result.target, requested: '<img src=x onerror=alert(1)>.example:80'}}
    const run = analyzeRun('<b>run</b>.json', hostile)
    const advice: Advice = {
      ...run.advice,
      recommendations: [
        {knob: 'backlog', current: '8', proposed: '255', evidence: ['queue 9/8+1 & "full"'], lines: ['echo "net.core.somaxconn = 4096" > /etc/sysctl.d/<x>.conf && sysctl --system', "it's <script>alert(1)</script>"]},
      ],
    }
    const html = renderHtmlReport([{...run, advice}])
    expect(html).toContain('resolved from &lt;img src=x onerror=alert(1)&gt;.example:80')
    expect(html).toContain('&lt;b&gt;run&lt;/b&gt;.json')
    expect(html).toContain('echo &quot;net.core.somaxconn = 4096&quot; &gt; /etc/sysctl.d/&lt;x&gt;.conf &amp;&amp; sysctl --system')
    expect(html).toContain('it&#39;s &lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).toContain('queue 9/8+1 &amp; &quot;full&quot;')
    expect(html).not.toContain('<img')
    expect(html).not.toMatch(/<script/i)
    expect(html).not.toContain('<b>run')
  })

  it('escapeHtml', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
  })
})

describe('renderHtmlReport: failures, probes, comparisons, size', () => {
  it('draws failures in the histogram and the timeline, and the timeout', () => {
    const groups = [onStep(0, 5), onStep(1, 10)]
    const result = withTimeline(syntheticResult({plan: {burst: '30', timeout: '2.5s'}, connects: groups, failures: {timeout: 15}}), groups, Array.from({length: 15}, () => 2500))
    const html = renderHtmlReport([analyzeRun('t.json', result)])
    expect(html).toMatch(/<rect class="fail"[^>]*><title>failed \(time to failure\): 15 between/)
    expect(html).toMatch(/<path class="fail" d="M/)
    expect(html).toContain('>--timeout 2.50 s</text>')
    expect(html).toContain('>1 SYN retransmit, 1.03 s (10 connects)</text>')
    expect(html).toContain('<tr><td>≥ 2</td><td>timed out</td><td>15</td><td></td><td></td></tr>')
  })

  it('draws the first-byte histogram when the run probed', () => {
    const firstByte = newLatencyHistogram()
    for (let i = 0; i < 20; i++) firstByte.recordValue(400_000 + i * 200_000)
    const empty = encodeHistogram(newLatencyHistogram())
    const probe: ProbeResult = {
      kind: 'send',
      description: 'send 1 bytes, time the first byte back',
      timeoutMs: 15_000,
      insecure: false,
      expect: null,
      outcomes: {ok: 18, probeTimeout: 2, resetAfterConnect: 0, closedBeforeReply: 0, tlsError: 0, unexpectedReply: 0, probeError: 0},
      httpStatus: {},
      errorCodes: {},
      pending: 0,
      latencyUs: {firstByte: summarize(firstByte), tlsHandshake: summarize(newLatencyHistogram()), httpHeaders: summarize(newLatencyHistogram()), responseAfterConnect: summarize(firstByte)},
      histograms: {firstByteUs: encodeHistogram(firstByte), tlsHandshakeUs: empty, httpHeadersUs: empty, responseAfterConnectUs: encodeHistogram(firstByte)},
    }
    const html = renderHtmlReport([analyzeRun('p.json', {...before(), probe})])
    const points = chartPoints(html)
    expect(points['first-byte-chart']).toBeGreaterThan(3)
    expect(points['first-byte-chart-outcomes']).toBe(2)
    expect(html).toMatch(/<svg id="first-byte-chart" data-points="\d+" data-total="20"/)
  })

  it('several runs: the side-by-side table, one chart of all runs, and each run with its own charts', () => {
    const after = withTimeline(
      syntheticResult({plan: {burst: '200'}, connects: [onStep(0, 200)], listener: {effectiveBacklog: 255, peakQueue: 200}, counterDeltas: {TcpExtListenOverflows: 0}}),
      [onStep(0, 200)],
    )
    const runs: ReportRun[] = [analyzeRun('before.json', before()), analyzeRun('after.json', after)]
    const html = renderHtmlReport(runs)
    expect(html).toContain('<th>before.json</th><th>after.json</th><th>change</th>')
    expect(html).toContain('<tr><td>2 SYN retransmits (SYN at 2 s)</td><td>191</td><td>0</td><td>−191</td></tr>')
    expect(html).toContain('<li>backlog: 8 → 255 in before.json, 255 (keep) in after.json</li>')
    const points = chartPoints(html)
    expect(points['compare-latency-chart']).toBe(2)
    expect(points['latency-chart']).toBe(2)
    expect(points['latency-chart-2']).toBe(1)
    expect(points['timeline-chart-2']).toBe(1)
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((match) => match[1])
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('stays under 300 KB with a full timeline (600 bins) and six runs side by side', () => {
    const groups = [onStep(0, 100), onStep(1, 400), onStep(2, 500), onStep(3, 500), onStep(4, 500), onStep(5, 500), onStep(6, 500), onStep(7, 500)]
    const base = syntheticResult({plan: {burst: '3500'}, connects: groups, failures: {timeout: 200, refused: 30, reset: 20}})
    const full = {...base, timeline: {binMs: 20, connected: Array.from({length: MAX_BINS}, (_, i) => (i * 7) % 13), failed: Array.from({length: MAX_BINS}, (_, i) => i % 5)}}
    const runs = Array.from({length: 6}, (_, i) => analyzeRun(`run-${i}.json`, full))
    const html = renderHtmlReport(runs)
    expect(chartPoints(html)['timeline-chart']).toBeGreaterThan(500)
    expect(Buffer.byteLength(html)).toBeLessThan(300 * 1024)
    expect(html).not.toMatch(EXTERNAL)
  })

  it('an empty run: charts say so and report no data points', () => {
    const nothing = syntheticResult({plan: {burst: '10'}, failures: {refused: 10}})
    const html = renderHtmlReport([analyzeRun('refused.json', {...nothing, timeline: {binMs: 10, connected: [], failed: []}})])
    expect(chartPoints(html)['latency-chart']).toBe(1) // the refusals, as time to failure
    expect(chartPoints(html)['timeline-chart']).toBe(0)
    expect(html).toContain('no connect completed')
  })
})

describe('logTicks', () => {
  it('gives 1-2-5 ticks, or decades over a wide range', () => {
    expect(logTicks(1000, 3_000_000)).toEqual([1000, 10_000, 100_000, 1_000_000])
    expect(logTicks(800, 9000)).toEqual([1000, 2000, 5000])
    expect(logTicks(1_200_000, 2_900_000).length).toBeGreaterThanOrEqual(2)
  })
})
