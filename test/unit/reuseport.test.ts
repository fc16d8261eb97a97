import {describe, expect, it} from 'vitest'

import {listenerGroup, observedShares, shareBound} from '../../src/analysis/reuseport.js'
import {recommend} from '../../src/analysis/recommend.js'
import {renderVerdict} from '../../src/report/diagnosis-text.js'
import type {KernelObservation} from '../../src/results/format.js'
import {onStep, syntheticResult, textReport} from '../helpers/synthetic-result.js'

// An SO_REUSEPORT group (docs/kernel.md §16): sockets on one address and port, each with a queue of
// its own; the kernel hashes each connect to one of them.
const single: NonNullable<KernelObservation['listener']> = {effectiveBacklog: 8, peakQueue: 9, samples: 10, source: 'netlink'}
const four = (drops: (number | null)[] = [100, 96, 96, 108], backlogs: (number | null)[] = [8, 8, 8, 8]): NonNullable<KernelObservation['listener']> => ({
  ...single,
  drops: drops.every((value) => value !== null) ? drops.reduce<number>((sum, value) => sum + value!, 0) : null,
  reusePort: {effectiveBacklogs: backlogs, drops},
})

describe('the listeners of an SO_REUSEPORT group', () => {
  it('a single listener is no group', () => {
    expect(listenerGroup(single)).toBeNull()
    expect(listenerGroup(null)).toBeNull()
    expect(listenerGroup({...single, reusePort: {effectiveBacklogs: [8], drops: [0]}})).toBeNull()
  })

  it('four listen(8) sockets admit 4 × (8 + 1) = 36 at once', () => {
    expect(listenerGroup(four())).toEqual({listeners: 4, backlogs: [8, 8, 8, 8], capacity: 36, commonBacklog: 8})
  })

  it('unequal backlogs add up each (8+1 + 16+1 = 26) and have no common backlog; an unknown one leaves the capacity unknown', () => {
    expect(listenerGroup(four([0, 0], [8, 16]))).toMatchObject({listeners: 2, capacity: 26, commonBacklog: null})
    expect(listenerGroup(four([0, 0], [8, null]))).toMatchObject({listeners: 2, capacity: null, commonBacklog: null})
  })
})

describe("one member's share of a burst", () => {
  it('is the mean plus four standard deviations of a binomial share, rounded up', () => {
    // 200 over 4: 50 + 4 × √(200 × ¼ × ¾) = 50 + 4 × 6.124 = 74.5 → 75
    expect(shareBound(200, 4)).toBe(75)
    // 1000 over 2: 500 + 4 × √(1000 × ½ × ½) = 500 + 4 × 15.81 = 563.2 → 564
    expect(shareBound(1000, 2)).toBe(564)
  })

  it('is never more than the whole burst, and the whole burst for one listener', () => {
    // 8 over 4: 2 + 4 × √(8 × ¼ × ¾) = 2 + 4.90 = 6.9 → 7; 3 over 2: 1.5 + 4 × 0.866 = 4.96 → capped at 3
    expect(shareBound(8, 4)).toBe(7)
    expect(shareBound(3, 2)).toBe(3)
    expect(shareBound(200, 1)).toBe(200)
  })

  it("this run's shares: each member's 9 admitted plus its part of the 164 delayed, in proportion to its drops", () => {
    // Drops 100, 96, 96, 108 of 400: 164 × ¼ = 41, 164 × 0.24 = 39.36 → 39, 39, 164 × 0.27 = 44.28 → 44
    expect(observedShares(listenerGroup(four())!, [100, 96, 96, 108], 164)).toEqual([50, 48, 48, 53])
  })

  it('a member that dropped nothing never filled its queue: only its part of the delayed (none) is counted', () => {
    expect(observedShares(listenerGroup(four())!, [0, 100, 100, 200], 100)).toEqual([0, 34, 34, 59])
  })

  it('no shares without every member’s drops, without drops, or without delayed connects', () => {
    expect(observedShares(listenerGroup(four())!, [100, null, 96, 108], 164)).toBeNull()
    expect(observedShares(listenerGroup(four())!, [0, 0, 0, 0], 164)).toBeNull()
    expect(observedShares(listenerGroup(four())!, [100, 96, 96, 108], 0)).toBeNull()
    expect(observedShares(listenerGroup(four())!, [100, 96], 164)).toBeNull()
  })
})

// A burst of 200 at four listen(8) sockets that accept nothing for 2.5 s: 36 get in at once, the
// other 164 on the third retransmit (3 s on this kernel's linear ladder).
const groupBurst = (drops: (number | null)[] = [100, 96, 96, 108]) =>
  syntheticResult({
    plan: {burst: '200'},
    connects: [onStep(0, 36), onStep(3, 164)],
    listener: {effectiveBacklog: 8, peakQueue: 9, drops: 400, reusePort: {effectiveBacklogs: [8, 8, 8, 8], drops}},
    counterDeltas: {TcpActiveOpens: 200, TcpExtTCPSynRetrans: 164 * 3, TcpExtListenOverflows: 492},
  })

describe('advice for an SO_REUSEPORT group', () => {
  it("sizes each listener for its share, not one queue for the whole burst: 75 × 1.25 = 94 → 127, where a single listener's would be 255", () => {
    const advice = recommend(groupBurst())
    expect(advice.neededQueue).toBe(75)
    expect(advice.proposedBacklog).toBe(127)
    const alone = recommend(syntheticResult({plan: {burst: '200'}, connects: [onStep(0, 9), onStep(3, 191)], listener: {effectiveBacklog: 8, peakQueue: 9}}))
    expect(alone.proposedBacklog).toBe(255)
  })

  it('takes the largest share the drops show when the hash was more skewed than four standard deviations', () => {
    // Drops 10, 10, 10, 370 of 400: 9 + 164 × 0.025 = 13.1 → 13 each, and the last member
    // 9 + 164 × 0.925 = 160.7 → 161 (> 75): 161 × 1.25 = 202 → 255
    const advice = recommend(groupBurst([10, 10, 10, 370]))
    expect(advice.neededQueue).toBe(161)
    expect(advice.proposedBacklog).toBe(255)
    expect(advice.model).toContain("this run's shares, from each listener's drops: 13, 13, 13, 161 (largest 161 against 50 on average), more skewed than the bound: sized for 161")
  })

  it('names the group in the evidence: 36 admitted at once is 4 listeners × (8 + 1)', () => {
    const backlog = recommend(groupBurst()).recommendations.find((recommendation) => recommendation.knob === 'backlog')!
    expect(backlog.evidence).toContain('36 connects were admitted at once (= 4 listeners × (backlog 8 + 1) sharing the port with SO_REUSEPORT, when the application is not accepting)')
    expect(backlog.evidence).toContain('peak accept queue 9/8+1 (full) on one of the 4 listeners')
  })

  it('a count admitted at once that is not the capacity still names the group and its places', () => {
    const result = groupBurst()
    result.attribution!.steps[0]!.connects = 30
    const backlog = recommend(result).recommendations.find((recommendation) => recommendation.knob === 'backlog')!
    expect(backlog.evidence).toContain('30 connects were admitted at once; 4 listeners share the port with SO_REUSEPORT, 36 places in all')
  })
})

describe('the report of an SO_REUSEPORT group', () => {
  it('the verdict names the group’s queues and their capacity', () => {
    expect(renderVerdict(groupBurst(), 200)).toMatch(/: the accept queues of the 4 listeners sharing the port with SO_REUSEPORT \(4 × \(8\+1\) = 36\) were full;/)
  })

  it('the listener line names the group and each listener’s drops', () => {
    expect(textReport(groupBurst())).toMatch(/^listener  .*; 4 listeners share the port \(SO_REUSEPORT\): 4 × \(8\+1\) = 36 at once; drops per listener 100, 96, 96, 108$/m)
  })
})

describe("what a listener's drops hold beyond the retransmitted SYNs (docs/kernel.md §14)", () => {
  // A never-accepting listen(8): 9 in at once, 91 give up at 1.5 s after 1 retransmit each. Each
  // of the 91 had both its SYNs dropped: 91 retransmitted SYNs + 91 last SYNs = 182 drops.
  const gaveUp = (drops: number) =>
    syntheticResult({
      plan: {burst: '100', timeout: '1500ms'},
      connects: [onStep(0, 9)],
      failures: {timeout: 91},
      listener: {effectiveBacklog: 8, peakQueue: 9, drops},
      counterDeltas: {TcpActiveOpens: 300, TcpExtTCPSynRetrans: 400},
    })

  it('names the last SYNs of connects that gave up, not handshake ACKs', () => {
    expect(renderVerdict(gaveUp(182), 100)).toMatch(/the listener's own drops agree \(182 dropped ≥ 91 retransmitted SYNs; the other 91 were the last SYNs of connects that gave up\)/)
  })

  it('and handshake ACKs for what is over both', () => {
    expect(renderVerdict(gaveUp(190), 100)).toMatch(/\(190 dropped ≥ 91 retransmitted SYNs; the other 99 were 91 last SYNs of connects that gave up and 8 handshake ACKs at its full queue\)/)
  })
})
