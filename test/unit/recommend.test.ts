import {describe, expect, it} from 'vitest'

import {type Advice, type AdviceOptions, HEADROOM, recommend, roundUpBacklog} from '../../src/analysis/recommend.js'
import type {Recommendation} from '../../src/results/format.js'
import type {StormResult} from '../../src/results/format.js'
import {ALL_SYSCTLS_UNKNOWN, burstOf200AgainstBacklog8, onStep, syntheticResult} from '../helpers/synthetic-result.js'

/**
 * The advice engine, one row per situation. Every row is a storm result built by the real
 * buildResult (so the SYN-ladder attribution and the counter check are computed, not written in),
 * and states what the advice must propose and which numbers its evidence must quote.
 */

const SYSCTL_FILE = '/etc/sysctl.d/90-connstorm.conf'
const GENERIC_APPLY_NOTE = /restart the service, or make it call listen\(\) again/

/** A matcher for one element of a list of sentences: a substring, or a pattern. */
type Sentence = string | RegExp

interface KnobExpectation {
  current: string
  /** null: keep the current value */
  proposed: string | null
  /** each must match one of the recommendation's evidence sentences */
  evidence?: Sentence[]
  /** each must match one of its lines */
  lines?: Sentence[]
}

interface Row {
  situation: string
  result: () => StormResult
  options?: AdviceOptions
  /** undefined: not part of this row's specification */
  neededQueue?: number | null
  proposedBacklog: number | null
  /** every recommendation, in order, by knob */
  knobs: Record<string, KnobExpectation>
  model?: Sentence[]
  /** null: a bigger queue is the fix (or no fix is needed) */
  notTheFix: Sentence[] | null
  /** each must match one warning; [] means no warning at all */
  warnings: Sentence[]
  unverified: boolean
}

const ROWS: Row[] = [
  {
    situation: 'proposes 255 for a 200-connect burst against backlog 8: the queue must hold 200 + 25 %, and 2^8 − 1 = 255 is the smallest backlog whose queue (256) does',
    result: () => burstOf200AgainstBacklog8(),
    neededQueue: 200,
    proposedBacklog: 255,
    model: ['a burst of 200 connects arrives at once', '25 % headroom', '2^n − 1'],
    knobs: {
      backlog: {
        current: '8',
        proposed: '255',
        evidence: [
          '9 connects were admitted at once (= backlog 8 + 1 when the application is not accepting)',
          'peak accept queue 9/8+1 (full)',
          '191 connects waited 2 SYN retransmits (~2.05 s)',
          'TcpExtListenOverflows +563',
        ],
        lines: [/^listen\(fd, 255\)/, GENERIC_APPLY_NOTE],
      },
      'net.core.somaxconn': {current: '4096', proposed: null, evidence: ['4096 ≥ backlog 255']},
    },
    notTheFix: null,
    warnings: [],
    unverified: false,
  },
  {
    situation: 'sizes a 1000/s arrival rate against the lab\'s 600 ms accept stalls: 1000 connects/s × 0.6 s = 600, so backlog 1023 (600 × 1.25 = 750 ≤ 1024)',
    result: () =>
      syntheticResult({
        plan: {rate: '1000', duration: '5s'},
        // each 600 ms stall gathers 600 connects; a queue of 512 takes them and 88 wait 1 retransmit, 5 stalls
        connects: [onStep(0, 5000 - 5 * 88), onStep(1, 5 * 88)],
        lab: {backlog: 511, effectiveBacklog: 511, stallEveryMs: 1000, stallForMs: 600},
        listener: {effectiveBacklog: 511, peakQueue: 512},
      }),
    neededQueue: 600,
    proposedBacklog: 1023,
    model: ['1000 connects/s × 0.6 s', '= 600', 'the lab was told to stall'],
    knobs: {
      backlog: {current: '511', proposed: '1023', evidence: ['440 connects waited 1 SYN retransmit (~1.03 s)', 'peak accept queue 512/511+1 (full)'], lines: [/^listen\(fd, 1023\)/]},
      'net.core.somaxconn': {current: '4096', proposed: null},
    },
    notTheFix: null,
    warnings: [],
    unverified: false,
  },
  {
    situation: 'sizes the same 1000/s run by a 600 ms stall given with --accept-stall when the target is not the lab',
    result: () =>
      syntheticResult({
        plan: {rate: '1000', duration: '5s'},
        connects: [onStep(0, 5000 - 5 * 88), onStep(1, 5 * 88)],
        listener: {effectiveBacklog: 511, peakQueue: 512},
      }),
    options: {acceptStallMs: 600},
    neededQueue: 600,
    proposedBacklog: 1023,
    model: ['1000 connects/s × 0.6 s', '= 600', 'given with --accept-stall'],
    knobs: {
      backlog: {current: '511', proposed: '1023', evidence: ['440 connects waited 1 SYN retransmit']},
      'net.core.somaxconn': {current: '4096', proposed: null},
    },
    notTheFix: null,
    warnings: [],
    unverified: false,
  },
  {
    situation: 'does not advise a bigger queue when the lab accepts 200/s against 2000/s arrivals: the queue grows by 1800 connects/s whatever its size',
    result: () =>
      syntheticResult({
        plan: {rate: '2000', duration: '5s', timeout: '5s'},
        connects: [onStep(0, 700), onStep(1, 1000), onStep(2, 1000), onStep(3, 1000), onStep(4, 1000)],
        failures: {timeout: 5300},
        lab: {backlog: 511, effectiveBacklog: 511, acceptRate: 200},
        listener: {effectiveBacklog: 511, peakQueue: 512},
      }),
    proposedBacklog: null,
    notTheFix: ['accepts (200/s) are slower than arrivals (2000/s)', 'the queue grows by 1800 connects/s', /more workers|SO_REUSEPORT/],
    knobs: {
      backlog: {current: '511', proposed: null, evidence: ['1000 connects waited 4 SYN retransmits', '5300 timed out after at least 4 SYN retransmits']},
      // the listener's backlog stays 511, and somaxconn 4096 does not cap it: raising somaxconn (or
      // tcp_max_syn_backlog) would be "a bigger queue" by another name
      'net.core.somaxconn': {current: '4096', proposed: null},
    },
    warnings: [],
    unverified: false,
  },
  {
    situation: 'raises somaxconn 128 → 2048 with a 1000-connect burst: backlog 2047 would be silently capped at 128, and a new somaxconn needs a restart or a new listen()',
    result: () =>
      syntheticResult({
        plan: {burst: '1000'},
        connects: [onStep(0, 129), onStep(1, 871)],
        sysctls: {'net.core.somaxconn': '128'},
        listener: {effectiveBacklog: 128, peakQueue: 129},
      }),
    neededQueue: 1000,
    proposedBacklog: 2047,
    knobs: {
      backlog: {current: '128', proposed: '2047', evidence: ['129 connects were admitted at once', '871 connects waited 1 SYN retransmit'], lines: [/^listen\(fd, 2047\)/]},
      'net.core.somaxconn': {
        current: '128',
        proposed: '2048',
        evidence: ['somaxconn 128 < backlog 2047: the kernel silently caps the backlog at 128'],
        lines: ['sysctl -w net.core.somaxconn=2048', `echo 'net.core.somaxconn = 2048' >> ${SYSCTL_FILE}`, GENERIC_APPLY_NOTE],
      },
    },
    notTheFix: null,
    warnings: [],
    unverified: false,
  },
  {
    situation: 'turns syncookies on (0 → 1) when they are off, citing TCPReqQFullDrop +12 and what changes: excess connects complete at once, the wait moves to the first byte',
    result: () => burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_syncookies': '0'}, counterDeltas: {TcpExtListenOverflows: 563, TcpExtTCPReqQFullDrop: 12}}),
    neededQueue: 200,
    proposedBacklog: 255,
    knobs: {
      backlog: {current: '8', proposed: '255'},
      'net.core.somaxconn': {current: '4096', proposed: null},
      'net.ipv4.tcp_syncookies': {
        current: '0',
        proposed: '1',
        evidence: ['TcpExtTCPReqQFullDrop +12', /the excess is dropped and waits on the SYN ladder/, /excess connects complete at once/, /wait moves to the first byte/],
        lines: ['sysctl -w net.ipv4.tcp_syncookies=1', `echo 'net.ipv4.tcp_syncookies = 1' >> ${SYSCTL_FILE}`],
      },
    },
    notTheFix: null,
    warnings: [],
    unverified: false,
  },
  {
    situation: 'warns that tcp_abort_on_overflow=1 turns retries into resets, and proposes 1 → 0',
    result: () =>
      syntheticResult({
        plan: {burst: '30'},
        connects: [onStep(0, 3), onStep(1, 26)],
        failures: {reset: 1},
        sysctls: {'net.ipv4.tcp_abort_on_overflow': '1'},
        listener: {effectiveBacklog: 2, peakQueue: 3},
      }),
    neededQueue: 30,
    proposedBacklog: 63,
    knobs: {
      backlog: {current: '2', proposed: '63'},
      'net.core.somaxconn': {current: '4096', proposed: null},
      'net.ipv4.tcp_abort_on_overflow': {
        current: '1',
        proposed: '0',
        evidence: [/reset.*\b1 connects?\b/],
        lines: ['sysctl -w net.ipv4.tcp_abort_on_overflow=0', `echo 'net.ipv4.tcp_abort_on_overflow = 0' >> ${SYSCTL_FILE}`],
      },
    },
    notTheFix: null,
    warnings: [/tcp_abort_on_overflow=1.*RST.*"connection reset" instead of a retry/],
    unverified: false,
  },
  {
    situation: 'still sizes the burst when no sysctl could be read (no ladder, nothing attributed), but marks the advice unverified and names every unknown fact it rests on',
    result: () => burstOf200AgainstBacklog8({sysctls: ALL_SYSCTLS_UNKNOWN, counterDeltas: {TcpExtListenOverflows: 563}}),
    neededQueue: 200,
    proposedBacklog: 255,
    knobs: {
      backlog: {current: '8', proposed: '255', evidence: ['peak accept queue 9/8+1 (full)', 'TcpExtListenOverflows +563']},
      'net.core.somaxconn': {current: 'unknown', proposed: '≥ 255', evidence: ['somaxconn could not be read'], lines: ['sysctl -w net.core.somaxconn=256']},
    },
    notTheFix: null,
    warnings: [
      /^unverified: .*net\.core\.somaxconn/,
      // the two sysctls the SYN ladder is computed from: without either, no connect is attributed
      /^unverified: .*net\.ipv4\.tcp_syn_retries/,
      /^unverified: .*net\.ipv4\.tcp_syn_linear_timeouts/,
      // the advice reads these to warn about cookies off, half-open limits and resets; unknown, it says nothing
      /^unverified: .*net\.ipv4\.tcp_max_syn_backlog/,
      /^unverified: .*net\.ipv4\.tcp_syncookies/,
      /^unverified: .*net\.ipv4\.tcp_abort_on_overflow/,
    ],
    unverified: true,
  },
  {
    situation: 'keeps the backlog when every connect got in at once and the queue never filled, and says that no connect waited',
    result: () => syntheticResult({plan: {burst: '100'}, connects: [onStep(0, 100)], listener: {effectiveBacklog: 511, peakQueue: 100}, counterDeltas: {TcpActiveOpens: 100, TcpExtTCPSynRetrans: 0}}),
    neededQueue: null,
    proposedBacklog: null,
    knobs: {
      backlog: {current: '511', proposed: null, evidence: [/no connect waited/]},
      'net.core.somaxconn': {current: '4096', proposed: null, evidence: ['4096 ≥ backlog 511']},
    },
    notTheFix: null,
    warnings: [],
    unverified: false,
  },
  {
    situation: 'widens ip_local_port_range when connects fail with EADDRNOTAVAIL: the client ran out of ephemeral ports',
    result: () =>
      syntheticResult({
        plan: {rate: '5000', duration: '10s', close: 'fin'},
        // 32768–60999 is 28 232 ports: with --close fin each one sits in TIME_WAIT for 60 s
        connects: [onStep(0, 28_232)],
        failures: {addrNotAvail: 50_000 - 28_232},
      }),
    neededQueue: null,
    proposedBacklog: null,
    knobs: {
      backlog: {current: 'unknown', proposed: null},
      'net.ipv4.ip_local_port_range': {
        current: '32768 60999',
        proposed: '1024 65535',
        evidence: [/^21768 connects failed with EADDRNOTAVAIL: this client ran out of ephemeral ports/, 'tcp_tw_reuse=2'],
        lines: ['sysctl -w net.ipv4.ip_local_port_range="1024 65535"', `echo 'net.ipv4.ip_local_port_range = 1024 65535' >> ${SYSCTL_FILE}`, /--close rst/],
      },
    },
    notTheFix: null,
    warnings: [],
    unverified: false,
  },
]

function matches(sentence: string, matcher: Sentence): boolean {
  return typeof matcher === 'string' ? sentence.includes(matcher) : matcher.test(sentence)
}

function expectEach(sentences: readonly string[], matchers: readonly Sentence[], what: string): void {
  for (const matcher of matchers) {
    expect.soft(sentences.some((sentence) => matches(sentence, matcher)), `${what} should contain ${String(matcher)}; it is ${JSON.stringify(sentences, null, 2)}`).toBe(true)
  }
}

function byKnob(advice: Advice, knob: string): Recommendation | undefined {
  return advice.recommendations.find((recommendation) => recommendation.knob === knob)
}

describe('recommend: one row per situation', () => {
  for (const row of ROWS) {
    it(row.situation, () => {
      const advice = recommend(row.result(), row.options)

      if (row.neededQueue !== undefined) expect.soft(advice.neededQueue, 'neededQueue').toBe(row.neededQueue)
      expect.soft(advice.proposedBacklog, 'proposedBacklog').toBe(row.proposedBacklog)
      expect.soft(advice.unverified, 'unverified').toBe(row.unverified)
      if (row.model) expectEach([advice.model], row.model, 'the model')

      if (row.notTheFix === null) expect.soft(advice.notTheFix, 'notTheFix').toBeNull()
      else expectEach([advice.notTheFix ?? ''], row.notTheFix, 'notTheFix')

      if (row.warnings.length === 0) expect.soft(advice.warnings, 'warnings').toEqual([])
      else expectEach(advice.warnings, row.warnings, 'the warnings')

      expect.soft(advice.recommendations.map((recommendation) => recommendation.knob), 'knobs, in order').toEqual(Object.keys(row.knobs))
      for (const [knob, expected] of Object.entries(row.knobs)) {
        const recommendation = byKnob(advice, knob)
        if (recommendation === undefined) continue // reported by the knob list above
        expect.soft({current: recommendation.current, proposed: recommendation.proposed}, `${knob}: current → proposed`).toEqual({current: expected.current, proposed: expected.proposed})
        if (expected.evidence) expectEach(recommendation.evidence, expected.evidence, `${knob} evidence`)
        if (expected.lines) expectEach(recommendation.lines, expected.lines, `${knob} lines`)
        // a knob that is kept has nothing to apply; one that changes always says how
        if (expected.proposed === null) expect.soft(recommendation.lines, `${knob} lines when kept`).toEqual([])
        else expect.soft(recommendation.lines.length, `${knob} lines when changed`).toBeGreaterThan(0)
      }
    })
  }
})

describe('recommend: sentences that hold for every situation', () => {
  it('claims "N connects were admitted at once (= backlog B + 1 …)" only where N really is B + 1', () => {
    const wrong: string[] = []
    for (const row of ROWS) {
      for (const recommendation of recommend(row.result(), row.options).recommendations) {
        for (const sentence of recommendation.evidence) {
          const claim = /^(\d+) connects were admitted at once \(= backlog (\d+) \+ 1/.exec(sentence)
          if (claim && Number(claim[1]) !== Number(claim[2]) + 1) wrong.push(`${row.situation.slice(0, 60)}…: "${sentence}"`)
        }
      }
    }
    expect(wrong).toEqual([])
  })

  it('puts every proposed backlog on 2^n − 1 with a queue at least 25 % above the connects it must hold', () => {
    for (const row of ROWS) {
      const advice = recommend(row.result(), row.options)
      if (advice.proposedBacklog === null || advice.neededQueue === null) continue
      const queue = advice.proposedBacklog + 1
      expect(Math.log2(queue) % 1, row.situation).toBe(0)
      expect(queue, row.situation).toBeGreaterThanOrEqual(advice.neededQueue * HEADROOM)
      expect(queue / 2, `${row.situation}: the next smaller 2^n − 1 would have done`).toBeLessThan(advice.neededQueue * HEADROOM)
    }
  })

  it('gives the same advice for a saved result as for the live one (JSON round trip)', () => {
    for (const row of ROWS) {
      const result = row.result()
      expect(recommend(JSON.parse(JSON.stringify(result)) as StormResult, row.options), row.situation).toEqual(recommend(result, row.options))
    }
  })
})

describe('recommend: the narrower cases', () => {
  it('names tcp_syn_linear_timeouts when it alone is unknown: the ladder needs it, so nothing was attributed and the advice is unverified', () => {
    const advice = recommend(burstOf200AgainstBacklog8({sysctls: {'net.ipv4.tcp_syn_linear_timeouts': 'unknown'}}))
    expect(advice.unverified).toBe(true)
    expect(advice.warnings.some((warning) => warning.includes('net.ipv4.tcp_syn_linear_timeouts')), JSON.stringify(advice.warnings)).toBe(true)
  })

  it('with --close rst (no TIME_WAIT on the client) neither blames TIME_WAIT for EADDRNOTAVAIL nor suggests the --close rst the run already used', () => {
    const result = syntheticResult({plan: {rate: '5000', duration: '10s', close: 'rst'}, connects: [onStep(0, 28_232)], failures: {addrNotAvail: 21_768}})
    const ports = byKnob(recommend(result), 'net.ipv4.ip_local_port_range')
    expect(ports?.proposed).toBe('1024 65535')
    expect(ports?.evidence.join('\n')).toContain('21768 connects failed with EADDRNOTAVAIL')
    expect.soft(ports?.evidence.join('\n'), 'evidence').not.toMatch(/TIME_WAIT holds them/)
    expect.soft(ports?.lines.join('\n'), 'lines').not.toMatch(/--close rst/)
  })

  it('sizes by the larger of burst and rate × stall: waves of 300 every 2 s with a 600 ms stall need 300, not 150/s × 0.6 s = 90', () => {
    const result = syntheticResult({
      plan: {burst: '300', waves: '3', interval: '2s'},
      connects: [onStep(0, 3 * 256), onStep(1, 3 * 44)],
      lab: {backlog: 255, effectiveBacklog: 255, stallEveryMs: 2000, stallForMs: 600},
      listener: {effectiveBacklog: 255, peakQueue: 256},
    })
    const advice = recommend(result)
    expect(advice.neededQueue).toBe(300)
    expect(advice.proposedBacklog).toBe(511)
    expect(advice.model).toContain('a burst of 300 connects arrives at once')
  })

  it('says there is nothing to size by, and proposes nothing, when the storm was not looked at (no kernel observation, rate without a stall)', () => {
    const advice = recommend(syntheticResult({plan: {rate: '100', duration: '2s'}, connects: [onStep(0, 200)], noKernel: true}))
    expect(advice.model).toContain('this run gives no arrival count to size it by')
    expect(advice.proposedBacklog).toBeNull()
    expect(advice.unverified).toBe(true)
  })
})

describe('roundUpBacklog: the smallest 2^n − 1 whose queue (backlog + 1) holds the connects', () => {
  it.each([
    [1, 1],
    [2, 1],
    [3, 3],
    [200, 255],
    [256, 255],
    [257, 511],
    [1024, 1023],
    [1025, 2047],
    // listen() takes an int: never more than 2^31 − 1, however many connects
    [2 ** 30 + 1, 2_147_483_647],
    [2 ** 31, 2_147_483_647],
    [1_717_986_919 * 1.25, 2_147_483_647],
    [2 ** 40, 2_147_483_647],
  ])('%i connects → backlog %i', (connects, backlog) => {
    expect(roundUpBacklog(connects)).toBe(backlog)
  })
})

describe('the synthetic results are attributed and corroborated by the real code', () => {
  it('puts situation 1 on the ladder: 9 immediate, 191 on the 2-retransmit step, and the counters agree (TCPSynRetrans +382 = 191 × 2)', () => {
    const result = burstOf200AgainstBacklog8()
    expect(result.attribution?.steps.map(({retransmits, connects}) => ({retransmits, connects}))).toEqual([
      {retransmits: 0, connects: 9},
      {retransmits: 2, connects: 191},
    ])
    expect(result.kernel?.corroboration).toMatchObject({corroborated: true, expected: 382, observed: 382})
  })

  it('attributes nothing when the sysctls are unknown', () => {
    const result = burstOf200AgainstBacklog8({sysctls: ALL_SYSCTLS_UNKNOWN})
    expect(result.ladder).toBeNull()
    expect(result.attribution).toBeNull()
  })
})
