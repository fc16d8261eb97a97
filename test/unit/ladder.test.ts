import {describe, expect, it} from 'vitest'

import {MAX_RTO_MS, synLadder, synRetryBudgetMs} from '../../src/analysis/ladder.js'

const seconds = (ms: number[]): number[] => ms.map((value) => value / 1000)

describe('synLadder reproduces the ladders measured in docs/kernel.md §2', () => {
  it('defaults (linear=4, retries=6): 1,2,3,4,5,7,11,19,35,67 s, give up at the 131 s expiry (measured 1.03 … 68.45, 133.98)', () => {
    const ladder = synLadder({synRetries: 6, linearTimeouts: 4})
    expect(seconds(ladder.sendTimesMs)).toEqual([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67])
    expect(ladder.giveUpMs).toBe(131_000)
    // The measured times drift ~2.4 % late per step; nominal × 1.024 lands within 0.2 s of them.
    const measured = [1.03, 2.05, 3.07, 4.1, 5.12, 7.14, 11.36, 19.55, 35.68, 68.45]
    for (const [index, at] of measured.entries()) expect(Math.abs(ladder.sendTimesMs[index + 1]! * 1.024 / 1000 - at)).toBeLessThan(0.2)
    expect(Math.abs((ladder.giveUpMs * 1.024) / 1000 - 133.98)).toBeLessThan(0.3)
  })

  it('classic ladder (linear=0, retries=6): 1,3,7,15,31,63 s, give up at 127 s (measured 129.87)', () => {
    const ladder = synLadder({synRetries: 6, linearTimeouts: 0})
    expect(seconds(ladder.sendTimesMs)).toEqual([0, 1, 3, 7, 15, 31, 63])
    expect(ladder.giveUpMs).toBe(127_000)
  })

  it('linear=4, retries=3: 7 retransmits up to 11 s, give up at 19 s (measured 19.56), past the 15 s budget', () => {
    const ladder = synLadder({synRetries: 3, linearTimeouts: 4})
    expect(seconds(ladder.sendTimesMs)).toEqual([0, 1, 2, 3, 4, 5, 7, 11])
    expect(ladder.budgetMs).toBe(15_000)
    expect(ladder.giveUpMs).toBe(19_000)
  })

  it('linear=0, retries=3: 1,3,7 s and give up exactly at the 15 s budget (measured 15.44)', () => {
    const ladder = synLadder({synRetries: 3, linearTimeouts: 0})
    expect(seconds(ladder.sendTimesMs)).toEqual([0, 1, 3, 7])
    expect(ladder.giveUpMs).toBe(15_000)
  })

  it('refuses settings no kernel accepts', () => {
    expect(() => synLadder({synRetries: 0, linearTimeouts: 4})).toThrow(RangeError)
    expect(() => synLadder({synRetries: 6, linearTimeouts: -1})).toThrow(RangeError)
    expect(() => synLadder({synRetries: 2.5, linearTimeouts: 0})).toThrow(RangeError)
    expect(() => synLadder({synRetries: 0, linearTimeouts: 4})).toThrow('synLadder: synRetries must be an integer ≥ 1 and linearTimeouts ≥ 0 (got 0, 4)')
  })
})

describe('synLadder against the closed form, R = 1..8 × L = 0..6', () => {
  /** Gap j (1-based) between RTO expiries: L+1 gaps of 1 s, then 2, 4, 8 … s, capped at TCP_RTO_MAX. */
  const gapMs = (j: number, linear: number): number => Math.min(j <= linear + 1 ? 1000 : 1000 * 2 ** (j - linear - 1), MAX_RTO_MS)

  const cases = Array.from({length: 8}, (_, r) => Array.from({length: 7}, (_, l) => ({retries: r + 1, linear: l}))).flat()

  it.each(cases)('R=$retries L=$linear: every expiry before the budget is a retransmit; the first at or after it is the give-up', ({retries, linear}) => {
    const budget = retries <= 6 ? (2 ** (retries + 1) - 1) * 1000 : 127_000 + (retries - 6) * MAX_RTO_MS
    expect(synRetryBudgetMs(retries)).toBe(budget)
    const expiries: number[] = []
    let at = 0
    for (let j = 1; at < budget; j++) {
      at += gapMs(j, linear)
      expiries.push(at)
    }
    const ladder = synLadder({synRetries: retries, linearTimeouts: linear})
    expect(ladder.sendTimesMs).toEqual([0, ...expiries.slice(0, -1)])
    expect(ladder.giveUpMs).toBe(expiries.at(-1))
    expect(ladder.giveUpMs).toBeGreaterThanOrEqual(budget)
  })
})
