import {describe, expect, it} from 'vitest'

import {type LatencyCount, attributeToSteps} from '../../src/analysis/attribution.js'
import {synLadder} from '../../src/analysis/ladder.js'

const defaults = synLadder({synRetries: 6, linearTimeouts: 4})
const classic = synLadder({synRetries: 6, linearTimeouts: 0})

function latencies(...pairs: [number, number][]): LatencyCount[] {
  return pairs.map(([latencyMs, count]) => ({latencyMs, count}))
}

describe('attributeToSteps', () => {
  it('puts B+1 immediate connects on step 0 and a wave at ~3.07 s on step 3 (docs/kernel.md §1, §2: lab backlog 16, stall 2.5 s)', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.3, 17], [3072, 83]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps).toEqual([
      {retransmits: 0, atMs: 0, connects: 17, share: 0.17, observedMedianMs: 0.3},
      {retransmits: 3, atMs: 3000, connects: 83, share: 0.83, observedMedianMs: 3072},
    ])
    expect(result.expectedSynRetrans).toBe(249)
    expect(result.betweenSteps.connects).toBe(0)
  })

  it('puts every step of the linear ladder on its own k: a wave at 1.03, 2.05, 3.07 … 7.17 s is k = 1, 2, 3 … 6', () => {
    // Each wave ~2.4 % late, as the kernel's jiffy rounding makes it: one connect count per step, so a
    // connect moved one step up or down shows as a wrong pair.
    const connected = latencies([0.2, 5], [1025, 1], [2049, 2], [3072, 3], [4096, 4], [5120, 5], [7168, 6])
    const result = attributeToSteps({ladder: defaults, connected, timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps.map((step) => [step.retransmits, step.atMs, step.connects])).toEqual([
      [0, 0, 5],
      [1, 1000, 1],
      [2, 2000, 2],
      [3, 3000, 3],
      [4, 4000, 4],
      [5, 5000, 5],
      [6, 7000, 6],
    ])
    expect(result.expectedSynRetrans).toBe(1 + 4 + 9 + 16 + 25 + 36)
    expect(result.betweenSteps.connects).toBe(0)
  })

  it('puts the 15 connects released after a 1.5 s stall on step 2 (the 2 s SYN): 30 retransmits', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.2, 5], [2048, 15]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps).toEqual([
      {retransmits: 0, atMs: 0, connects: 5, share: 0.25, observedMedianMs: 0.2},
      {retransmits: 2, atMs: 2000, connects: 15, share: 0.75, observedMedianMs: 2048},
    ])
    expect(result.expectedSynRetrans).toBe(30)
  })

  it('puts a wave at 3.06 s on step 2 of the classic ladder (the 3 s SYN): 83 × 2 = 166 retransmits', () => {
    const result = attributeToSteps({ladder: classic, connected: latencies([0.3, 17], [3060, 83]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps.map((step) => [step.retransmits, step.atMs, step.connects])).toEqual([[0, 0, 17], [2, 3000, 83]])
    expect(result.expectedSynRetrans).toBe(166)
  })

  it('reads the same latency as a different step on the classic ladder: 7.24 s is k=3 there, k=6 with linear timeouts', () => {
    const connected = latencies([7240, 10])
    expect(attributeToSteps({ladder: classic, connected, timedOut: 0, timeoutMs: 15_000, failedEarly: []}).steps[0]!.retransmits).toBe(3)
    expect(attributeToSteps({ladder: defaults, connected, timedOut: 0, timeoutMs: 15_000, failedEarly: []}).steps[0]!.retransmits).toBe(6)
  })

  it('accepts the late drift measured on long steps (68.45 s for the 67 s step) but not a connect half-way between steps', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.2, 1], [68_450, 2], [1500, 3], [50_000, 1]), timedOut: 0, timeoutMs: 140_000, failedEarly: []})
    expect(result.steps.map((step) => [step.retransmits, step.connects])).toEqual([[0, 1], [10, 2]])
    expect(result.betweenSteps).toEqual({connects: 4, share: 4 / 7, observedMedianMs: 1500})
  })

  it('reports slow connects that are not SYN loss (a 400 ms connect on loopback) as between steps', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.1, 5], [400, 5]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps).toHaveLength(1)
    expect(result.betweenSteps.connects).toBe(5)
  })

  it('says timed-out connects needed at least as many retransmits as surely left before the timeout: 6 within 8 s', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.3, 2]), timedOut: 8, timeoutMs: 8000, failedEarly: []})
    expect(result.timedOut).toEqual([{atLeastRetransmits: 6, connects: 8}])
    expect(result.expectedSynRetrans).toBe(48)
    expect(result.expectedIsLowerBound).toBe(false)
  })

  it('flags the count as a lower bound when the timeout falls where a retransmit may or may not have left', () => {
    // The 2 s retransmit leaves at ~2.05 s: a 2 s timeout may or may not have seen it.
    const result = attributeToSteps({ladder: defaults, connected: [], timedOut: 3, timeoutMs: 2000, failedEarly: []})
    expect(result.timedOut).toEqual([{atLeastRetransmits: 1, connects: 3}])
    expect(result.expectedIsLowerBound).toBe(true)
  })

  it('counts refused connects in the shares, and never among the connected steps', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.2, 5]), timedOut: 0, timeoutMs: 15_000, failedEarly: latencies([0.1, 5])})
    expect(result.steps).toEqual([{retransmits: 0, atMs: 0, connects: 5, share: 0.5, observedMedianMs: 0.2}])
    expect(result.failedSteps).toEqual([{retransmits: 0, connects: 5}])
    expect(result.expectedSynRetrans).toBe(0)
  })

  it('charges the retransmits of connects reset on a later step (abort_on_overflow RST to the 3rd SYN)', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.3, 5]), timedOut: 0, timeoutMs: 15_000, failedEarly: latencies([3060, 12])})
    expect(result.failedSteps).toEqual([{retransmits: 3, connects: 12}])
    expect(result.expectedSynRetrans).toBe(36)
  })

  it('allows the round trip of a distant target: a 200 ms RTT puts a 1.23 s connect on step 1', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([200, 3], [1230, 4]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps.map((step) => [step.retransmits, step.connects])).toEqual([[0, 3], [1, 4]])
  })

  it('reports a connect more than RTT + 100 ms after the fastest one but far before the 1 s SYN as between steps: 150 ms on loopback', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.1, 5], [150, 1]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps.map((step) => [step.retransmits, step.connects])).toEqual([[0, 5]])
    expect(result.betweenSteps).toEqual({connects: 1, share: 1 / 6, observedMedianMs: 150})
  })

  it('takes both edges of a window as inside it: with a 100 ms RTT, step 0 is 0 … 200 ms and step 1 is 950 … 1330 ms', () => {
    // step 0: RTT 100 + 100 ms slack; step 1: 1000 − 50 early … 1000 × 1.03 + 200 slack + 100 RTT
    const result = attributeToSteps({ladder: defaults, connected: latencies([100, 1], [200, 2], [950, 3], [1330, 4]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps.map((step) => [step.retransmits, step.connects])).toEqual([[0, 3], [1, 7]])
    expect(result.betweenSteps.connects).toBe(0)
  })

  it('takes the RTT allowance from the fastest bucket that holds a connect, not from an empty one', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.2, 0], [200, 3]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(result.rttAllowanceMs).toBe(200)
    expect(result.steps).toEqual([{retransmits: 0, atMs: 0, connects: 3, share: 1, observedMedianMs: 200}])
  })

  it('counts timed-out connects among the finished ones: 5 connected and 5 timed out make each share 0.5', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.3, 5]), timedOut: 5, timeoutMs: 15_000, failedEarly: []})
    expect(result.steps[0]!.share).toBe(0.5)
  })

  it('gives an empty attribution with shares of 0 when nothing finished', () => {
    expect(attributeToSteps({ladder: defaults, connected: [], timedOut: 0, timeoutMs: 15_000, failedEarly: []})).toEqual({
      steps: [],
      timedOut: [],
      pending: [],
      failedSteps: [],
      betweenSteps: {connects: 0, share: 0, observedMedianMs: null},
      expectedSynRetrans: 0,
      expectedIsLowerBound: false,
      rttAllowanceMs: 0,
    })
  })

  describe('connects still waiting when the run stopped', () => {
    // Step k's window ends at atMs × 1.03 + 200 ms (+ the RTT allowance, 0 with no connect): step 1
    // at 1230 ms, step 2 at 2260, 3 at 3290, 4 at 4320, 5 at 5350 on the linear ladder 1, 2, 3, 4, 5, 7 s.
    it.each([
      // the run: 41 in flight for 1.6 s had each sent the 1 s retransmit, not yet the 2 s one
      [41, 1600, 1],
      [41, 1230, 0], // the 1 s retransmit may still be on its way (drift + slack): not counted
      [41, 1231, 1],
      [27, 5000, 4],
      [27, 0, 0], // unknown (a merged file): no claim
    ])('%i pending after at least %i ms had surely sent %i SYN retransmits', (pending, pendingForMs, atLeastRetransmits) => {
      const result = attributeToSteps({ladder: defaults, connected: [], timedOut: 0, timeoutMs: 15_000, failedEarly: [], pending, pendingForMs})
      expect(result.pending).toEqual([{atLeastRetransmits, connects: pending}])
      // Cut off, they are not in the counters' expected total: the corroboration gives no verdict then.
      expect(result.expectedSynRetrans).toBe(0)
    })

    it('on the classic ladder (1, 3, 7 s), 3.5 s in flight means 2 retransmits sent', () => {
      const result = attributeToSteps({ladder: classic, connected: [], timedOut: 0, timeoutMs: 15_000, failedEarly: [], pending: 9, pendingForMs: 3500})
      expect(result.pending).toEqual([{atLeastRetransmits: 2, connects: 9}])
    })

    it('lists no group when nothing was pending', () => {
      expect(attributeToSteps({ladder: defaults, connected: [], timedOut: 0, timeoutMs: 15_000, failedEarly: [], pending: 0, pendingForMs: 9000}).pending).toEqual([])
    })
  })

  it('gives a step the weighted median of its connects, the lower middle one for an even count', () => {
    const odd = attributeToSteps({ladder: defaults, connected: latencies([0.3, 1], [1025, 1], [1030, 1], [1040, 5]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(odd.steps[1]!.observedMedianMs).toBe(1040)
    const even = attributeToSteps({ladder: defaults, connected: latencies([0.3, 1], [1025, 2], [1030, 2]), timedOut: 0, timeoutMs: 15_000, failedEarly: []})
    expect(even.steps[1]!.observedMedianMs).toBe(1025)
  })

  it.each([
    // no connect: RTT allowance 0, so step 1 is 950 … 1230 ms
    {timeoutMs: 1230, atLeast: 0, lowerBound: true, why: 'at the late edge of step 1: the 1 s SYN may not have left'},
    {timeoutMs: 950, atLeast: 0, lowerBound: true, why: 'at the early edge of step 1'},
    {timeoutMs: 1231, atLeast: 1, lowerBound: false, why: 'just after step 1: the 1 s SYN surely left'},
    {timeoutMs: 50, atLeast: 0, lowerBound: false, why: 'inside step 0: the first SYN is no retransmit'},
  ])('times out at $timeoutMs ms ($why): at least $atLeast retransmits, lower bound $lowerBound', ({timeoutMs, atLeast, lowerBound}) => {
    const result = attributeToSteps({ladder: defaults, connected: [], timedOut: 2, timeoutMs, failedEarly: []})
    expect(result.timedOut).toEqual([{atLeastRetransmits: atLeast, connects: 2}])
    expect(result.expectedSynRetrans).toBe(2 * atLeast)
    expect(result.expectedIsLowerBound).toBe(lowerBound)
  })

  it('is no lower bound when the timeout falls inside a window but no connect timed out', () => {
    const result = attributeToSteps({ladder: defaults, connected: latencies([0.3, 2]), timedOut: 0, timeoutMs: 1000, failedEarly: []})
    expect(result.timedOut).toEqual([])
    expect(result.expectedIsLowerBound).toBe(false)
  })

  it('charges no retransmit to a failure between steps (500 ms), and takes both edges of a step window for failures too', () => {
    const result = attributeToSteps({ladder: defaults, connected: [], timedOut: 0, timeoutMs: 15_000, failedEarly: latencies([500, 1], [950, 2], [1230, 4])})
    expect(result.failedSteps).toEqual([{retransmits: 1, connects: 6}])
    expect(result.expectedSynRetrans).toBe(6)
  })

  it('lists failed steps by retransmit count whatever the order of the buckets', () => {
    const result = attributeToSteps({ladder: defaults, connected: [], timedOut: 0, timeoutMs: 15_000, failedEarly: latencies([3060, 2], [0.1, 1], [1020, 3])})
    expect(result.failedSteps).toEqual([
      {retransmits: 0, connects: 1},
      {retransmits: 1, connects: 3},
      {retransmits: 3, connects: 2},
    ])
  })
})
