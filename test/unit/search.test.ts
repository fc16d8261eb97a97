import {describe, expect, it} from 'vitest'

import {type SearchSettings, type TrialRecord, bracketOf, judgeTrial, nextTrial, sizeFromSearch} from '../../src/analysis/search.js'
import {burstOf200AgainstBacklog8, onStep, syntheticResult} from '../helpers/synthetic-result.js'

/**
 * A stalled listener as the kernel makes it (docs/kernel.md §1): a burst of n gets min(n, B + 1)
 * connects in at once and the rest wait for a retransmitted SYN. `search` must find B + 1.
 */
function stalledQueue(backlog: number) {
  return (size: number): Pick<TrialRecord, 'pass' | 'admittedAtOnce'> => ({pass: size <= backlog + 1, admittedAtOnce: Math.min(size, backlog + 1)})
}

/** Runs the strategy against a world until it is done (or 40 trials: a loop would fail the test). */
function search(settings: SearchSettings, world: (size: number) => Pick<TrialRecord, 'pass' | 'admittedAtOnce'>) {
  const trials: TrialRecord[] = []
  for (let i = 0; i < 40; i++) {
    const step = nextTrial(settings, trials)
    if (step.next === 'done') return {trials, bracket: step.bracket, confirmed: step.confirmed}
    trials.push({size: step.size, confirming: step.confirming, ...world(step.size)})
  }
  throw new Error(`no answer after 40 trials: ${trials.map((trial) => trial.size).join(', ')}`)
}

const BURST: SearchSettings = {dimension: 'burst', start: 8, max: 4096}

describe('the burst search against a stalled accept queue', () => {
  it.each([
    // backlog, the trial sizes in order (the last one confirms)
    [16, [8, 32, 17, 18, 17]],
    [64, [8, 32, 128, 65, 66, 65]],
    [200, [8, 32, 128, 512, 201, 202, 201]],
  ])('backlog %i: finds B + 1 exactly, trying %j', (backlog, sizes) => {
    const {trials, bracket, confirmed} = search(BURST, stalledQueue(backlog))
    expect(trials.map((trial) => trial.size)).toEqual(sizes)
    expect(bracket).toEqual({largestPass: backlog + 1, smallestFail: backlog + 2})
    expect(confirmed).toBe(true)
    expect(trials.at(-1)).toMatchObject({confirming: true, pass: true})
  })

  it.each([16, 64, 200, 1, 2, 5, 1000, 3000])('backlog %i: needs at most ⌈log2 B⌉ + 4 trials plus the confirming one', (backlog) => {
    const {trials, bracket} = search(BURST, stalledQueue(backlog))
    expect(bracket.largestPass).toBe(backlog + 1)
    expect(trials.length).toBeLessThanOrEqual(Math.ceil(Math.log2(backlog)) + 4 + 1)
  })

  it('bisects when the failing trial gives no hint (a queue that drains while the burst arrives)', () => {
    // Passes up to 40, and every failure admitted 0 at once: no hint to use.
    const {trials, bracket} = search(BURST, (size) => ({pass: size <= 40, admittedAtOnce: null}))
    expect(trials.map((trial) => trial.size)).toEqual([8, 32, 128, 80, 56, 44, 38, 41, 39, 40, 40])
    expect(bracket).toEqual({largestPass: 40, smallestFail: 41})
  })

  it('stops at the max when every trial passes, with no failing size in the bracket', () => {
    const {trials, bracket} = search({dimension: 'burst', start: 8, max: 100}, () => ({pass: true, admittedAtOnce: null}))
    expect(trials.map((trial) => trial.size)).toEqual([8, 32, 100])
    expect(bracket).toEqual({largestPass: 100, smallestFail: null})
  })

  it('answers "none" when even one connect fails', () => {
    const {trials, bracket} = search({dimension: 'burst', start: 1, max: 100}, () => ({pass: false, admittedAtOnce: 0}))
    expect(trials.map((trial) => trial.size)).toEqual([1])
    expect(bracket).toEqual({largestPass: null, smallestFail: 1})
  })

  it('searches again below a confirming trial that failed (a noisy pass is not an answer)', () => {
    let firstAt17 = true
    const {trials, bracket} = search(BURST, (size) => {
      if (size === 17 && firstAt17) {
        firstAt17 = false
        return {pass: true, admittedAtOnce: 17}
      }
      return {pass: size <= 16, admittedAtOnce: Math.min(size, 16)}
    })
    // The queue holds 16 (the failing 32 admitted 16), 17 passes once by luck, bisection narrows
    // to 17 … 18, the repeat of 17 fails, and 16 is confirmed instead.
    expect(trials.map((trial) => [trial.size, trial.pass])).toEqual([[8, true], [32, false], [16, true], [17, true], [24, false], [20, false], [18, false], [17, false], [16, true]])
    expect(trials.map((trial) => trial.confirming)).toEqual([false, false, false, false, false, false, false, true, true])
    expect(bracket).toEqual({largestPass: 16, smallestFail: 17})
  })

  it('knows a large burst to 1 %: 1,907 passes and 1,918 fails is narrow enough (19 connects)', () => {
    const {trials, bracket} = search({dimension: 'burst', start: 8, max: 2000}, (size) => ({pass: size <= 1907, admittedAtOnce: 17}))
    expect(trials.map((trial) => trial.size)).toEqual([8, 32, 128, 512, 2000, 1256, 1628, 1814, 1907, 1953, 1930, 1918, 1907])
    expect(bracket).toEqual({largestPass: 1907, smallestFail: 1918})
  })
})

describe('the rate search', () => {
  it('brackets the highest clean rate to 2 % of the largest pass and confirms it', () => {
    // 2050 passes, 2087 fails: 37/s apart, within 2 % of 2050 (41/s).
    const {trials, bracket, confirmed} = search({dimension: 'rate', start: 100, max: 100_000}, (rate) => ({pass: rate <= 2050, admittedAtOnce: null}))
    expect(trials.map((trial) => trial.size)).toEqual([100, 400, 1600, 6400, 4000, 2800, 2200, 1900, 2050, 2125, 2087, 2050])
    expect(bracket).toEqual({largestPass: 2050, smallestFail: 2087})
    expect(confirmed).toBe(true)
  })
})

describe('bracketOf', () => {
  it('counts a pass only below the smallest failure', () => {
    const trial = (size: number, pass: boolean): TrialRecord => ({size, pass, admittedAtOnce: null, confirming: false})
    expect(bracketOf([trial(8, true), trial(32, false), trial(40, true), trial(20, true)])).toEqual({largestPass: 20, smallestFail: 32})
    expect(bracketOf([trial(8, true)])).toEqual({largestPass: 8, smallestFail: null})
    expect(bracketOf([trial(8, false)])).toEqual({largestPass: null, smallestFail: 8})
  })
})

describe('judgeTrial: what one trial says', () => {
  it('passes a burst that got in whole on its first SYN, and counts it as admitted at once', () => {
    const result = syntheticResult({plan: {burst: '9'}, connects: [onStep(0, 9)]})
    expect(judgeTrial(result, {kind: 'ndr'})).toEqual({pass: true, admittedAtOnce: 9})
  })

  it('fails a burst with connects on a retransmit step, and says how many the queue admitted at once', () => {
    expect(judgeTrial(burstOf200AgainstBacklog8(), {kind: 'ndr'})).toEqual({pass: false, admittedAtOnce: 9, retransmitted: 191, why: '191 on a retransmit step'})
  })

  it('fails a trial whose connects timed out: their SYNs were all dropped', () => {
    const result = syntheticResult({plan: {burst: '12', timeout: '2.5s'}, connects: [onStep(0, 2)], failures: {timeout: 10}})
    expect(judgeTrial(result, {kind: 'ndr'})).toEqual({pass: false, admittedAtOnce: 2, retransmitted: 10, why: '10 timed out'})
  })

  it('stops the search on a failure that is not SYN loss, naming it', () => {
    const result = syntheticResult({plan: {burst: '25'}, failures: {refused: 25}})
    expect(judgeTrial(result, {kind: 'ndr'})).toEqual({stop: '25 refused: not SYN loss, so no trial size would bisect it'})
  })

  it('stops the search when no connect can be put on a ladder step (the SYN settings unreadable)', () => {
    const result = syntheticResult({plan: {burst: '5'}, connects: [onStep(0, 5)], noKernel: true})
    expect(judgeTrial(result, {kind: 'ndr'})).toEqual({stop: "the kernel's SYN retransmit settings could not be read, so no connect can be put on a ladder step"})
  })

  it('with --pdr, passes on the thresholds alone: a retransmit within p99<1.5s is allowed', () => {
    const result = burstOf200AgainstBacklog8()
    const held = {...result, thresholds: [{expr: 'p99<1.5s', held: true, value: 1_030_000, unit: 'us' as const, display: '1.03 s'}]}
    expect(judgeTrial(held, {kind: 'pdr'})).toEqual({pass: true, admittedAtOnce: 9})
    const failed = {...result, thresholds: [{expr: 'p99<1s', held: false, value: 2_050_000, unit: 'us' as const, display: 'p99 = 2.05 s'}]}
    expect(judgeTrial(failed, {kind: 'pdr'})).toEqual({pass: false, admittedAtOnce: 9, retransmitted: 191, why: 'p99<1s (p99 = 2.05 s)'})
  })

  it('stops on an interrupted trial', () => {
    const result = {...syntheticResult({plan: {burst: '5'}, connects: [onStep(0, 5)]}), stopReason: 'interrupted' as const}
    expect(judgeTrial(result, {kind: 'ndr'})).toEqual({stop: 'interrupted'})
  })
})

describe('sizeFromSearch: the answer against a stated peak', () => {
  it('a burst peak above the answer needs a queue of the peak + 25 %, rounded up to 2^n − 1 as the advice does', () => {
    expect(sizeFromSearch('burst', 65, 2000)).toEqual({
      expected: 2000,
      absorbs: 65,
      backlog: 4095,
      sentence: 'absorbs bursts up to 65; your stated peak of 2000 needs an accept queue of 2000 + 25 % headroom: backlog ≥ 4095 (and net.core.somaxconn ≥ 4095), then restart or re-listen',
    })
    // 100 × 1.25 = 125 → a queue of 128 → backlog 127
    expect(sizeFromSearch('burst', 17, 100)?.backlog).toBe(127)
  })

  it('a peak within the answer needs nothing', () => {
    expect(sizeFromSearch('burst', 65, 65)).toMatchObject({backlog: null, sentence: 'your stated peak of 65 is within what it absorbed (65): no change needed for it'})
  })

  it('a rate peak above the answer: the queue grows by the excess every second, so only faster accepts help', () => {
    expect(sizeFromSearch('rate', 1554, 2000)?.sentence).toBe(
      'your stated peak of 2000/s is 446/s above the highest clean rate (1554/s): the accept queue grows by about 446 connects for every second the peak lasts, so a larger backlog only buys time; accepts must get faster',
    )
  })

  it('says nothing when no size passed', () => {
    expect(sizeFromSearch('burst', null, 100)).toBeNull()
  })
})
