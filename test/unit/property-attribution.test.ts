import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {type LatencyCount, attributeToSteps} from '../../src/analysis/attribution.js'
import {synLadder} from '../../src/analysis/ladder.js'
import type {SynLadder} from '../../src/results/format.js'
import {assertProperty} from '../helpers/property.js'

/**
 * Attribution of connects to SYN-ladder steps (docs/decisions.md "How the tail is attributed"),
 * restated here from the documented rule:
 *
 * - step k ≥ 1 (the k-th retransmit got through) holds latencies from 50 ms before its nominal
 *   time t_k to t_k × 1.03 + 200 ms + RTT after it;
 * - step 0 (no retransmit) holds latencies up to RTT + 100 ms (the tool's own delay, the constant
 *   src/analysis/attribution.ts documents);
 * - RTT is the run's fastest connect, at most 250 ms (a quarter of the 1 s initial RTO);
 * - a connect in no window is between steps and never forced onto one.
 *
 * The latencies come as diagnose() feeds them: ascending buckets of distinct values (µs resolution)
 * with their counts. They are built here directly rather than read back from an HDR histogram,
 * whose bucket walk costs ~7 ms a case; the attribution reads only the buckets.
 */

interface Window {
  retransmits: number
  fromMs: number
  toMs: number
}

function windowsOf(ladder: SynLadder, rttMs: number): Window[] {
  return ladder.sendTimesMs.map((atMs, k) =>
    k === 0 ? {retransmits: 0, fromMs: 0, toMs: rttMs + 100} : {retransmits: k, fromMs: atMs - 50, toMs: atMs * 1.03 + 200 + rttMs},
  )
}

const inside = (window: Window, latencyMs: number): boolean => latencyMs >= window.fromMs && latencyMs <= window.toMs
const total = (buckets: readonly LatencyCount[]): number => buckets.reduce((sum, bucket) => sum + bucket.count, 0)

/** µs latencies for one ladder: most near a step (early, on time, late by the drift or more), some anywhere up to the give-up. */
function latenciesUs(ladder: SynLadder): fc.Arbitrary<number[]> {
  const steps = ladder.sendTimesMs
  const nearStep = fc
    .tuple(fc.integer({min: 0, max: steps.length - 1}), fc.integer({min: -80_000, max: 1_000_000}), fc.double({min: 0, max: 0.06, noNaN: true}))
    .map(([k, offsetUs, drift]) => Math.max(1, Math.round(steps[k]! * 1000 * (1 + drift) + offsetUs)))
  const loopback = fc.integer({min: 1, max: 400_000})
  const anywhere = fc.integer({min: 1, max: ladder.giveUpMs * 1000})
  return fc.array(fc.oneof(nearStep, loopback, anywhere), {maxLength: 60})
}

/** Ascending distinct values with how often each occurs, as a histogram's recorded values read. */
function bucketsOf(us: readonly number[]): LatencyCount[] {
  const counts = new Map<number, number>()
  for (const value of us) counts.set(value, (counts.get(value) ?? 0) + 1)
  return [...counts.entries()].sort(([a], [b]) => a - b).map(([value, count]) => ({latencyMs: value / 1000, count}))
}

const ladders = fc
  .record({synRetries: fc.integer({min: 1, max: 10}), linearTimeouts: fc.integer({min: 0, max: 20})})
  .map((settings) => synLadder(settings))

const cases = ladders.chain((ladder) =>
  fc.record({
    ladder: fc.constant(ladder),
    connected: latenciesUs(ladder).map(bucketsOf),
    failedEarly: latenciesUs(ladder).map(bucketsOf),
    timedOut: fc.integer({min: 0, max: 5}),
    timeoutMs: fc.integer({min: 1, max: ladder.giveUpMs + 10_000}),
  }),
)

describe('attribution to SYN-ladder steps (docs/decisions.md: how the tail is attributed)', () => {
  it('every connected connect is counted once: on one step or between steps, and the counts add up to the connects', () => {
    assertProperty(
      fc.property(cases, (input) => {
        const attribution = attributeToSteps(input)
        const onSteps = attribution.steps.reduce((sum, step) => sum + step.connects, 0)
        expect(onSteps + attribution.betweenSteps.connects).toBe(total(input.connected))
        // One entry per step, in ladder order: no step is listed twice.
        const retransmits = attribution.steps.map((step) => step.retransmits)
        expect(retransmits).toEqual([...new Set(retransmits)].sort((a, b) => a - b))
        expect(attribution.steps.every((step) => step.connects > 0)).toBe(true)
      }),
      {runs: 300},
    )
  })

  it('no connect is placed outside a window: a step holds at most the connects in its window, and between-steps holds exactly those in no window', () => {
    assertProperty(
      fc.property(cases, (input) => {
        const attribution = attributeToSteps(input)
        const fastest = input.connected[0]?.latencyMs ?? 0
        const windows = windowsOf(input.ladder, Math.min(fastest, 250))
        expect(attribution.rttAllowanceMs).toBe(Math.min(fastest, 250))
        const inNoWindow = total(input.connected.filter((bucket) => !windows.some((window) => inside(window, bucket.latencyMs))))
        expect(attribution.betweenSteps.connects).toBe(inNoWindow)
        for (const step of attribution.steps) {
          const window = windows[step.retransmits]!
          expect(step.atMs).toBe(input.ladder.sendTimesMs[step.retransmits])
          expect(step.connects).toBeLessThanOrEqual(total(input.connected.filter((bucket) => inside(window, bucket.latencyMs))))
          // The median of what the step holds lies in the step's window too.
          expect(inside(window, step.observedMedianMs)).toBe(true)
        }
        if (attribution.betweenSteps.observedMedianMs !== null) {
          expect(windows.some((window) => inside(window, attribution.betweenSteps.observedMedianMs!))).toBe(false)
        }
      }),
      {runs: 300},
    )
  })

  it('failed connects are placed on one step at most, each inside that step window, and timed-out ones keep their count', () => {
    assertProperty(
      fc.property(cases, (input) => {
        const attribution = attributeToSteps(input)
        const fastest = input.connected[0]?.latencyMs ?? 0
        const windows = windowsOf(input.ladder, Math.min(fastest, 250))
        const placed = attribution.failedSteps.reduce((sum, step) => sum + step.connects, 0)
        expect(placed).toBe(total(input.failedEarly.filter((bucket) => windows.some((window) => inside(window, bucket.latencyMs)))))
        for (const step of attribution.failedSteps) {
          expect(step.connects).toBeLessThanOrEqual(total(input.failedEarly.filter((bucket) => inside(windows[step.retransmits]!, bucket.latencyMs))))
        }
        expect(attribution.timedOut).toEqual(input.timedOut > 0 ? [{atLeastRetransmits: expect.any(Number), connects: input.timedOut}] : [])
      }),
      {runs: 300},
    )
  })

  it('the expected SYN retransmits are Σ k·n over the steps, the timed-out connects and the failed ones, and shares are of all finished connects', () => {
    assertProperty(
      fc.property(cases, (input) => {
        const attribution = attributeToSteps(input)
        const finished = total(input.connected) + input.timedOut + total(input.failedEarly)
        const sum =
          attribution.steps.reduce((acc, step) => acc + step.retransmits * step.connects, 0) +
          attribution.timedOut.reduce((acc, row) => acc + row.atLeastRetransmits * row.connects, 0) +
          attribution.failedSteps.reduce((acc, step) => acc + step.retransmits * step.connects, 0)
        expect(attribution.expectedSynRetrans).toBe(sum)
        for (const step of attribution.steps) expect(step.share).toBe(step.connects / finished)
        // A timed-out connect had at most every retransmit sent before the give-up.
        for (const row of attribution.timedOut) expect(row.atLeastRetransmits).toBeLessThanOrEqual(input.ladder.sendTimesMs.length - 1)
      }),
      {runs: 300},
    )
  })
})
