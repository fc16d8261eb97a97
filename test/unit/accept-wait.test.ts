import {describe, expect, it} from 'vitest'

import {type AfterConnectFacts, explainAfterConnect} from '../../src/analysis/accept-wait.js'

const quiet: AfterConnectFacts = {
  admittedNotAccepted: 0,
  resetAfterConnect: 0,
  handshakeResets: 0,
  probeTimeouts: 0,
  counters: {listenOverflows: 0, syncookiesRecv: 0, reqQFullDoCookies: 0},
  abortOnOverflow: '0',
}

describe('which mechanism explains the waits and resets after connect', () => {
  it('says nothing when every probe was answered promptly', () => {
    expect(explainAfterConnect(quiet)).toEqual({mechanisms: [], sentence: null})
  })

  it('names ACKs dropped at a full accept queue when the overflow counters moved', () => {
    const verdict = explainAfterConnect({...quiet, admittedNotAccepted: 14, counters: {listenOverflows: 66, syncookiesRecv: 14, reqQFullDoCookies: 8}})
    expect(verdict.mechanisms).toEqual(['ackDropped'])
    expect(verdict.sentence).toMatch(/^14 connected but were answered ≥ 200 ms later: admitted but not accepted — handshake ACKs dropped/)
  })

  it('names a slow application when the waits come without any overflow', () => {
    const verdict = explainAfterConnect({...quiet, admittedNotAccepted: 3})
    expect(verdict.mechanisms).toEqual(['slowApplication'])
  })

  it('cannot tell the two apart when the listener is not visible (remote target)', () => {
    expect(explainAfterConnect({...quiet, admittedNotAccepted: 3, counters: null}).mechanisms).toEqual(['acceptWaitUnattributed'])
  })

  it('names abort_on_overflow for resets when it is on, and a plain reset when it is off', () => {
    expect(explainAfterConnect({...quiet, resetAfterConnect: 2, abortOnOverflow: '1'}).sentence).toMatch(/2 were reset \(2 right after a successful connect\): tcp_abort_on_overflow=1/)
    expect(explainAfterConnect({...quiet, resetAfterConnect: 2}).mechanisms).toEqual(['resetAfterConnect'])
    expect(explainAfterConnect({...quiet, handshakeResets: 3, resetAfterConnect: 1, abortOnOverflow: '1'}).sentence).toMatch(/4 were reset \(3 during the handshake and 1 right after a successful connect\)/)
  })

  it('with abort_on_overflow, overflows that are all accounted for by resets do not make the waiting connects "dropped ACKs"', () => {
    const verdict = explainAfterConnect({...quiet, admittedNotAccepted: 6, resetAfterConnect: 2, abortOnOverflow: '1', counters: {listenOverflows: 2, syncookiesRecv: 0, reqQFullDoCookies: 0}})
    expect(verdict.mechanisms).toEqual(['slowApplication', 'abortOnOverflow'])
    expect(verdict.sentence).toMatch(/waited in the accept queue for a slow or stalled application \(the TcpExtListenOverflows \+2 are the resets below/)
  })

  it('with abort_on_overflow, cookie ACKs are still dropped silently (docs/kernel.md §9): dropped ACKs stay the explanation', () => {
    const verdict = explainAfterConnect({...quiet, admittedNotAccepted: 20, resetAfterConnect: 1, abortOnOverflow: '1', counters: {listenOverflows: 187, syncookiesRecv: 171, reqQFullDoCookies: 27}})
    expect(verdict.mechanisms).toEqual(['ackDropped', 'abortOnOverflow'])
  })

  it('writes each verdict as one sentence, parts joined by "; "', () => {
    expect(explainAfterConnect({...quiet, admittedNotAccepted: 3, probeTimeouts: 2, handshakeResets: 1}).sentence).toBe(
      '3 connected but were answered ≥ 200 ms later, 2 never answered: a slow application (no accept-queue overflow in the counters); ' +
        '1 were reset (1 during the handshake): the server reset them, or their half-open request expired',
    )
    expect(explainAfterConnect({...quiet, admittedNotAccepted: 3, counters: null}).sentence).toBe(
      "3 connected but were answered ≥ 200 ms later (accept-queue wait or a slow application: the listener's counters are not visible from here)",
    )
    expect(explainAfterConnect({...quiet, admittedNotAccepted: 14, counters: {listenOverflows: 66, syncookiesRecv: 14, reqQFullDoCookies: 8}}).sentence).toBe(
      '14 connected but were answered ≥ 200 ms later: admitted but not accepted — handshake ACKs dropped at a full accept queue ' +
        '(TcpExtListenOverflows +66, TcpExtSyncookiesRecv +14, TcpExtTCPReqQFullDoCookies +8 agree)',
    )
    expect(explainAfterConnect({...quiet, admittedNotAccepted: 6, resetAfterConnect: 2, abortOnOverflow: '1', counters: {listenOverflows: 2, syncookiesRecv: 0, reqQFullDoCookies: 0}}).sentence).toBe(
      '6 connected but were answered ≥ 200 ms later: they waited in the accept queue for a slow or stalled application ' +
        '(the TcpExtListenOverflows +2 are the resets below, not dropped ACKs); ' +
        '2 were reset (2 right after a successful connect): tcp_abort_on_overflow=1 answers a handshake ACK that finds the accept queue full with RST instead of letting the client retry',
    )
  })

  it('counts probes never answered as waits even when every answered one came in time', () => {
    const verdict = explainAfterConnect({...quiet, probeTimeouts: 4})
    expect(verdict.mechanisms).toEqual(['slowApplication'])
    expect(verdict.sentence).toMatch(/^0 connected but were answered ≥ 200 ms later, 4 never answered: /)
  })

  it('blames dropped ACKs for SYN-cookie ACKs alone (no overflow counted)', () => {
    expect(explainAfterConnect({...quiet, admittedNotAccepted: 2, counters: {listenOverflows: 0, syncookiesRecv: 5, reqQFullDoCookies: 0}}).mechanisms).toEqual(['ackDropped'])
  })

  it('with abort_on_overflow, one overflow more than the resets is a dropped ACK; handshake resets count as resets', () => {
    const facts = {...quiet, admittedNotAccepted: 6, resetAfterConnect: 1, handshakeResets: 1, abortOnOverflow: '1'}
    expect(explainAfterConnect({...facts, counters: {listenOverflows: 2, syncookiesRecv: 0, reqQFullDoCookies: 0}}).mechanisms).toEqual(['slowApplication', 'abortOnOverflow'])
    expect(explainAfterConnect({...facts, counters: {listenOverflows: 3, syncookiesRecv: 0, reqQFullDoCookies: 0}}).mechanisms).toEqual(['ackDropped', 'abortOnOverflow'])
  })

  it('without abort_on_overflow, overflows equal to the resets are still dropped ACKs', () => {
    const verdict = explainAfterConnect({...quiet, admittedNotAccepted: 6, resetAfterConnect: 2, counters: {listenOverflows: 2, syncookiesRecv: 0, reqQFullDoCookies: 0}})
    expect(verdict.mechanisms).toEqual(['ackDropped', 'resetAfterConnect'])
  })

  it('with abort_on_overflow, any SYN-cookie ACK makes the waits dropped ACKs even when the resets account for every overflow', () => {
    const verdict = explainAfterConnect({...quiet, admittedNotAccepted: 5, resetAfterConnect: 3, abortOnOverflow: '1', counters: {listenOverflows: 2, syncookiesRecv: 1, reqQFullDoCookies: 0}})
    expect(verdict.mechanisms).toEqual(['ackDropped', 'abortOnOverflow'])
  })
})
