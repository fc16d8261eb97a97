import {describe, expect, it} from 'vitest'

import {connectedThenResetCause, diagnose} from '../../src/analysis/diagnose.js'
import {listenerHostCounters} from '../../src/analysis/server-evidence.js'
import type {ServerEvidence, StormResult} from '../../src/results/format.js'
import {burstOf200AgainstBacklog8} from '../helpers/synthetic-result.js'

/**
 * The server-side counters (ListenOverflows, the SYN queue's, the cookies', EmbryonicRsts) are the
 * listener's host's: with a watch's evidence (kernel.serverEvidence) the diagnosis reads the
 * server's own, never the client's, which on another host (or the client's namespace of --isolate)
 * counts nothing of the listener's (docs/kernel.md §5).
 */

/** The server's side of the 200-connect burst: 191 × 2 dropped SYNs plus 40 dropped handshake ACKs. */
const EVIDENCE: ServerEvidence = {
  stormWindow: {fromMs: 1000, toMs: 5000},
  watchWindow: {fromMs: 0, toMs: 6000},
  used: {fromMs: 990, toMs: 5010, samples: 400, intervalMs: 10, source: 'netlink'},
  clock: 'clocks agree',
  listener: {port: 8080, peakQueue: 9, effectiveBacklog: 8, drops: 422},
  counterDeltas: {TcpExtListenOverflows: 422, TcpExtTCPReqQFullDrop: 7, TcpExtSyncookiesSent: 0, TcpExtTCPSynRetrans: 0, TcpExtEmbryonicRsts: 2},
  sysctls: {},
  sysctlsFromServer: [],
}

/** The burst as the client's namespace counted it (no listener there: no overflow), with the server's evidence joined. */
function withServer(result: StormResult, evidence: ServerEvidence = EVIDENCE): StormResult {
  const kernel = result.kernel!
  return diagnose({...result, kernel: {...kernel, counterDeltas: {...kernel.counterDeltas, TcpExtListenOverflows: 0, TcpExtTCPReqQFullDrop: 0}, serverEvidence: evidence}}, {acceptStallMs: null}).result
}

function knob(result: StormResult, name: string) {
  return result.recommendations?.find((recommendation) => recommendation.knob === name)
}

describe('server-side counters come from the listener’s host', () => {
  it('takes the server’s counters when a watch saw them, else the run’s own', () => {
    expect(listenerHostCounters({counterDeltas: {TcpExtListenOverflows: 0}, serverEvidence: EVIDENCE})).toEqual(EVIDENCE.counterDeltas)
    expect(listenerHostCounters({counterDeltas: {TcpExtListenOverflows: 5}})).toEqual({TcpExtListenOverflows: 5})
    expect(listenerHostCounters({counterDeltas: null})).toBeNull()
    expect(listenerHostCounters(undefined)).toBeNull()
  })

  it('the backlog’s evidence names the server’s TcpExtListenOverflows +422, not the client’s +0', () => {
    const evidence = knob(withServer(burstOf200AgainstBacklog8()), 'backlog')?.evidence ?? []
    expect(evidence).toContain('TcpExtListenOverflows +422')
    expect(evidence).not.toContain('TcpExtListenOverflows +0')
  })

  it('without a watch the backlog’s evidence is the run’s own counter, as before (+563)', () => {
    expect(knob(burstOf200AgainstBacklog8(), 'backlog')?.evidence).toContain('TcpExtListenOverflows +563')
  })

  it('the SYN-queue advice names the server’s TcpExtTCPReqQFullDrop +7 (cookies off)', () => {
    const result = withServer(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_syncookies': '0'}}))
    expect(knob(result, 'net.ipv4.tcp_syncookies')?.evidence).toContain('TcpExtTCPReqQFullDrop +7')
  })

  it('counts tcp_abort_on_overflow’s resets from the server’s ListenOverflows and EmbryonicRsts: 2 of 5 the kernel’s', () => {
    const kernel = {
      counterDeltas: {TcpExtListenOverflows: 0, TcpExtEmbryonicRsts: 0},
      sysctls: {'net.ipv4.tcp_abort_on_overflow': '1'},
      listener: {effectiveBacklog: 8, peakQueue: 9, samples: 400, source: 'netlink' as const},
      serverEvidence: EVIDENCE,
    }
    expect(connectedThenResetCause(5, kernel)).toEqual({connects: 5, byAbortOnOverflow: 2, byApplication: 3, listenOverflows: 422, embryonicRsts: 2})
  })
})
