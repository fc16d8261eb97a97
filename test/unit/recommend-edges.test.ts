import {describe, expect, it} from 'vitest'

import {recommend} from '../../src/analysis/recommend.js'
import type {StormResult} from '../../src/results/format.js'
import {burstOf200AgainstBacklog8, onStep, syntheticResult} from '../helpers/synthetic-result.js'

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

describe('what was not seen is not quoted', () => {
  it('no connect got in at once (all 100 on the 1-retransmit step): no "admitted at once" sentence', () => {
    const advice = recommend(syntheticResult({plan: {burst: '100'}, connects: [onStep(1, 100)], listener: {effectiveBacklog: 8, peakQueue: 9}}))
    expect(advice.recommendations[0]?.evidence).toEqual(['peak accept queue 9/8+1 (full)', '100 connects waited 1 SYN retransmit (~1.03 s)'])
  })

  it('no queue sample (no listener seen, the lab\'s backlog known): no "peak accept queue" sentence', () => {
    const advice = recommend(syntheticResult({plan: {burst: '200'}, connects: [onStep(0, 9), onStep(2, 191)], lab: {backlog: 8, effectiveBacklog: 8}, listener: null}))
    expect(advice.recommendations[0]?.evidence).toEqual([
      '9 connects were admitted at once (= backlog 8 + 1 when the application is not accepting)',
      '191 connects waited 2 SYN retransmits (~2.05 s)',
    ])
  })

  it('counters unreadable: no counter is quoted, by the backlog, tcp_max_syn_backlog or syncookies advice', () => {
    const advice = recommend(burstOf200AgainstBacklog8({counterDeltas: null, sysctls: {'net.ipv4.tcp_syncookies': '0', 'net.ipv4.tcp_max_syn_backlog': '128'}}))
    expect(advice.recommendations.map(({knob, evidence}) => ({knob, evidence}))).toEqual([
      {
        knob: 'backlog',
        evidence: ['9 connects were admitted at once (= backlog 8 + 1 when the application is not accepting)', 'peak accept queue 9/8+1 (full)', '191 connects waited 2 SYN retransmits (~2.05 s)'],
      },
      {knob: 'net.core.somaxconn', evidence: ['4096 ≥ backlog 255: it does not cap it']},
      {knob: 'net.ipv4.tcp_max_syn_backlog', evidence: ['half-open connections are limited to 128 per listener', 'with syncookies off, SYNs past the limit are dropped']},
      {
        knob: 'net.ipv4.tcp_syncookies',
        evidence: [
          'syncookies are off: when a burst of SYNs exceeds the request queue (backlog + 1 here), the excess is dropped and waits on the SYN ladder (docs/kernel.md §4)',
          'with 1, the excess connects complete at once and any wait moves to the first byte (measure it with a first-byte probe)',
        ],
      },
    ])
  })

  it('with the backlog unknown, a queue peak is no proof that it overflowed: nothing delayed, nothing proposed', () => {
    const advice = recommend(syntheticResult({plan: {burst: '9'}, connects: [onStep(0, 9)], listener: {effectiveBacklog: null, peakQueue: 9}}))
    expect(advice.proposedBacklog).toBeNull()
    expect(advice.recommendations).toEqual([
      {knob: 'backlog', current: 'unknown', proposed: null, evidence: ['no connect waited for a SYN retransmit and the queue never filled', '9 connects were admitted at once', 'peak accept queue 9/?+1'], lines: []},
    ])
  })

  it('with no backlog to make room for, nothing is said about tcp_max_syn_backlog, even at 0', () => {
    const advice = recommend(syntheticResult({plan: {burst: '9'}, connects: [onStep(0, 9)], sysctls: {'net.ipv4.tcp_max_syn_backlog': '0'}}))
    expect(advice.recommendations.map(({knob}) => knob)).toEqual(['backlog'])
  })
})

describe('facts read but unusable leave the advice unverified', () => {
  it('a somaxconn that is not a number is treated as unread: asked as "≥ 255", and the advice is unverified', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.core.somaxconn': 'n/a'}}))
    expect(advice.warnings).toEqual([])
    expect(advice.unverified).toBe(true)
    expect(advice.recommendations[1]).toMatchObject({knob: 'net.core.somaxconn', current: 'unknown', proposed: '≥ 255'})
    expect(advice.proposedSomaxconn).toBe(255)
  })

  it('tcp_syn_retries 0 gives no SYN ladder, so no connect is attributed: unverified though every sysctl was read', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_syn_retries': '0'}}))
    expect(advice.warnings).toEqual([])
    expect(advice.unverified).toBe(true)
  })
})

describe('the evidence for connects that gave up', () => {
  // A listen(5) that never accepts, burst 20, --timeout 8s: 6 in, 14 give up after the 7 s SYN.
  const gaveUp = () => syntheticResult({plan: {burst: '20', timeout: '8s'}, connects: [onStep(0, 6)], failures: {timeout: 14}, listener: {effectiveBacklog: 5, peakQueue: 6}})
  const evidence = (result: ReturnType<typeof gaveUp>) => recommend(result).recommendations.find((recommendation) => recommendation.knob === 'backlog')!.evidence

  it('says "exactly" when the kernel counted each one\'s retransmits (TCP_INFO)', () => {
    const result = gaveUp()
    result.attribution!.timedOut = [{atLeastRetransmits: 6, retransmits: 6, synsSent: 7, connects: 14, source: 'counted'}]
    expect(evidence(result)).toContain('14 timed out after exactly 6 SYN retransmits')
  })

  it('says "at least" when the count was inferred from where the timeout fell on the ladder', () => {
    const result = gaveUp()
    result.attribution!.timedOut = [{atLeastRetransmits: 6, connects: 14}]
    expect(evidence(result)).toContain('14 timed out after at least 6 SYN retransmits')
  })
})
