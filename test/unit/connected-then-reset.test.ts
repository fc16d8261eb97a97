import {describe, expect, it} from 'vitest'

import {connectedThenResetCause} from '../../src/analysis/diagnose.js'
import type {StormResult} from '../../src/results/format.js'
import {connectedThenReset} from '../../src/results/outcome.js'
import {StormRecorder} from '../../src/results/recorder.js'
import {renderKernel, renderVerdict} from '../../src/report/diagnosis-text.js'
import {encodeHistogram, newLatencyHistogram} from '../../src/results/histogram.js'
import {onStep, syntheticResult} from '../helpers/synthetic-result.js'

/**
 * Connects that end in ECONNRESET had completed their handshake (docs/kernel.md §10): they are
 * connected, then reset, and the verdict says who reset them — the application that accepted
 * them, or tcp_abort_on_overflow answering their handshake ACK at a full accept queue (§9).
 */

/** A burst of `connects` on loopback, all in at once, `reset` of them reset before the client saw them connect. */
function resetRun(connects: number, reset: number, kernel: {deltas?: Record<string, number> | null; abortOnOverflow?: '0' | '1'; listener?: boolean} = {}): StormResult {
  const result = syntheticResult({
    plan: {burst: String(connects)},
    connects: [onStep(0, connects)],
    sysctls: {'net.ipv4.tcp_abort_on_overflow': kernel.abortOnOverflow ?? '0'},
    counterDeltas: kernel.deltas === undefined ? {TcpExtTCPSynRetrans: 0, TcpExtListenOverflows: 0, TcpExtEmbryonicRsts: 0, TcpActiveOpens: connects} : kernel.deltas,
    listener: kernel.listener === false ? null : {effectiveBacklog: 4096, peakQueue: 12},
  })
  // What the engine records for them: connected, and counted as connected, then reset.
  result.counts.connectedThenReset = reset
  return result
}

function verdict(result: StormResult): string | null {
  return renderVerdict(result, result.counts.connected + result.counts.failed)
}

describe('a connect that ends in ECONNRESET connected, then was reset', () => {
  it('only ECONNRESET means the handshake completed: ECONNREFUSED (an RST answering the SYN) and EPIPE do not', () => {
    expect(connectedThenReset('ECONNRESET')).toBe(true)
    expect(connectedThenReset('ECONNREFUSED')).toBe(false)
    expect(connectedThenReset('EPIPE')).toBe(false)
    expect(connectedThenReset(undefined)).toBe(false)
  })

  it('is recorded as a connected connect, latency and all, and counted as connected, then reset', () => {
    const recorder = new StormRecorder()
    recorder.recordConnectedThenReset(900, 800)
    recorder.recordConnected(1000, 1000)
    expect(recorder.byOutcome.connected).toBe(2)
    expect(recorder.byOutcome.reset).toBe(0)
    expect(recorder.connectedThenReset).toBe(1)
    expect(recorder.fromActual.totalCount).toBe(2)
    expect(recorder.fromIntended.totalCount).toBe(2)
    expect(recorder.failedFromActual.totalCount).toBe(0)
  })

  it('is summed across --workers like every other count', () => {
    const worker = new StormRecorder()
    worker.recordConnectedThenReset(900, 800)
    worker.recordConnectedThenReset(900, 800)
    const total = new StormRecorder()
    total.recordConnectedThenReset(900, 800)
    total.add(worker.snapshot())
    expect(total.connectedThenReset).toBe(3)
    expect(total.byOutcome.connected).toBe(3)
  })
})

describe('who reset them, as the listener\'s counters tell', () => {
  it('no accept-queue overflow: the application accepted and reset them', () => {
    expect(connectedThenResetCause(276, {counterDeltas: {TcpExtListenOverflows: 0, TcpExtEmbryonicRsts: 0}, sysctls: {'net.ipv4.tcp_abort_on_overflow': '0'}, listener: {effectiveBacklog: 4096, peakQueue: 12, samples: 50, source: 'ss'}})).toEqual({
      connects: 276,
      byAbortOnOverflow: 0,
      byApplication: 276,
      listenOverflows: 0,
      embryonicRsts: 0,
    })
  })

  it('overflows with tcp_abort_on_overflow=1: as many as the kernel reset (EmbryonicRsts, at most the overflows) are its; the rest the application\'s', () => {
    // ListenOverflows also counts SYNs dropped at the full queue, so it is only an upper bound.
    const listener = {effectiveBacklog: 8, peakQueue: 9, samples: 50, source: 'ss' as const}
    expect(connectedThenResetCause(18, {counterDeltas: {TcpExtListenOverflows: 518, TcpExtEmbryonicRsts: 1}, sysctls: {'net.ipv4.tcp_abort_on_overflow': '1'}, listener})).toMatchObject({byAbortOnOverflow: 1, byApplication: 17})
    expect(connectedThenResetCause(5, {counterDeltas: {TcpExtListenOverflows: 201, TcpExtEmbryonicRsts: 5}, sysctls: {'net.ipv4.tcp_abort_on_overflow': '1'}, listener})).toMatchObject({byAbortOnOverflow: 5, byApplication: 0})
    // The same overflows with the sysctl off reset nothing: they were dropped packets.
    expect(connectedThenResetCause(5, {counterDeltas: {TcpExtListenOverflows: 201, TcpExtEmbryonicRsts: 5}, sysctls: {'net.ipv4.tcp_abort_on_overflow': '0'}, listener})).toMatchObject({byAbortOnOverflow: 0, byApplication: 5})
  })

  it('a listener not in our namespace: who reset them is not told', () => {
    expect(connectedThenResetCause(7, {counterDeltas: {TcpExtListenOverflows: 0}, sysctls: {}, listener: null})).toEqual({connects: 7, byAbortOnOverflow: 0, byApplication: 0, listenOverflows: null, embryonicRsts: null})
  })
})

describe('the verdict names who reset the connects that connected, then were reset', () => {
  it('all of them, reset by the application (no overflow): said first, then that none needed a retransmit', () => {
    expect(verdict(resetRun(300, 300))).toBe(
      'all 300 connected, then were reset: the application accepted and reset them (no accept-queue overflow: TcpExtListenOverflows +0); no connect needed a SYN retransmit; kernel counters agree (0 = 0 TcpExtTCPSynRetrans)',
    )
  })

  it('some of them: with their share of every connect', () => {
    expect(verdict(resetRun(3000, 2759))).toBe(
      '2759 of 3000 connected, then were reset: the application accepted and reset them (no accept-queue overflow: TcpExtListenOverflows +0); no connect needed a SYN retransmit; kernel counters agree (0 = 0 TcpExtTCPSynRetrans)',
    )
  })

  it('tcp_abort_on_overflow=1 and the RSTs it sent at a full queue: it is named instead of the application', () => {
    const result = resetRun(300, 5, {abortOnOverflow: '1', deltas: {TcpExtTCPSynRetrans: 0, TcpExtListenOverflows: 201, TcpExtEmbryonicRsts: 5, TcpActiveOpens: 300}})
    expect(verdict(result)).toBe(
      '5 of 300 connected, then were reset: tcp_abort_on_overflow=1 answered their handshake ACK at the full accept queue with RST (TcpExtListenOverflows +201, TcpExtEmbryonicRsts +5); no connect needed a SYN retransmit; kernel counters agree (0 = 0 TcpExtTCPSynRetrans)',
    )
  })

  it('both at once: the kernel\'s share and the application\'s', () => {
    const result = resetRun(300, 18, {abortOnOverflow: '1', deltas: {TcpExtTCPSynRetrans: 0, TcpExtListenOverflows: 518, TcpExtEmbryonicRsts: 1, TcpActiveOpens: 300}})
    expect(verdict(result)).toContain(
      '18 of 300 connected, then were reset: tcp_abort_on_overflow=1 answered 1 handshake ACKs at the full accept queue with RST (TcpExtListenOverflows +518, TcpExtEmbryonicRsts +1); the application accepted and reset the other 17',
    )
  })

  it('overflows without tcp_abort_on_overflow reset nothing: still the application', () => {
    const result = resetRun(300, 40, {deltas: {TcpExtTCPSynRetrans: 0, TcpExtListenOverflows: 12, TcpExtEmbryonicRsts: 0, TcpActiveOpens: 300}})
    expect(verdict(result)).toContain('40 of 300 connected, then were reset: the application accepted and reset them (the accept-queue overflows reset none: TcpExtEmbryonicRsts +0; TcpExtListenOverflows +12 were dropped packets)')
  })

  it('a listener elsewhere: both causes named, neither chosen', () => {
    const result = resetRun(300, 300, {listener: false})
    expect(verdict(result)?.startsWith(
      "all 300 connected, then were reset: the server's application accepted and reset them, or its accept queue was full with tcp_abort_on_overflow=1 (the listener's counters are not visible from here)",
    )).toBe(true)
  })

  it('an older file, which counted them as reset, reads as before', () => {
    const result = syntheticResult({plan: {burst: '30'}, failures: {reset: 30}, counterDeltas: null})
    expect(verdict(result)?.startsWith('all 30 were reset (ECONNRESET)')).toBe(true)
  })
})

describe("the lab's own accept-queue wait beside the client's", () => {
  /** Waits of 0, 200 … 3800 ms, as the lab records them (whole ms, in µs; 0 kept as 1 µs). */
  function labWaits(): string {
    const histogram = newLatencyHistogram()
    for (let k = 0; k < 20; k++) histogram.recordValue(Math.max(1, k * 200_000))
    return encodeHistogram(histogram)
  }

  it('prints the lab\'s distribution and, with --probe, the client\'s first response less the lab\'s handler delay', () => {
    const view = {
      ladder: null,
      attribution: null,
      kernel: null,
      lab: {handlerDelayMs: 200, acceptWait: {measured: 20, histogramUs: labWaits(), synAckRetransmits: {'0': 18, '1': 2}}},
      probe: {latencyUs: {responseAfterConnect: {count: 20, min: 200_000, mean: 2_100_000, p50: 2_000_000, p90: 3_800_000, p99: 4_000_000, p999: 4_000_000, max: 4_000_000}}},
    }
    // p50 of 0…3800 ms in 200 ms steps is the 10th value, 1.80 s; p99 and max the last, 3.80 s.
    expect(renderKernel(view)).toEqual([
      'lab wait  accept-queue wait as the lab read it at accept() (TCP_INFO, ms steps): p50 1.80 s, p99 3.80 s, max 3.80 s (n=20: the connections it accepted before it was stopped); SYN-ACK retransmits per connection: 0 ×18, 1 ×2',
      "          the client's first response after connect, less the lab's 200 ms on each connection: p50 1.80 s, p99 3.80 s, max 3.80 s (n=20)",
    ])
  })

  it('says "< 1 ms" for a wait the kernel counted as 0 ms (kept as 1 µs), never "1 µs": the lab reads whole ms', () => {
    const histogram = newLatencyHistogram()
    for (let k = 0; k < 3; k++) histogram.recordValue(1)
    histogram.recordValue(1_500_000)
    const view = {ladder: null, attribution: null, kernel: null, lab: {handlerDelayMs: 0, acceptWait: {measured: 4, histogramUs: encodeHistogram(histogram), synAckRetransmits: null}}}
    expect(renderKernel(view)[0]).toBe('lab wait  accept-queue wait as the lab read it at accept() (TCP_INFO, ms steps): p50 < 1 ms, p99 1.50 s, max 1.50 s (n=4: the connections it accepted before it was stopped)')
  })

  it('nothing without the lab\'s measure (no addon, or an older file)', () => {
    expect(renderKernel({ladder: null, attribution: null, kernel: null, lab: {handlerDelayMs: 0, acceptWait: null}})).toEqual([])
    expect(renderKernel({ladder: null, attribution: null, kernel: null})).toEqual([])
  })
})
