import {describe, expect, it} from 'vitest'

import {recommend} from '../../src/analysis/recommend.js'
import type {StormResult} from '../../src/results/format.js'
import {onStep, syntheticResult} from '../helpers/synthetic-result.js'

/**
 * The advice at the edges of what a run can show: connects that timed out, a backlog nobody could
 * read, a saved result whose ladder is shorter than the retransmits it records. Expected sentences
 * are derived by hand; the ladder is the default one (docs/kernel.md §2: sends at 0, 1, 2, 3 … s).
 */

const NOT_APPLIED = '; it does not apply to this run: see "a bigger queue is not the fix"'

describe('connects that timed out are delayed connects', () => {
  // --timeout 3s: the SYN and the retransmits at 1 s and 2 s left before it, so "at least 2"
  const result = () => syntheticResult({plan: {rate: '100', duration: '2s', timeout: '3s'}, connects: [onStep(0, 80), onStep(1, 20)], failures: {timeout: 100}})

  it('they count towards "more than half waited": 20 on the 1-retransmit step + 100 timed out = 120 of 200 (60 %)', () => {
    expect(recommend(result()).notTheFix).toBe(
      '120 of 200 connects (60 %) waited on SYN retransmits across a steady 100/s: the application likely accepts slower than that. ' +
        'If so, a bigger backlog only turns retransmit delays into queueing delay; measure its accept rate and raise accept throughput (workers, SO_REUSEPORT, a faster accept loop)',
    )
  })

  it('their "at least 2 retransmits" is the longest wait seen: the queue was still full when retransmit 1 left, 1 s in (100/s × 1 s = 100)', () => {
    const advice = recommend(result())
    expect(advice.model).toBe(
      'model: the accept queue (backlog + 1) must hold every connect that arrives while the application is not accepting — here 100 connects/s × 1 s accept stall ' +
        '(inferred: a connect needed 2 SYN retransmits, so the queue was still full 1 s in) = 100; with 25 % headroom, rounded up to 2^n − 1 because the kernel admits backlog + 1' +
        NOT_APPLIED,
    )
    expect(advice.recommendations).toEqual([
      {knob: 'backlog', current: 'unknown', proposed: null, evidence: ['80 connects were admitted at once', '20 connects waited 1 SYN retransmit (~1.03 s)', '100 timed out after at least 2 SYN retransmits'], lines: []},
    ])
  })
})

describe('a backlog nobody could read', () => {
  it('one connect admitted at once is not claimed to be "backlog + 1" when the backlog is unknown', () => {
    const advice = recommend(syntheticResult({plan: {burst: '10'}, connects: [onStep(0, 1), onStep(2, 9)], listener: {effectiveBacklog: null, peakQueue: 1}}))
    expect(advice.recommendations[0]?.evidence).toEqual(['1 connects were admitted at once', 'peak accept queue 1/?+1', '9 connects waited 2 SYN retransmits (~2.05 s)'])
  })

  it('the lab asked for 1024 but its effective backlog is unknown: no claim that it listened while somaxconn was lower', () => {
    const advice = recommend(syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 100)], lab: {backlog: 1024, effectiveBacklog: null}, listener: null}))
    expect(advice.warnings).toEqual([])
  })
})

describe('a saved result whose ladder is shorter than the retransmits it records', () => {
  it('takes the ladder\'s last send time: 3 retransmits seen, sends known at 0 and 1 s only, so the queue was full at least 1 s in', () => {
    const measured = syntheticResult({plan: {rate: '1000', duration: '2s'}, connects: [onStep(0, 1800), onStep(3, 200)], listener: {effectiveBacklog: 255, peakQueue: 256}})
    const result: StormResult = {...measured, ladder: {...measured.ladder!, sendTimesMs: [0, 1000]}}
    expect(recommend(result).model).toContain('1000 connects/s × 1 s accept stall (inferred: a connect needed 3 SYN retransmits, so the queue was still full 1 s in) = 1000')
  })
})
