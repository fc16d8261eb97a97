import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {synLadder} from '../../src/analysis/ladder.js'
import {assertProperty} from '../helpers/property.js'

/**
 * The SYN ladder against the kernel's model, written out here in closed form rather than by the
 * loop src/analysis/ladder.ts runs (docs/kernel.md §2):
 *
 * - The initial RTO is 1 s. The first L + 1 RTO expiries are 1 s apart; after that each gap
 *   doubles (2, 4, 8 … s), never past TCP_RTO_MAX = 120 s. So, uncapped, the k-th retransmit
 *   leaves at k s for k ≤ L + 1 and at (L + 1) + (2 + 4 + … + 2^(k−L−1)) = L − 1 + 2^(k−L) s after.
 * - tcp_syn_retries R is a time budget: (2^(R+1) − 1) s while the doubling has not reached the
 *   cap (R ≤ 6, since 2^6 ≤ 120 < 2^7), then 120 s more per retry (the kernel's
 *   tcp_model_timeout). A SYN is retransmitted at every expiry before the budget; connect() gives
 *   up at the first expiry at or after it.
 *
 * R and L range far past the defaults (6 and 4) so that the cap and the long linear runs are
 * exercised too; the kernel's sysctls take values up to 127 (MAX_TCP_SYNCNT) for both.
 */

const SECOND = 1000
const RTO_CAP_S = 120

/** Seconds at which the k-th RTO expiry fires (k ≥ 1), from the closed form above, capped gaps included. */
function expirySeconds(k: number, linear: number): number {
  if (k <= linear + 1) return k
  // Doubling gaps 2^1 … 2^j stay under the cap while 2^j ≤ 120, i.e. j ≤ 6; later gaps are 120 s each.
  const doublings = k - linear - 1
  const uncapped = Math.min(doublings, 6)
  return linear + 1 + (2 ** (uncapped + 1) - 2) + (doublings - uncapped) * RTO_CAP_S
}

function budgetSeconds(retries: number): number {
  return retries <= 6 ? 2 ** (retries + 1) - 1 : 127 + (retries - 6) * RTO_CAP_S
}

const settings = fc.record({retries: fc.integer({min: 1, max: 127}), linear: fc.integer({min: 0, max: 127})})

describe('the SYN ladder, for every tcp_syn_retries R and tcp_syn_linear_timeouts L (docs/kernel.md §2)', () => {
  it('retransmits at every closed-form expiry before the budget (2^(R+1) − 1 s, +120 s per retry past 6) and gives up at the first expiry at or after it', () => {
    assertProperty(
      fc.property(settings, ({retries, linear}) => {
        const budget = budgetSeconds(retries)
        const expected: number[] = [0]
        let k = 1
        while (expirySeconds(k, linear) < budget) expected.push(expirySeconds(k++, linear))
        const ladder = synLadder({synRetries: retries, linearTimeouts: linear})
        expect(ladder.sendTimesMs).toEqual(expected.map((s) => s * SECOND))
        expect(ladder.giveUpMs).toBe(expirySeconds(k, linear) * SECOND)
        expect(ladder.budgetMs).toBe(budget * SECOND)
      }),
      {runs: 300},
    )
  })

  it('with L = 0 (kernels before 6.5) it is the classic ladder: exactly R retransmits, the k-th at 2^k − 1 s while below the cap, give-up at 2^(R+1) − 1 s for R ≤ 6', () => {
    assertProperty(
      fc.property(fc.integer({min: 1, max: 127}), (retries) => {
        const ladder = synLadder({synRetries: retries, linearTimeouts: 0})
        expect(ladder.sendTimesMs).toHaveLength(retries + 1)
        for (let k = 1; k <= Math.min(retries, 7); k++) expect(ladder.sendTimesMs[k]).toBe((2 ** k - 1) * SECOND)
        if (retries <= 6) expect(ladder.giveUpMs).toBe((2 ** (retries + 1) - 1) * SECOND)
      }),
      {runs: 127},
    )
  })

  it('no gap between two SYNs, nor before the give-up, exceeds TCP_RTO_MAX (120 s), and the gaps never shrink', () => {
    assertProperty(
      fc.property(settings, ({retries, linear}) => {
        const ladder = synLadder({synRetries: retries, linearTimeouts: linear})
        const times = [...ladder.sendTimesMs, ladder.giveUpMs]
        const gaps = times.slice(1).map((at, i) => at - times[i]!)
        // One expect per case, not one per gap: vitest's expect costs ~10 µs and a ladder has up to ~250 gaps.
        const wrong = gaps.filter((gap, i) => gap < SECOND || gap > RTO_CAP_S * SECOND || (i > 0 && gap < gaps[i - 1]!))
        expect(wrong).toEqual([])
      }),
      {runs: 300},
    )
  })

  it('more linear timeouts never send fewer SYNs within the same budget (docs/kernel.md §2: 10 instead of 6 for R=6)', () => {
    assertProperty(
      fc.property(settings, fc.integer({min: 1, max: 20}), ({retries, linear}, more) => {
        const fewer = synLadder({synRetries: retries, linearTimeouts: linear}).sendTimesMs.length
        const withMore = synLadder({synRetries: retries, linearTimeouts: linear + more}).sendTimesMs.length
        expect(withMore).toBeGreaterThanOrEqual(fewer)
      }),
      {runs: 200},
    )
  })
})
