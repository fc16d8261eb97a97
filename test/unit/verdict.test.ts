import {describe, expect, it} from 'vitest'

import type {StormResult} from '../../src/results/format.js'
import {renderAttribution, renderVerdict} from '../../src/report/diagnosis-text.js'
import {burstOf200AgainstBacklog8, onStep, syntheticResult, textReport} from '../helpers/synthetic-result.js'

/** The verdict as the report prints it, for a result whose connects all finished. */
function verdict(result: StormResult): string | null {
  return renderVerdict(result, result.counts.connected + result.counts.failed)
}

/** A probe section with every outcome 0 unless given. */
function probe(outcomes: Partial<NonNullable<StormResult['probe']>['outcomes']>, timeoutMs = 3000): Pick<NonNullable<StormResult['probe']>, 'outcomes' | 'timeoutMs'> {
  return {timeoutMs, outcomes: {ok: 0, probeTimeout: 0, resetAfterConnect: 0, closedBeforeReply: 0, tlsError: 0, unexpectedReply: 0, probeError: 0, ...outcomes}}
}

describe('the verdict leads with the dominant fact', () => {
  it('connects on a retransmit step: how many waited for how many retransmits, and whether the counters agree', () => {
    expect(verdict(burstOf200AgainstBacklog8())).toBe(
      "191 of 200 connects (95.5 %) waited for 2 SYN retransmits (~2.05 s): the listener's accept queue (8+1) was full; kernel counters agree (382 = 382 TcpExtTCPSynRetrans)",
    )
  })

  it('every connect refused: nothing listens there', () => {
    const result = syntheticResult({plan: {burst: '50'}, failures: {refused: 50}, counterDeltas: {TcpExtTCPSynRetrans: 0, TcpActiveOpens: 50}})
    expect(verdict(result)).toBe('nothing listens at 127.0.0.1:8080: all 50 refused; kernel counters agree (0 = 0 TcpExtTCPSynRetrans)')
  })

  it('connects given up before the first retransmit: their only SYN went unanswered, and when the next one would have left', () => {
    // --timeout 500ms against a stalled backlog-4 listener: 5 in at once, 15 give up at 0.5 s, before the 1 s retransmit.
    const result = syntheticResult({
      plan: {burst: '20', timeout: '500ms'},
      connects: [onStep(0, 5)],
      failures: {timeout: 15},
      listener: {effectiveBacklog: 4, peakQueue: 5},
      counterDeltas: {TcpExtTCPSynRetrans: 0, TcpActiveOpens: 20},
    })
    expect(verdict(result)).toBe(
      "15 gave up at 500 ms with their only SYN unanswered (the first retransmit would have left at 1 s): the listener's accept queue (4+1) was full; kernel counters agree (0 = 0 TcpExtTCPSynRetrans)",
    )
  })

  it('connects given up after retransmits: how many went unanswered', () => {
    // --timeout 2.5s on the linear ladder: the 1 s and 2 s retransmits surely left (their windows close at 1.23 s and 2.26 s).
    const result = syntheticResult({plan: {burst: '10', timeout: '2.5s'}, connects: [onStep(0, 2)], failures: {timeout: 8}, counterDeltas: {TcpExtTCPSynRetrans: 16, TcpActiveOpens: 10}})
    expect(verdict(result)).toBe('8 gave up at 2.50 s after 2 SYN retransmits, all unanswered; kernel counters agree (16 = 16 TcpExtTCPSynRetrans)')
  })

  it.each([
    [{reset: 30}, 'all 30 were reset (ECONNRESET)'],
    [{unreachable: 30}, 'all 30 could not reach 127.0.0.1: no route (EHOSTUNREACH/ENETUNREACH)'],
    [{addrNotAvail: 30}, 'all 30 found no free local port (EADDRNOTAVAIL) and sent no SYN'],
    [{fileLimit: 30}, 'all 30 hit the open-file limit (EMFILE/ENFILE) and sent no SYN'],
    [{other: 30}, 'all 30 failed otherwise (EPROTO)'],
  ])('a run whose connects all ended %j says so first', (failures, sentence) => {
    const result = syntheticResult({plan: {burst: '30'}, failures, noKernel: false, counterDeltas: null})
    expect(verdict(result)?.startsWith(sentence)).toBe(true)
  })

  it('a failure that is not the largest group follows the delayed connects, with its share', () => {
    const result = syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 9), onStep(2, 81)], failures: {refused: 10}, counterDeltas: null})
    expect(verdict(result)).toBe(
      '81 of 100 connects (81.0 %) waited for 2 SYN retransmits (~2.05 s); 10 of 100 refused: an RST answered their SYN (nothing listening at 127.0.0.1:8080 for them); no counter verdict: kernel counters could not be read',
    )
  })

  it.each([
    [{tlsError: 50}, 'all 50 connected, but failed the TLS handshake (tlsError)'],
    [{probeTimeout: 50}, 'all 50 connected, but got no reply within 3.00 s (probeTimeout)'],
    [{resetAfterConnect: 50}, 'all 50 connected, but were reset before a reply (resetAfterConnect)'],
    [{closedBeforeReply: 50}, 'all 50 connected, but were closed by the server before a reply (closedBeforeReply)'],
    [{unexpectedReply: 50}, 'all 50 connected, but got a reply without the expected text (unexpectedReply)'],
    [{probeError: 50}, 'all 50 connected, but failed the probe otherwise (probeError)'],
  ])('every connect made, every probe failed (%j): the probe outcome leads, then the connects', (outcomes, sentence) => {
    // A real nginx over TLS with a self-signed certificate and --probe https:/ ends like the first row.
    const result = {...syntheticResult({plan: {burst: '50'}, connects: [onStep(0, 50)], counterDeltas: {TcpExtTCPSynRetrans: 0, TcpActiveOpens: 50}}), probe: probe(outcomes)}
    expect(verdict(result as StormResult)).toBe(`${sentence}; no connect needed a SYN retransmit; kernel counters agree (0 = 0 TcpExtTCPSynRetrans)`)
  })

  it('a clean run says only that no connect needed a SYN retransmit', () => {
    const result = syntheticResult({plan: {burst: '50'}, connects: [onStep(0, 50)], counterDeltas: {TcpExtTCPSynRetrans: 0, TcpActiveOpens: 50}})
    expect(verdict(result)).toBe('no connect needed a SYN retransmit; kernel counters agree (0 = 0 TcpExtTCPSynRetrans)')
  })
})

describe("the verdict with the listener's own drop count (docs/kernel.md §14)", () => {
  // 9 at once, 91 after 2 retransmits: Σ k·n = 182 SYNs dropped; the listener also dropped 82
  // handshake ACKs of SYN-cookie connects at its full queue: 264 in all (measured).
  const burst = (counterDeltas: Record<string, number> | null, drops: number) =>
    syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 9), onStep(2, 91)], listener: {effectiveBacklog: 8, peakQueue: 9, drops}, counterDeltas})

  it('in a shared namespace: the listener gives the verdict, and the excess is named as handshake ACKs', () => {
    expect(verdict(burst({TcpExtTCPSynRetrans: 604, TcpActiveOpens: 507}, 264))).toBe(
      "91 of 100 connects (91.0 %) waited for 2 SYN retransmits (~2.05 s): the listener's accept queue (8+1) was full; the listener's own drops agree (264 dropped ≥ 182 retransmitted SYNs; the other 82 were handshake ACKs at its full queue); namespace counters: counters are shared with other traffic (TcpActiveOpens +507 for 100 connects): shown without a verdict",
    )
  })

  it('fewer drops than retransmitted SYNs: the SYNs were lost before the listener', () => {
    expect(verdict(burst({TcpExtTCPSynRetrans: 604, TcpActiveOpens: 507}, 100))).toMatch(/; the listener's own drops disagree \(100 dropped < 182 retransmitted SYNs: some SYNs were lost before reaching it\)$/)
  })

  it('alone in its namespace: the counters agree exactly and the listener adds what it dropped', () => {
    expect(verdict(burst({TcpExtTCPSynRetrans: 182, TcpActiveOpens: 100}, 264))).toMatch(/; kernel counters agree \(182 = 182 TcpExtTCPSynRetrans\), and the listener dropped 264 \(182 SYNs \+ 82 handshake ACKs\)$/)
  })

  it('says the listener dropped packets on its report line', () => {
    expect(textReport(burst({TcpExtTCPSynRetrans: 182, TcpActiveOpens: 100}, 264))).toMatch(
      /^listener  effective backlog 8 \(source: ss\); peak accept queue 9\/8\+1 \(full\), from 50 samples; dropped 264 packets during the storm \(its own count; ListenDrops counts the whole namespace\)$/m,
    )
  })
})

describe('counted by the kernel per connect (TCP_INFO) or inferred from latency: the report says which', () => {
  // The isolated run of docs/kernel.md: backlog 16, stall 2.5 s, burst 100 → 17 at once, 83 counted at 3.
  const inferred = syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 17), onStep(3, 83)], counterDeltas: {TcpExtTCPSynRetrans: 249, TcpActiveOpens: 100}})
  const countedAttribution = {
    ...inferred.attribution!,
    source: 'counted' as const,
    steps: inferred.attribution!.steps.map((step) => ({...step, source: 'counted' as const})),
    disagreements: [{countedRetransmits: 2, latencyStep: 3, connects: 4, observedMedianMs: 3070}, {countedRetransmits: 1, latencyStep: null, connects: 1, observedMedianMs: 1600}],
  }
  const counted = {...inferred, attribution: countedAttribution}

  it('the ladder table says counted, and lists the connects whose latency names another step', () => {
    const lines = renderAttribution(counted)
    expect(lines[1]).toBe('  per connect: counted by the kernel (TCP_INFO)')
    expect(lines).toContain('  latency and count disagree for 5 connects (the counts are used):')
    expect(lines).toContain('    4 counted at 2 retransmits completed at ~3.07 s, in the window of step 3')
    expect(lines).toContain('    1 counted at 1 retransmit completed at ~1.60 s, between steps: slow after the SYN got through (not SYN loss)')
  })

  it('the verdict says the step was counted; an older file (no source) reads as before', () => {
    expect(verdict(counted)).toMatch(/^83 of 100 connects \(83\.0 %\) waited for 3 SYN retransmits \(~3\.07 s, counted by the kernel per connect\); /)
    expect(verdict(inferred)).toMatch(/^83 of 100 connects \(83\.0 %\) waited for 3 SYN retransmits \(~3\.07 s\); /)
    expect(renderAttribution(inferred).some((line) => line.includes('per connect'))).toBe(false)
  })

  it('a run without the addon says the steps were inferred', () => {
    const withoutAddon = {...inferred, attribution: {...inferred.attribution!, source: 'inferred' as const}}
    expect(renderAttribution(withoutAddon)[1]).toBe('  per connect: inferred from latency (the native addon did not count them)')
    expect(verdict(withoutAddon)).toMatch(/waited for 3 SYN retransmits \(~3\.07 s, inferred from latency\)/)
  })

  it('timed-out connects counted: exactly k retransmits, k + 1 SYNs sent, in the table and the verdict', () => {
    const base = syntheticResult({plan: {burst: '20', timeout: '8s'}, connects: [onStep(0, 2)], failures: {timeout: 18}, counterDeltas: {TcpExtTCPSynRetrans: 108, TcpActiveOpens: 20}})
    const result = {...base, attribution: {...base.attribution!, source: 'counted' as const, timedOut: [{atLeastRetransmits: 6, retransmits: 6, synsSent: 7, connects: 18, source: 'counted' as const}]}}
    expect(renderAttribution(result)).toContain('            6    timed out         18   exactly: 7 SYNs sent, none answered')
    expect(verdict(result)).toMatch(/^18 gave up at 8\.00 s after exactly 6 SYN retransmits \(7 SYNs sent\), all unanswered/)
  })
})
