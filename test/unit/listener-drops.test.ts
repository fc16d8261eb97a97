import {describe, expect, it} from 'vitest'

import {type ConnectCounts, corroborate} from '../../src/analysis/diagnosis.js'
import {parseSsListenerDrops} from '../../src/kernel/listeners.js'
import type {Attribution, KernelObservation} from '../../src/results/format.js'

// The numbers are one measured storm (docs/kernel.md §14): lab backlog 8, accepts stalled 2.5 s,
// burst 100 in a namespace of its own. 9 connects at once, 91 after 3 SYN retransmits each:
// Σ k·n = 273 = TcpExtTCPSynRetrans. The listener's own drops were 355 = 273 dropped SYNs + 82
// cookie ACKs that met the full accept queue (SyncookiesRecv +82).

/** An attribution that expects `expected` retransmitted SYNs (only the fields corroborate reads matter). */
function attribution(expected: number): Attribution {
  return {steps: [], timedOut: [], failedSteps: [], betweenSteps: {connects: 0, share: 0, observedMedianMs: null}, expectedSynRetrans: expected, expectedIsLowerBound: false, rttAllowanceMs: 0.3}
}

function kernel(counterDeltas: Record<string, number> | null, drops: number | null | undefined): KernelObservation {
  const listener = {effectiveBacklog: 8, peakQueue: 9, samples: 78, source: 'netlink' as const}
  return {netns: 'shared', sysctls: {}, counterDeltas, listener: drops === undefined ? listener : {...listener, drops}}
}

const COUNTS: ConnectCounts = {attempted: 100, pending: 0, withoutSyn: 0}
// Another storm of 100 connects ran in the same namespace: the namespace counters add up both.
const SHARED = {TcpExtTCPSynRetrans: 546, TcpActiveOpens: 200}
const SHARED_REASON = 'counters are shared with other traffic (TcpActiveOpens +200 for 100 connects): shown without a verdict'

describe('corroborate from the listener’s own drops', () => {
  it('agrees on a shared namespace when the listener dropped at least Σ k·n (355 ≥ 273), the rest being handshake ACKs', () => {
    expect(corroborate(attribution(273), kernel(SHARED, 355), COUNTS)).toEqual({
      corroborated: true,
      expected: 273,
      observed: 546,
      reason:
        "the listener's own drops agree: 355 ≥ 273 retransmitted SYNs, one drop each; the other 82 are handshake ACKs that met its full accept queue (and segments its request socks refused)",
      listenerDrops: 355,
      countersReason: SHARED_REASON,
    })
  })

  it('agrees exactly when every drop was a SYN (273 = 273)', () => {
    expect(corroborate(attribution(273), kernel(SHARED, 273), COUNTS).reason).toBe("the listener's own drops agree: 273 = 273 retransmitted SYNs, one drop each")
  })

  it('disagrees when the listener dropped fewer packets than SYNs were retransmitted (272 < 273)', () => {
    expect(corroborate(attribution(273), kernel(SHARED, 272), COUNTS)).toMatchObject({
      corroborated: false,
      reason: 'the listener dropped 272 packets, fewer than the 273 retransmitted SYNs: some SYNs were lost before they reached it',
      listenerDrops: 272,
    })
  })

  it('gives a verdict from the listener when the namespace counters could not be read at all', () => {
    expect(corroborate(attribution(273), kernel(null, 355), COUNTS)).toMatchObject({corroborated: true, observed: null, listenerDrops: 355, countersReason: 'kernel counters could not be read'})
  })

  it('keeps the exact counter verdict when the counters are the storm’s alone, and needs the listener to agree too', () => {
    const alone = {TcpExtTCPSynRetrans: 273, TcpActiveOpens: 100}
    expect(corroborate(attribution(273), kernel(alone, 355), COUNTS)).toEqual({corroborated: true, expected: 273, observed: 273, reason: 'kernel counters agree', listenerDrops: 355})
    expect(corroborate(attribution(273), kernel(alone, 200), COUNTS)).toMatchObject({corroborated: false, reason: 'the listener dropped 200 packets, fewer than the 273 retransmitted SYNs: some SYNs were lost before they reached it'})
    expect(corroborate(attribution(273), kernel({TcpExtTCPSynRetrans: 274, TcpActiveOpens: 100}, 355), COUNTS)).toMatchObject({corroborated: false, reason: 'kernel counters disagree'})
  })

  it('behaves as before when the listener’s drops are unknown (null) or absent (an older result)', () => {
    expect(corroborate(attribution(273), kernel(SHARED, null), COUNTS)).toEqual({corroborated: null, expected: 273, observed: 546, reason: SHARED_REASON})
    expect(corroborate(attribution(273), kernel(SHARED, undefined), COUNTS)).toEqual({corroborated: null, expected: 273, observed: 546, reason: SHARED_REASON})
  })
})

describe('parseSsListenerDrops', () => {
  it('reads d<N> of the skmem line that follows each LISTEN row of ss -ltnmH', () => {
    const text = [
      'LISTEN 0      8      127.0.0.1:40001 0.0.0.0:*',
      '\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d355)',
      'LISTEN 0      4096           *:8080       *:*',
      '\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)',
      'LISTEN 3      5      0.0.0.0:9000 0.0.0.0:* skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d7)',
      'LISTEN 0      5      0.0.0.0:9001 0.0.0.0:*',
      '',
    ].join('\n')
    expect(parseSsListenerDrops(text)).toEqual([
      {host: '127.0.0.1', port: 40_001, family: 4, recvQ: 0, sendQ: 8, drops: 355},
      {host: '*', port: 8080, family: 6, recvQ: 0, sendQ: 4096, drops: 0},
      {host: '0.0.0.0', port: 9000, family: 4, recvQ: 3, sendQ: 5, drops: 7},
      {host: '0.0.0.0', port: 9001, family: 4, recvQ: 0, sendQ: 5, drops: null},
    ])
  })

  it('gives null drops when ss prints skmem without a d field (an old ss)', () => {
    expect(parseSsListenerDrops('LISTEN 0 8 127.0.0.1:40001 0.0.0.0:*\n\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0)\n')).toEqual([
      {host: '127.0.0.1', port: 40_001, family: 4, recvQ: 0, sendQ: 8, drops: null},
    ])
  })
})
