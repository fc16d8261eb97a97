import {describe, expect, it} from 'vitest'

import {type Advice, type AdviceOptions, adviceOptionsFor, recommend} from '../../src/analysis/recommend.js'
import {findServer} from '../../src/analysis/servers.js'
import type {ProbeResult, Recommendation, StormResult} from '../../src/results/format.js'
import {ALL_SYSCTLS_UNKNOWN, burstOf200AgainstBacklog8, onStep, syntheticResult} from '../helpers/synthetic-result.js'

/**
 * The advice as the user reads it, sentence by sentence. recommend.test.ts checks situations by
 * their key numbers; here every sentence, line and flag of the advice is written out in full, so a
 * changed word, number, unit or branch shows up as a failure. Each expected sentence is derived by
 * hand from the rule stated in the test title (the kernel facts are in docs/kernel.md).
 */

const SYSCTL_FILE = '/etc/sysctl.d/90-connstorm.conf'
const KEEPS = '   # keeps it across reboots'
const GENERIC_APPLY_NOTE =
  '# the kernel takes the backlog (capped by somaxconn) at listen() time: restart the service, or make it call listen() again, after changing either'
const GENERIC_LISTEN = (backlog: number) => `listen(fd, ${backlog})   # your server's backlog setting; --server NAME prints it in that server's syntax`
const MODEL_START = 'model: the accept queue (backlog + 1) must hold every connect that arrives while the application is not accepting'
const MODEL_END = '; with 25 % headroom, rounded up to 2^n − 1 because the kernel admits backlog + 1'
const NOT_APPLIED = '; it does not apply to this run: see "a bigger queue is not the fix"'
const NO_COUNT = `${MODEL_START}; this run gives no arrival count to size it by`

/** The situation-1 counters (burstOf200AgainstBacklog8): 191 × 2 retransmits and 563 overflows. */
const S1_COUNTERS = {TcpActiveOpens: 200, TcpExtTCPSynRetrans: 382, TcpExtListenOverflows: 563}

function knob(advice: Advice, name: string): Recommendation | undefined {
  return advice.recommendations.find((recommendation) => recommendation.knob === name)
}

function knobs(advice: Advice): string[] {
  return advice.recommendations.map((recommendation) => recommendation.knob)
}

/** A probe result that saw `resetAfterConnect` resets after the handshake; the other fields are not read by the advice. */
function withProbeResets(result: StormResult, resetAfterConnect: number): StormResult {
  const probe = {outcomes: {ok: 0, probeTimeout: 0, resetAfterConnect, closedBeforeReply: 0, tlsError: 0, unexpectedReply: 0, probeError: 0}} as unknown as ProbeResult
  return {...result, probe}
}

describe('the whole advice, written out', () => {
  it('situation 1 (200-connect burst, backlog 8, somaxconn 4096): backlog 8 → 255 with four pieces of evidence, somaxconn kept, no warning', () => {
    expect(recommend(burstOf200AgainstBacklog8())).toEqual({
      model: `${MODEL_START} — here a burst of 200 connects arrives at once${MODEL_END}`,
      neededQueue: 200,
      proposedBacklog: 255,
      recommendations: [
        {
          knob: 'backlog',
          current: '8',
          proposed: '255',
          evidence: [
            '9 connects were admitted at once (= backlog 8 + 1 when the application is not accepting)',
            'peak accept queue 9/8+1 (full)',
            // the 2-retransmit step's median is 2050 ms (docs/kernel.md §2 ladder + a loopback round trip)
            '191 connects waited 2 SYN retransmits (~2.05 s)',
            'TcpExtListenOverflows +563',
          ],
          lines: [GENERIC_LISTEN(255), GENERIC_APPLY_NOTE],
        },
        {knob: 'net.core.somaxconn', current: '4096', proposed: null, evidence: ['4096 ≥ backlog 255: it does not cap it'], lines: []},
      ],
      notTheFix: null,
      warnings: [],
      unverified: false,
      proposedSomaxconn: null,
    })
  })

  it('nothing readable: one warning naming the six unread sysctls in order, somaxconn asked as "≥ 255" (set to 256), and the advice unverified', () => {
    expect(recommend(burstOf200AgainstBacklog8({sysctls: ALL_SYSCTLS_UNKNOWN, counterDeltas: {TcpExtListenOverflows: 563}}))).toEqual({
      model: `${MODEL_START} — here a burst of 200 connects arrives at once${MODEL_END}`,
      neededQueue: 200,
      proposedBacklog: 255,
      recommendations: [
        // without the ladder nothing is attributed: no "admitted at once", no step
        {knob: 'backlog', current: '8', proposed: '255', evidence: ['peak accept queue 9/8+1 (full)', 'TcpExtListenOverflows +563'], lines: [GENERIC_LISTEN(255), GENERIC_APPLY_NOTE]},
        {
          knob: 'net.core.somaxconn',
          current: 'unknown',
          proposed: '≥ 255',
          evidence: ['somaxconn could not be read; it silently caps every listen() backlog'],
          lines: ['sysctl -w net.core.somaxconn=256', `echo 'net.core.somaxconn = 256' >> ${SYSCTL_FILE}${KEEPS}`, GENERIC_APPLY_NOTE],
        },
      ],
      notTheFix: null,
      warnings: [
        'unverified: net.core.somaxconn, net.ipv4.tcp_syn_retries, net.ipv4.tcp_syn_linear_timeouts, net.ipv4.tcp_max_syn_backlog, net.ipv4.tcp_syncookies, net.ipv4.tcp_abort_on_overflow could not be read on this machine; the advice assumes Linux defaults nowhere and states only what was measured',
      ],
      unverified: true,
      // unread, somaxconn is asked as "≥ backlog": --verify applies the backlog itself
      proposedSomaxconn: 255,
    })
  })

  it('accepts at 200/s against 2000/s arrivals: the stall is inferred from the 4-retransmit connects (3 s, the 3rd retransmit), the model is sized but not applied, and nothing is proposed', () => {
    const advice = recommend(
      syntheticResult({
        plan: {rate: '2000', duration: '5s', timeout: '5s'},
        connects: [onStep(0, 700), onStep(1, 1000), onStep(2, 1000), onStep(3, 1000), onStep(4, 1000)],
        failures: {timeout: 5300},
        lab: {backlog: 511, effectiveBacklog: 511, acceptRate: 200},
        listener: {effectiveBacklog: 511, peakQueue: 512},
      }),
    )
    // 2000/s × 3 s = 6000; 6000 × 1.25 = 7500 → 8191, which fills at 1800/s in 8191 / 1800 = 4.55 s
    expect(advice).toEqual({
      model: `${MODEL_START} — here 2000 connects/s × 3 s accept stall (inferred: a connect needed 4 SYN retransmits, so the queue was still full 3 s in) = 6000${MODEL_END}${NOT_APPLIED}`,
      neededQueue: null,
      proposedBacklog: null,
      recommendations: [
        {
          knob: 'backlog',
          current: '511',
          proposed: null,
          evidence: [
            // 700 is not 511 + 1: no claim that it is the queue
            '700 connects were admitted at once',
            'peak accept queue 512/511+1 (full)',
            '1000 connects waited 1 SYN retransmit (~1.03 s)',
            '1000 connects waited 2 SYN retransmits (~2.05 s)',
            '1000 connects waited 3 SYN retransmits (~3.07 s)',
            '1000 connects waited 4 SYN retransmits (~4.10 s)',
            '5300 timed out after at least 4 SYN retransmits',
          ],
          lines: [],
        },
        {knob: 'net.core.somaxconn', current: '4096', proposed: null, evidence: ['4096 ≥ backlog 511: it does not cap it'], lines: []},
      ],
      notTheFix:
        'accepts (200/s) are slower than arrivals (2000/s) for the whole run: the queue grows by 1800 connects/s, so any backlog fills (8191 in 4.6 s) and a bigger one only turns SYN-retransmit delays into queueing delay. ' +
        'Raise accept throughput instead: more workers or processes, SO_REUSEPORT listeners, a faster accept loop (no blocking work in it)',
      warnings: [],
      unverified: false,
      proposedSomaxconn: null,
    })
  })
})

describe('"a bigger queue is not the fix"', () => {
  it('with no backlog sized, the example is 1023: accepts 500/s against 1000/s fill it in 1023 / 500 = 2.046 s, printed "2.0 s"', () => {
    const advice = recommend(
      syntheticResult({plan: {rate: '1000', duration: '2s'}, connects: [onStep(0, 2000)], lab: {acceptRate: 500}, listener: {effectiveBacklog: 511, peakQueue: 300}}),
    )
    expect(advice.notTheFix).toBe(
      'accepts (500/s) are slower than arrivals (1000/s) for the whole run: the queue grows by 500 connects/s, so any backlog fills (1023 in 2.0 s) and a bigger one only turns SYN-retransmit delays into queueing delay. ' +
        'Raise accept throughput instead: more workers or processes, SO_REUSEPORT listeners, a faster accept loop (no blocking work in it)',
    )
    expect(advice.model).toBe(`${NO_COUNT}${NOT_APPLIED}`)
  })

  it('prints non-integer rates with one decimal: accepts 12.5/s against 20/s grow the queue by 7.5/s (1023 in 136.4 s)', () => {
    const advice = recommend(syntheticResult({plan: {rate: '20', duration: '5s'}, connects: [onStep(0, 100)], lab: {acceptRate: 12.5}, listener: {effectiveBacklog: 511, peakQueue: 10}}))
    expect(advice.notTheFix).toMatch(/^accepts \(12\.5\/s\) are slower than arrivals \(20\/s\) for the whole run: the queue grows by 7\.5 connects\/s, so any backlog fills \(1023 in 136\.4 s\)/)
  })

  it('accepts exactly as fast as arrivals are not "slower": no such verdict', () => {
    const advice = recommend(syntheticResult({plan: {rate: '1000', duration: '2s'}, connects: [onStep(0, 2000)], lab: {acceptRate: 1000}, listener: {effectiveBacklog: 511, peakQueue: 300}}))
    expect(advice.notTheFix).toBeNull()
  })

  it('without a measured accept rate, a steady rate where more than half the connects waited on retransmits (150 of 200 = 75 %) says the application likely accepts slower', () => {
    const advice = recommend(syntheticResult({plan: {rate: '100', duration: '2s'}, connects: [onStep(0, 50), onStep(1, 150)], listener: {effectiveBacklog: 49, peakQueue: 50}}))
    expect(advice.notTheFix).toBe(
      '150 of 200 connects (75 %) waited on SYN retransmits across a steady 100/s: the application likely accepts slower than that. ' +
        'If so, a bigger backlog only turns retransmit delays into queueing delay; measure its accept rate and raise accept throughput (workers, SO_REUSEPORT, a faster accept loop)',
    )
    // a 1-retransmit connect says the queue was full when the first SYN left (0 s in): no stall to size by
    expect(advice.model).toBe(`${NO_COUNT}${NOT_APPLIED}`)
    expect(advice.proposedBacklog).toBeNull()
    expect(advice.neededQueue).toBeNull()
  })

  it('exactly half the connects delayed (100 of 200) is not "more than half": no verdict', () => {
    const advice = recommend(syntheticResult({plan: {rate: '100', duration: '2s'}, connects: [onStep(0, 100), onStep(1, 100)], listener: {effectiveBacklog: 99, peakQueue: 100}}))
    expect(advice.notTheFix).toBeNull()
  })

  it('waves are not a steady rate: 150 of 200 delayed in two waves of 100 is sized as a burst (100 × 1.25 → 127), not called too slow', () => {
    const advice = recommend(
      syntheticResult({plan: {burst: '100', waves: '2', interval: '1s'}, connects: [onStep(0, 50), onStep(1, 150)], listener: {effectiveBacklog: 49, peakQueue: 50}}),
    )
    expect(advice.notTheFix).toBeNull()
    expect(advice.proposedBacklog).toBe(127)
  })
})

describe('the arrival count the model sizes by', () => {
  it('waves of 10 every 4 s are 2.5 connects/s; with a 10 s stall given, 2.5 × 10 = 25 beats the burst of 10 (25 × 1.25 → 31)', () => {
    const advice = recommend(
      syntheticResult({plan: {burst: '10', waves: '2', interval: '4s'}, connects: [onStep(0, 4), onStep(1, 16)], listener: {effectiveBacklog: 3, peakQueue: 4}}),
      {acceptStallMs: 10_000},
    )
    expect(advice.model).toBe(`${MODEL_START} — here 2.5 connects/s × 10 s accept stall (given with --accept-stall) = 25${MODEL_END}`)
    expect(advice.neededQueue).toBe(25)
    expect(advice.proposedBacklog).toBe(31)
  })

  it('the lab\'s fixed stall (--stall 300 ms, no periodic stall) sizes a 1000/s rate: 1000 × 0.3 = 300 (× 1.25 → 511)', () => {
    const advice = recommend(
      syntheticResult({plan: {rate: '1000', duration: '2s'}, connects: [onStep(0, 1800), onStep(1, 200)], lab: {backlog: 255, effectiveBacklog: 255, stallMs: 300}, listener: {effectiveBacklog: 255, peakQueue: 256}}),
    )
    expect(advice.model).toBe(`${MODEL_START} — here 1000 connects/s × 0.3 s accept stall (the lab was told to stall) = 300${MODEL_END}`)
    expect(advice.proposedBacklog).toBe(511)
  })

  it('the lab\'s longer of its two stalls counts: a 200 ms fixed stall and a 600 ms periodic one size by 600', () => {
    const advice = recommend(
      syntheticResult({
        plan: {rate: '1000', duration: '2s'},
        connects: [onStep(0, 1800), onStep(1, 200)],
        lab: {backlog: 255, effectiveBacklog: 255, stallMs: 200, stallEveryMs: 1000, stallForMs: 600},
        listener: {effectiveBacklog: 255, peakQueue: 256},
      }),
    )
    expect(advice.model).toContain('1000 connects/s × 0.6 s accept stall (the lab was told to stall) = 600')
  })

  it('a stall given with --accept-stall wins over the lab\'s own', () => {
    const advice = recommend(
      syntheticResult({plan: {rate: '1000', duration: '2s'}, connects: [onStep(0, 1800), onStep(1, 200)], lab: {backlog: 255, effectiveBacklog: 255, stallMs: 300}, listener: {effectiveBacklog: 255, peakQueue: 256}}),
      {acceptStallMs: 100},
    )
    expect(advice.model).toContain('1000 connects/s × 0.1 s accept stall (given with --accept-stall) = 100')
  })

  it('a lab told not to stall gives no stall: sizing falls back to what the retransmits show (2 retransmits → full 1 s in: 1000/s × 1 s = 1000)', () => {
    const advice = recommend(
      syntheticResult({plan: {rate: '1000', duration: '2s'}, connects: [onStep(0, 1800), onStep(2, 200)], lab: {backlog: 255, effectiveBacklog: 255}, listener: {effectiveBacklog: 255, peakQueue: 256}}),
    )
    expect(advice.model).toContain('1000 connects/s × 1 s accept stall (inferred: a connect needed 2 SYN retransmits, so the queue was still full 1 s in) = 1000')
    expect(advice.proposedBacklog).toBe(2047)
  })

  it('a queue that overflowed with no connect delayed (peak 51 over backlog 50) is still trouble: a burst of 100 is sized to 127', () => {
    const advice = recommend(syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 100)], listener: {effectiveBacklog: 50, peakQueue: 51}}))
    expect(advice.proposedBacklog).toBe(127)
    expect(knob(advice, 'backlog')?.evidence).toEqual(['100 connects were admitted at once', 'peak accept queue 51/50+1 (full)'])
  })

  it('a queue that reached its backlog but not past it, with no connect delayed, is no trouble: nothing proposed', () => {
    const advice = recommend(syntheticResult({plan: {burst: '50'}, connects: [onStep(0, 50)], listener: {effectiveBacklog: 50, peakQueue: 50}}))
    expect(advice.proposedBacklog).toBeNull()
    expect(advice.neededQueue).toBeNull()
    expect(knob(advice, 'backlog')).toEqual({
      knob: 'backlog',
      current: '50',
      proposed: null,
      evidence: ['no connect waited for a SYN retransmit and the queue never filled', '50 connects were admitted at once', 'peak accept queue 50/50+1'],
      lines: [],
    })
  })

  it('an untouched storm (no kernel observation, no plan count) is unverified and sizes nothing', () => {
    const advice = recommend(syntheticResult({plan: {rate: '100', duration: '2s'}, connects: [onStep(0, 200)], noKernel: true}))
    expect(advice.model).toBe(NO_COUNT)
    expect(advice.warnings).toEqual([
      'unverified: net.core.somaxconn, net.ipv4.tcp_syn_retries, net.ipv4.tcp_syn_linear_timeouts, net.ipv4.tcp_max_syn_backlog, net.ipv4.tcp_syncookies, net.ipv4.tcp_abort_on_overflow could not be read on this machine; the advice assumes Linux defaults nowhere and states only what was measured',
    ])
  })

  it('one unread sysctl is the only one named in the warning', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_abort_on_overflow': 'unknown'}}))
    expect(advice.warnings).toEqual([
      'unverified: net.ipv4.tcp_abort_on_overflow could not be read on this machine; the advice assumes Linux defaults nowhere and states only what was measured',
    ])
    expect(advice.unverified).toBe(true)
  })
})

describe('the backlog recommendation', () => {
  it('takes the lab\'s effective backlog when no listener was seen', () => {
    const advice = recommend(syntheticResult({plan: {burst: '200'}, connects: [onStep(0, 9), onStep(2, 191)], lab: {backlog: 8, effectiveBacklog: 8}, listener: null}))
    expect(knob(advice, 'backlog')?.current).toBe('8')
    expect(knob(advice, 'backlog')?.evidence[0]).toBe('9 connects were admitted at once (= backlog 8 + 1 when the application is not accepting)')
  })

  it('with the backlog unknown it prints "?" for it and proposes without comparing', () => {
    const advice = recommend(syntheticResult({plan: {burst: '200'}, connects: [onStep(0, 9), onStep(2, 191)], listener: {effectiveBacklog: null, peakQueue: 9}}))
    expect(knob(advice, 'backlog')).toEqual({
      knob: 'backlog',
      current: 'unknown',
      proposed: '255',
      evidence: ['9 connects were admitted at once', 'peak accept queue 9/?+1', '191 connects waited 2 SYN retransmits (~2.05 s)'],
      lines: [GENERIC_LISTEN(255), GENERIC_APPLY_NOTE],
    })
  })

  it('keeps a backlog already as large as the one sized (255 needed, 255 there): proposed null, nothing to apply', () => {
    const advice = recommend(syntheticResult({plan: {burst: '200'}, connects: [onStep(0, 100), onStep(1, 100)], listener: {effectiveBacklog: 255, peakQueue: 200}}))
    expect(knob(advice, 'backlog')).toMatchObject({current: '255', proposed: null, lines: []})
  })

  it('raises a backlog one short of the one sized (254 there, 255 needed)', () => {
    const advice = recommend(syntheticResult({plan: {burst: '200'}, connects: [onStep(0, 100), onStep(1, 100)], listener: {effectiveBacklog: 254, peakQueue: 200}}))
    expect(knob(advice, 'backlog')).toMatchObject({current: '254', proposed: '255'})
  })

  it('for a server without a knob and without its own text, names the server and says to raise somaxconn', () => {
    const options: AdviceOptions = {backlogLines: () => null, serverName: 'Foo', applyNote: 'restart Foo'}
    expect(knob(recommend(burstOf200AgainstBacklog8(), options), 'backlog')?.lines).toEqual([
      '# Foo has no backlog setting of its own: raise net.core.somaxconn and restart it',
      '# restart Foo',
    ])
  })

  it('for an unnamed server without a knob, says "this server"', () => {
    expect(knob(recommend(burstOf200AgainstBacklog8(), {backlogLines: () => null}), 'backlog')?.lines).toEqual([
      '# this server has no backlog setting of its own: raise net.core.somaxconn and restart it',
      GENERIC_APPLY_NOTE,
    ])
  })
})

describe('net.core.somaxconn', () => {
  it('128 caps a 2047 backlog: raise it to 2048, with the two lines that set it now and at boot, then the apply note', () => {
    const advice = recommend(
      syntheticResult({plan: {burst: '1000'}, connects: [onStep(0, 129), onStep(1, 871)], sysctls: {'net.core.somaxconn': '128'}, listener: {effectiveBacklog: 128, peakQueue: 129}}),
    )
    expect(knob(advice, 'net.core.somaxconn')).toEqual({
      knob: 'net.core.somaxconn',
      current: '128',
      proposed: '2048',
      evidence: ['somaxconn 128 < backlog 2047: the kernel silently caps the backlog at 128'],
      lines: ['sysctl -w net.core.somaxconn=2048', `echo 'net.core.somaxconn = 2048' >> ${SYSCTL_FILE}${KEEPS}`, GENERIC_APPLY_NOTE],
    })
    expect(advice.proposedSomaxconn).toBe(2048)
    expect(knob(advice, 'backlog')?.evidence).toContain('871 connects waited 1 SYN retransmit (~1.03 s)')
  })

  it('somaxconn equal to the backlog does not cap it: kept', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.core.somaxconn': '255'}}))
    expect(knob(advice, 'net.core.somaxconn')).toEqual({knob: 'net.core.somaxconn', current: '255', proposed: null, evidence: ['255 ≥ backlog 255: it does not cap it'], lines: []})
    expect(advice.proposedSomaxconn).toBeNull()
  })

  it('one below the backlog (254 < 255) caps it: raised to 256', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.core.somaxconn': '254'}}))
    expect(knob(advice, 'net.core.somaxconn')?.proposed).toBe('256')
    expect(advice.proposedSomaxconn).toBe(256)
  })

  it('warns when the lab listener got less than both its request and today\'s somaxconn: it listened while somaxconn was lower', () => {
    const advice = recommend(
      syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 100)], lab: {backlog: 1024, effectiveBacklog: 128}, listener: {effectiveBacklog: 128, peakQueue: 100}}),
    )
    expect(advice.warnings).toEqual([
      "the listener's effective backlog is 128, below both the 1024 it asked for and today's net.core.somaxconn 4096: " +
        'it called listen() while somaxconn was lower, and a new somaxconn only applies to later listen() calls — restart the service (or make it listen() again)',
    ])
  })

  it('no such warning when the listener got what it asked for (128 of 128)', () => {
    const advice = recommend(syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 100)], lab: {backlog: 128, effectiveBacklog: 128}, listener: {effectiveBacklog: 128, peakQueue: 100}}))
    expect(advice.warnings).toEqual([])
  })

  it('no such warning when today\'s somaxconn is what capped it (128 asked 1024, somaxconn 128)', () => {
    const advice = recommend(
      syntheticResult({
        plan: {burst: '100'},
        connects: [onStep(0, 100)],
        sysctls: {'net.core.somaxconn': '128'},
        lab: {backlog: 1024, effectiveBacklog: 128},
        listener: {effectiveBacklog: 128, peakQueue: 100},
      }),
    )
    expect(advice.warnings).toEqual([])
  })

  it('no such warning when somaxconn is unread (nothing to compare with), and nothing at all to say when no backlog is known', () => {
    const advice = recommend(
      syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 100)], sysctls: {'net.core.somaxconn': 'unknown'}, lab: {backlog: 1024, effectiveBacklog: 128}, listener: {effectiveBacklog: 128, peakQueue: 100}}),
    )
    expect(advice.warnings.filter((warning) => warning.startsWith("the listener's"))).toEqual([])
    const none = recommend(syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 100)]}))
    expect(knobs(none)).toEqual(['backlog'])
    expect(none.proposedSomaxconn).toBeNull()
  })
})

describe('net.ipv4.tcp_max_syn_backlog', () => {
  it('255 half-open slots cannot take the 256 a backlog of 255 admits: raise it to 256, no restart needed', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_max_syn_backlog': '255'}, counterDeltas: {...S1_COUNTERS, TcpExtTCPReqQFullDrop: 7}}))
    expect(knobs(advice)).toEqual(['backlog', 'net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog'])
    expect(knob(advice, 'net.ipv4.tcp_max_syn_backlog')).toEqual({
      knob: 'net.ipv4.tcp_max_syn_backlog',
      current: '255',
      proposed: '256',
      evidence: ['half-open connections are limited to 255 per listener', 'TcpExtTCPReqQFullDrop +7', 'with syncookies on, SYNs past the limit get cookies instead of being dropped'],
      lines: ['sysctl -w net.ipv4.tcp_max_syn_backlog=256', `echo 'net.ipv4.tcp_max_syn_backlog = 256' >> ${SYSCTL_FILE}${KEEPS}`, '# applies to new SYNs at once; no restart needed'],
    })
  })

  it('with syncookies off it says the SYNs past the limit are dropped, and quotes no counter it did not read', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_max_syn_backlog': '128', 'net.ipv4.tcp_syncookies': '0'}}))
    expect(knob(advice, 'net.ipv4.tcp_max_syn_backlog')?.evidence).toEqual(['half-open connections are limited to 128 per listener', 'with syncookies off, SYNs past the limit are dropped'])
  })

  it('256 half-open slots are enough for backlog 255: no recommendation', () => {
    expect(knobs(recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_max_syn_backlog': '256'}})))).toEqual(['backlog', 'net.core.somaxconn'])
  })

  it('unread, it is not advised on (the unverified warning names it instead)', () => {
    expect(knobs(recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_max_syn_backlog': 'unknown'}})))).toEqual(['backlog', 'net.core.somaxconn'])
  })
})

describe('net.ipv4.tcp_syncookies, tcp_abort_on_overflow and ip_local_port_range', () => {
  it('syncookies 0 → 1, without a TCPReqQFullDrop counter: two sentences and the lines that set it', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_syncookies': '0'}}))
    expect(knob(advice, 'net.ipv4.tcp_syncookies')).toEqual({
      knob: 'net.ipv4.tcp_syncookies',
      current: '0',
      proposed: '1',
      evidence: [
        'syncookies are off: when a burst of SYNs exceeds the request queue (backlog + 1 here), the excess is dropped and waits on the SYN ladder (docs/kernel.md §4)',
        'with 1, the excess connects complete at once and any wait moves to the first byte (measure it with a first-byte probe)',
      ],
      lines: ['sysctl -w net.ipv4.tcp_syncookies=1', `echo 'net.ipv4.tcp_syncookies = 1' >> ${SYSCTL_FILE}${KEEPS}`, '# applies to new SYNs at once'],
    })
  })

  it('syncookies 2 (always) is not "off": no recommendation', () => {
    expect(knob(recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_syncookies': '2'}})), 'net.ipv4.tcp_syncookies')).toBeUndefined()
  })

  it('abort_on_overflow 1 → 0 counts resets on connect (3) and resets after it seen by the probe (4): 7 connects', () => {
    const result = withProbeResets(
      syntheticResult({plan: {burst: '30'}, connects: [onStep(0, 3), onStep(1, 24)], failures: {reset: 3}, sysctls: {'net.ipv4.tcp_abort_on_overflow': '1'}, listener: {effectiveBacklog: 2, peakQueue: 3}}),
      4,
    )
    const advice = recommend(result)
    expect(knob(advice, 'net.ipv4.tcp_abort_on_overflow')).toEqual({
      knob: 'net.ipv4.tcp_abort_on_overflow',
      current: '1',
      proposed: '0',
      evidence: ['reset during or right after the handshake: 7 connects'],
      lines: ['sysctl -w net.ipv4.tcp_abort_on_overflow=0', `echo 'net.ipv4.tcp_abort_on_overflow = 0' >> ${SYSCTL_FILE}${KEEPS}`, '# applies at once'],
    })
    expect(advice.warnings).toEqual([
      'tcp_abort_on_overflow=1: when the accept queue is full at handshake-ACK time the server answers with RST, so clients get "connection reset" instead of a retry that could have succeeded a moment later',
    ])
  })

  it('EADDRNOTAVAIL with --close fin blames TIME_WAIT (60 s) and quotes tcp_tw_reuse, and offers --close rst', () => {
    const advice = recommend(syntheticResult({plan: {rate: '5000', duration: '10s', close: 'fin'}, connects: [onStep(0, 28_232)], failures: {addrNotAvail: 21_768}}))
    expect(knob(advice, 'net.ipv4.ip_local_port_range')).toEqual({
      knob: 'net.ipv4.ip_local_port_range',
      current: '32768 60999',
      proposed: '1024 65535',
      evidence: ["21768 connects failed with EADDRNOTAVAIL: this client ran out of ephemeral ports (TIME_WAIT holds each closed connection's port for 60 s; tcp_tw_reuse=2)"],
      lines: [
        'sysctl -w net.ipv4.ip_local_port_range="1024 65535"',
        `echo 'net.ipv4.ip_local_port_range = 1024 65535' >> ${SYSCTL_FILE}${KEEPS}`,
        '# applies to new connects at once',
        '# or close with RST (connstorm --close rst, the default) so the client keeps no TIME_WAIT',
      ],
    })
  })

  it('EADDRNOTAVAIL with --close rst: the range is smaller than the connections open at once; no --close rst line', () => {
    const advice = recommend(syntheticResult({plan: {rate: '5000', duration: '10s', close: 'rst'}, connects: [onStep(0, 28_232)], failures: {addrNotAvail: 21_768}}))
    expect(knob(advice, 'net.ipv4.ip_local_port_range')).toEqual({
      knob: 'net.ipv4.ip_local_port_range',
      current: '32768 60999',
      proposed: '1024 65535',
      evidence: ['21768 connects failed with EADDRNOTAVAIL: this client ran out of ephemeral ports (the range is smaller than the connections this client had open at once (an RST close leaves no TIME_WAIT))'],
      lines: ['sysctl -w net.ipv4.ip_local_port_range="1024 65535"', `echo 'net.ipv4.ip_local_port_range = 1024 65535' >> ${SYSCTL_FILE}${KEEPS}`, '# applies to new connects at once'],
    })
  })
})

describe('adviceOptionsFor: what --server and --accept-stall hand to the advice', () => {
  it('neither: no options at all', () => {
    expect(adviceOptionsFor(undefined, null)).toEqual({})
  })

  it('--accept-stall 250 alone: only the stall', () => {
    expect(adviceOptionsFor(undefined, 250)).toEqual({acceptStallMs: 250})
  })

  it('--server postgres: its lines (max_connections), its apply note, its name and its no-knob text', () => {
    const postgres = findServer('postgres')!
    const options = adviceOptionsFor(postgres, 0)
    expect(options).toEqual({acceptStallMs: 0, backlogLines: expect.any(Function), applyNote: postgres.applyNote, serverName: 'PostgreSQL', withoutKnob: postgres.withoutKnob})
    expect(options.backlogLines?.(255)).toEqual(['max_connections = 128   # postgresql.conf: PostgreSQL 16+ listens with 2 × max_connections = 256; up to 15 with 2 × (max_connections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders), more'])
    expect(adviceOptionsFor(findServer('rust'), null).backlogLines?.(255)).toBeNull()
    expect(adviceOptionsFor(findServer('redis'), null).backlogLines?.(255)).toEqual(['tcp-backlog 255'])
  })
})
