import {describe, expect, it} from 'vitest'

import type {StormResult} from '../../src/results/format.js'
import {onStep, syntheticResult} from '../helpers/synthetic-result.js'

/**
 * A burst of 3000 against a stalled backlog 511: 512 in at once, the rest on the 3 s step. The
 * advised backlog (4095) is above tcp_max_syn_backlog 2048, so a larger SYN queue is proposed too;
 * whether this run backs that proposal depends on what the SYN queue showed.
 */
function burstOf3000(synQueue: Record<string, number>): StormResult {
  return syntheticResult({
    plan: {burst: '3000'},
    connects: [onStep(0, 512), onStep(3, 2488)],
    listener: {effectiveBacklog: 511, peakQueue: 512},
    counterDeltas: {TcpActiveOpens: 3000, TcpExtTCPSynRetrans: 2488 * 3, TcpExtListenOverflows: 7464, TcpExtTCPReqQFullDrop: 0, TcpExtTCPReqQFullDoCookies: 0, TcpExtSyncookiesSent: 0, ...synQueue},
  })
}

const synBacklog = (result: StormResult) => result.recommendations?.find((recommendation) => recommendation.knob === 'net.ipv4.tcp_max_syn_backlog')

describe('each proposal says whether this run backs it or only the sizing model does', () => {
  it('a larger SYN queue with no SYN dropped and no cookie sent is marked model only, with the reason', () => {
    const advice = synBacklog(burstOf3000({}))
    expect(advice).toMatchObject({current: '2048', proposed: '4096'})
    expect(advice?.modelOnly).toBe(
      'this run showed no SYN-queue pressure (no TcpExtTCPReqQFullDrop, no SYN cookies): on loopback a handshake takes one round trip of ~20 µs, so the SYN queue hardly fills; from clients a round trip r away, a burst of N holds up to N half-open requests for r, so it is sized like the advised backlog',
    )
  })

  it.each([{TcpExtTCPReqQFullDrop: 12}, {TcpExtTCPReqQFullDoCookies: 40}, {TcpExtSyncookiesSent: 40}])('the same proposal with SYN-queue pressure seen (%j) is backed by the run: no model-only note', (synQueue) => {
    const advice = synBacklog(burstOf3000(synQueue))
    expect(advice).toMatchObject({current: '2048', proposed: '4096'})
    expect(advice).not.toHaveProperty('modelOnly')
  })

  it('the backlog itself is only ever proposed from SYN loss this run saw, so it never carries the note', () => {
    const backlog = burstOf3000({}).recommendations?.find((recommendation) => recommendation.knob === 'backlog')
    expect(backlog).toMatchObject({current: '511', proposed: '4095'})
    expect(backlog).not.toHaveProperty('modelOnly')
  })
})
