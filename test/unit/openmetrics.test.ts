import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {cumulativeCounts, latencyBoundsUs, renderOpenMetrics, runLabels} from '../../src/report/openmetrics.js'
import {parsePushUrl, pushTarget} from '../../src/report/push.js'
import type {StormResult} from '../../src/results/format.js'
import {newLatencyHistogram} from '../../src/results/histogram.js'
import {thrown} from '../helpers/thrown.js'

/** The linear ladder of tcp_syn_retries=6, tcp_syn_linear_timeouts=4 (docs/kernel.md §2), as a result records it. */
const LINEAR_LADDER = {synRetries: '6', linearTimeouts: '4', sendTimesMs: [0, 1000, 2000, 3000, 4000, 5000, 7000, 11_000, 19_000, 35_000, 67_000], giveUpMs: 131_000}

function histogramOf(...groups: [valueUs: number, count: number][]) {
  const histogram = newLatencyHistogram()
  for (const [value, count] of groups) histogram.recordValueWithCount(value, count)
  return histogram
}

/** The fixture a shared-namespace lab burst wrote (its analyze text is beside it). */
function fixture(name: string): StormResult {
  return JSON.parse(readFileSync(new URL(`../fixtures/results/${name}.json`, import.meta.url), 'utf8')) as StormResult
}

/** The value of the one sample line that starts with `prefix` (name and labels, as printed). */
function sample(text: string, prefix: string): number {
  const lines = text.split('\n').filter((line) => line.startsWith(`${prefix} `))
  expect(lines, prefix).toHaveLength(1)
  return Number(lines[0]!.slice(prefix.length + 1))
}

describe('histogram bounds: the direct grid and the edges of each retransmit\'s attribution window', () => {
  it('on the linear ladder: 12 bounds up to 0.5 s, then each step k at (send time − 50 ms) and (send time × 1.03 + 200 ms), and the 131 s give-up', () => {
    // By hand from docs/kernel.md §2's drift allowance: step 1 (1 s) → 0.95 s and 1.23 s; step 6 (7 s) → 6.95 s and 7.41 s; step 10 (67 s) → 66.95 s and 69.21 s.
    expect(latencyBoundsUs(LINEAR_LADDER)).toEqual([
      100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
      950_000, 1_230_000, 1_950_000, 2_260_000, 2_950_000, 3_290_000, 3_950_000, 4_320_000, 4_950_000, 5_350_000,
      6_950_000, 7_410_000, 10_950_000, 11_530_000, 18_950_000, 19_770_000, 34_950_000, 36_250_000, 66_950_000, 69_210_000,
      131_000_000,
    ])
  })

  it('on the classic ladder (1, 3, 7, 15, 31, 63 s; give-up 127 s): the same rule, other steps', () => {
    const classic = {synRetries: '6', linearTimeouts: '0', sendTimesMs: [0, 1000, 3000, 7000, 15_000, 31_000, 63_000], giveUpMs: 127_000}
    expect(latencyBoundsUs(classic).slice(12)).toEqual([950_000, 1_230_000, 2_950_000, 3_290_000, 6_950_000, 7_410_000, 14_950_000, 15_650_000, 30_950_000, 32_130_000, 62_950_000, 65_090_000, 127_000_000])
  })

  it('without a known ladder: the grid continues by 1-2.5-5 decades to 600 s', () => {
    expect(latencyBoundsUs(null).slice(12)).toEqual([1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 600_000_000])
  })
})

describe('cumulative counts, exactly from the HDR histogram', () => {
  it('counts 17 direct connects and 33 released by the 3 s SYN as 17 up to 2.95 s and 50 at 3.29 s', () => {
    const histogram = histogramOf([300, 17], [3_070_000, 33])
    expect(cumulativeCounts(histogram, [500_000, 950_000, 2_950_000, 3_290_000])).toEqual([17, 17, 17, 50])
  })

  it('is exact to the µs below 2048 µs: 1000 µs counts at le=0.001, 1001 µs does not', () => {
    expect(cumulativeCounts(histogramOf([1000, 1], [1001, 1]), [1000, 2500])).toEqual([1, 2])
  })

  it('counts an HDR bucket that straddles a bound above it: 949.9 ms (HDR bucket 949.760–950.271 ms) is above le=0.95, 949.759 ms (bucket 949.248–949.759 ms) below', () => {
    // Values in [2^19, 2^20) µs share 512 µs-wide buckets (3 significant digits: 2048 sub-buckets
    // per power of two): 949 900 lies in 1855 × 512 = 949 760 … 950 271, which reaches past 950 000.
    expect(cumulativeCounts(histogramOf([949_900, 1]), [950_000, 1_230_000])).toEqual([0, 1])
    expect(cumulativeCounts(histogramOf([949_759, 1]), [950_000, 1_230_000])).toEqual([1, 1])
  })
})

describe('the exposition of a saved run', () => {
  const result = fixture('lab-burst')
  const text = renderOpenMetrics(result)
  const labels = 'target="127.0.0.1:45413",run="2026-12-06T05:34:41.343Z"'

  it('labels every sample with the target and the run; a run without --shard has no shard label', () => {
    expect(runLabels(result)).toEqual({target: '127.0.0.1:45413', run: '2026-12-06T05:34:41.343Z'})
    const samples = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'))
    expect(samples.length).toBeGreaterThan(100)
    for (const line of samples) expect(line).toContain(`{${labels}`)
  })

  it('puts the fixture\'s 9 direct connects (148–488 µs) at le=0.95 and all 100 at le=1.23, its 91 that waited one retransmit (~1.01 s) between', () => {
    // From the fixture's analyze text: 9 connects up to 488 µs, 91 in 1.00–1.19 s (k=1).
    expect(sample(text, `connstorm_connect_duration_seconds_bucket{${labels},le="0.0001"}`)).toBe(0)
    expect(sample(text, `connstorm_connect_duration_seconds_bucket{${labels},le="0.5"}`)).toBe(9)
    expect(sample(text, `connstorm_connect_duration_seconds_bucket{${labels},le="0.95"}`)).toBe(9)
    expect(sample(text, `connstorm_connect_duration_seconds_bucket{${labels},le="1.23"}`)).toBe(100)
    expect(sample(text, `connstorm_connect_duration_seconds_bucket{${labels},le="+Inf"}`)).toBe(100)
    expect(sample(text, `connstorm_connect_duration_seconds_count{${labels}}`)).toBe(100)
  })

  it('gives the outcomes, the ladder steps, the nstat deltas and the listener as the fixture recorded them', () => {
    expect(sample(text, `connstorm_connects_total{${labels},outcome="connected"}`)).toBe(100)
    expect(sample(text, `connstorm_connects_total{${labels},outcome="timeout"}`)).toBe(0)
    expect(sample(text, `connstorm_ladder_step_connects_total{${labels},retransmits="1",source="inferred"}`)).toBe(91)
    expect(sample(text, `connstorm_ladder_send_seconds{${labels},retransmits="6"}`)).toBe(7)
    expect(sample(text, `connstorm_ladder_give_up_seconds{${labels}}`)).toBe(131)
    expect(sample(text, `connstorm_kernel_nstat_delta{${labels},nstat="TcpExtTCPSynRetrans",netns="shared"}`)).toBe(91)
    expect(sample(text, `connstorm_listener_peak_accept_queue{${labels}}`)).toBe(9)
    // Written before the kernel's own count was recorded: no counted series at all.
    expect(text).not.toContain('connstorm_syn_retransmits_counted_connects_total')
  })

  it('gives a --shard 2/3 run the shard label 2/3 and its --start-at instant as the run, so the shards of one storm share it', () => {
    const shard: StormResult = {...result, plan: {...result.plan, shard: {index: 2, count: 3, totalConnects: 300}, startAt: '2026-12-06T05:34:40.000Z'}}
    expect(runLabels(shard)).toEqual({target: '127.0.0.1:45413', run: '2026-12-06T05:34:40.000Z', shard: '2/3'})
  })

  it('brackets an IPv6 target and escapes quotes and backslashes in label values', () => {
    const v6: StormResult = {...result, target: {...result.target, host: '::1', family: 6}, tool: {...result.tool, version: 'a"b\\c'}}
    const rendered = renderOpenMetrics(v6)
    expect(rendered).toContain('target="[::1]:45413"')
    expect(rendered).toContain('version="a\\"b\\\\c"')
  })

  it('leaves the run labels to the Pushgateway\'s grouping key when asked', () => {
    expect(renderOpenMetrics(result, {withoutRunLabels: true})).toContain('\nconnstorm_connects_total{outcome="connected"} 100\n')
  })
})

describe('--push URL', () => {
  it('takes http and https URLs, with a path prefix', () => {
    expect(parsePushUrl('http://127.0.0.1:9091').href).toBe('http://127.0.0.1:9091/')
    expect(parsePushUrl('https://gw.example/prefix/').pathname).toBe('/prefix/')
  })

  it('refuses anything else with the accepted form', () => {
    for (const bad of ['pushgateway:9091', 'ftp://gw:21', 'http://', '127.0.0.1:9091', 'http://gw:9091/?x=1']) {
      expect((thrown(() => parsePushUrl(bad)) as Error).message).toMatch(/^--push: invalid value '.*': expected an http:\/\/ or https:\/\/ URL of a Pushgateway/)
    }
  })

  it('pushes to /metrics/job/connstorm with target, run and shard base64url-encoded in the path, credentials left out of it', () => {
    const url = pushTarget(parsePushUrl('http://user:pw@gw:9091/prefix/'), {target: '[::1]:80', run: '2026-12-06T05:34:41.343Z', shard: '2/3'})
    // base64url by hand: '[::1]:80' → Wzo6MV06ODA, '2/3' → Mi8z; the run as the Pushgateway decodes it.
    expect(url.href).toBe('http://gw:9091/prefix/metrics/job/connstorm/target@base64/Wzo6MV06ODA/run@base64/MjAyNi0xMi0wNlQwNTozNDo0MS4zNDNa/shard@base64/Mi8z')
  })
})
