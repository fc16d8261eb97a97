import {describe, expect, it} from 'vitest'

import {type CountedInput, type LatencyCount, attributeToSteps} from '../../src/analysis/attribution.js'
import {synLadder} from '../../src/analysis/ladder.js'
import {decodeHistogram, latencyCountsMs} from '../../src/results/histogram.js'
import {StormRecorder, addRetransmits} from '../../src/results/recorder.js'
import type {CountedRetransmits} from '../../src/results/format.js'

// The linear ladder of this kernel's defaults (tcp_syn_retries 6, tcp_syn_linear_timeouts 4):
// SYNs at 0, 1, 2, 3, 4, 5, 7 s (docs/kernel.md §2).
const linear = synLadder({synRetries: 6, linearTimeouts: 4})

function latencies(...pairs: [number, number][]): LatencyCount[] {
  return pairs.map(([latencyMs, count]) => ({latencyMs, count}))
}

function counted(byOutcome: CountedInput['byOutcome'], connectedLatency: [number, LatencyCount[]][] = []): CountedInput {
  return {byOutcome, connectedLatency: new Map(connectedLatency)}
}

describe('attribution from the kernel\'s counts (TCP_INFO)', () => {
  it('puts each connect on the step of its counted retransmits, labelled counted: 17 on step 0, 83 on step 3, Σ k·n = 249', () => {
    const result = attributeToSteps({
      ladder: linear,
      connected: latencies([0.3, 17], [3072, 83]),
      timedOut: 0,
      timeoutMs: 15_000,
      failedEarly: [],
      counted: counted({connected: {'0': 17, '3': 83}}, [[0, latencies([0.3, 17])], [3, latencies([3072, 83])]]),
    })
    expect(result.source).toBe('counted')
    expect(result.steps).toEqual([
      {retransmits: 0, atMs: 0, connects: 17, share: 0.17, observedMedianMs: 0.3, source: 'counted'},
      {retransmits: 3, atMs: 3000, connects: 83, share: 0.83, observedMedianMs: 3072, source: 'counted'},
    ])
    expect(result.expectedSynRetrans).toBe(249)
    expect(result.disagreements).toEqual([])
  })

  it('trusts the count over the latency: 10 connects counted at 2 retransmits whose latency (3.07 s) lies in step 3\'s window are on step 2 and reported as disagreeing, with both numbers', () => {
    const result = attributeToSteps({
      ladder: linear,
      connected: latencies([3072, 10]),
      timedOut: 0,
      timeoutMs: 15_000,
      failedEarly: [],
      counted: counted({connected: {'2': 10}}, [[2, latencies([3072, 10])]]),
    })
    expect(result.steps.map((step) => [step.retransmits, step.connects, step.source])).toEqual([[2, 10, 'counted']])
    expect(result.expectedSynRetrans).toBe(20)
    expect(result.disagreements).toEqual([{countedRetransmits: 2, latencyStep: 3, connects: 10, observedMedianMs: 3072}])
  })

  it('reports a counted connect whose latency is in no step\'s window (1.6 s: slow after its SYN got through) as a disagreement with latencyStep null, not "between steps"', () => {
    const result = attributeToSteps({
      ladder: linear,
      connected: latencies([1600, 4]),
      timedOut: 0,
      timeoutMs: 15_000,
      failedEarly: [],
      counted: counted({connected: {'1': 4}}, [[1, latencies([1600, 4])]]),
    })
    expect(result.steps.map((step) => [step.retransmits, step.connects])).toEqual([[1, 4]])
    expect(result.betweenSteps.connects).toBe(0)
    expect(result.disagreements).toEqual([{countedRetransmits: 1, latencyStep: null, connects: 4, observedMedianMs: 1600}])
  })

  it('gives timed-out connects the exact count: 18 timed out after 8 s with 6 retransmits each sent 7 SYNs, and the expected total is no lower bound', () => {
    const result = attributeToSteps({
      ladder: linear,
      connected: latencies([0.2, 2]),
      timedOut: 18,
      timeoutMs: 8000,
      failedEarly: [],
      counted: counted({connected: {'0': 2}, timeout: {'6': 18}}, [[0, latencies([0.2, 2])]]),
    })
    expect(result.timedOut).toEqual([{atLeastRetransmits: 6, retransmits: 6, synsSent: 7, connects: 18, source: 'counted'}])
    expect(result.expectedSynRetrans).toBe(108)
    expect(result.expectedIsLowerBound).toBe(false)
  })

  it('puts counted failures (a RST to the 2nd retransmit) on their step', () => {
    const result = attributeToSteps({
      ladder: linear,
      connected: [],
      timedOut: 0,
      timeoutMs: 15_000,
      failedEarly: latencies([2050, 5]),
      counted: counted({refused: {'2': 3}, reset: {'2': 2}}),
    })
    expect(result.failedSteps).toEqual([{retransmits: 2, connects: 5}])
    expect(result.expectedSynRetrans).toBe(10)
  })

  it('falls back to the latency windows for a part not every connect of which was counted (a missing count would look like fewer retransmits)', () => {
    const input = {ladder: linear, connected: latencies([0.3, 17], [3072, 83]), timedOut: 0, timeoutMs: 15_000, failedEarly: []}
    // 99 of 100 connected connects counted: the steps stay inferred.
    const result = attributeToSteps({...input, counted: counted({connected: {'0': 17, '3': 82}})})
    expect(result.source).toBe('inferred')
    expect(result.steps).toEqual([
      {retransmits: 0, atMs: 0, connects: 17, share: 0.17, observedMedianMs: 0.3},
      {retransmits: 3, atMs: 3000, connects: 83, share: 0.83, observedMedianMs: 3072},
    ])
    expect(result.expectedSynRetrans).toBe(249)
    expect(result.disagreements).toBeUndefined()
  })

  it('without counts (an older file, no addon) leaves the inferred attribution as it was: no source field', () => {
    const result = attributeToSteps({ladder: linear, connected: latencies([0.3, 17], [3072, 83]), timedOut: 0, timeoutMs: 15_000, failedEarly: [], counted: null})
    expect(result.source).toBeUndefined()
    expect(result.steps[1]).toEqual({retransmits: 3, atMs: 3000, connects: 83, share: 0.83, observedMedianMs: 3072})
  })
})

describe('counted retransmits in the recorder', () => {
  it('keeps outcome → retransmits → connects, counts what could not be read apart, and is null when nothing was counted', () => {
    const recorder = new StormRecorder()
    expect(recorder.countedRetransmits()).toBeNull()
    recorder.recordRetransmits('connected', 0, 300)
    recorder.recordRetransmits('connected', 3, 3_072_000)
    recorder.recordRetransmits('connected', 3, 3_072_000)
    recorder.recordRetransmits('timeout', 6)
    recorder.recordRetransmits('refused', null)
    const result = recorder.countedRetransmits()!
    expect(result.byOutcome).toEqual({connected: {'0': 1, '3': 2}, timeout: {'6': 1}})
    expect(result.notCounted).toBe(1)
    // The latency per count: the two connects counted at 3 retransmits took 3072 ms.
    expect(latencyCountsMs(decodeHistogram(result.connectedFromActual!['3']!)).map((bucket) => bucket.count)).toEqual([2])
  })

  it('adds a worker\'s snapshot: counts summed per outcome and per retransmits', () => {
    const main = new StormRecorder()
    main.recordRetransmits('connected', 3, 3_072_000)
    const worker = new StormRecorder()
    worker.recordRetransmits('connected', 3, 3_072_000)
    worker.recordRetransmits('connected', 0, 300)
    worker.recordRetransmits('pending', 2)
    main.add(worker.snapshot())
    const result = main.countedRetransmits()!
    expect(result.byOutcome).toEqual({connected: {'0': 1, '3': 2}, pending: {'2': 1}})
    expect(latencyCountsMs(decodeHistogram(result.connectedFromActual!['3']!)).map((bucket) => bucket.count)).toEqual([2])
  })

  it('sums two shards\' counts at a merge', () => {
    const into: CountedRetransmits = {byOutcome: {connected: {'0': 17, '3': 83}}, notCounted: 1}
    addRetransmits(into, {byOutcome: {connected: {'3': 17}, timeout: {'6': 4}}, notCounted: 2})
    expect(into).toEqual({byOutcome: {connected: {'0': 17, '3': 100}, timeout: {'6': 4}}, notCounted: 3})
  })
})
