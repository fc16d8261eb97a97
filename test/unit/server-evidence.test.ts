import {describe, expect, it} from 'vitest'

import {countersAt, listenerDropsBetween, queueAgainstBacklog, summariseWindow, withServerEvidence} from '../../src/analysis/server-evidence.js'
import type {Measurement, ServerEvidence, WatchSample} from '../../src/results/format.js'
import {renderServerEvidence} from '../../src/report/server-evidence-text.js'
import {watchProblem} from '../../src/watch/file.js'
import {parseWatchOptions, parseWatchTarget} from '../../src/watch/options.js'
import {listenerChangeLine, secondLine, summaryLine} from '../../src/watch/text.js'

const at = (t: number, listeners: WatchSample['listeners'], counters?: Record<string, number>): WatchSample => (counters === undefined ? {t, listeners} : {t, listeners, counters})
const v4 = (recvQ: number, sendQ: number, drops: number | null) => ({host: '0.0.0.0', port: 80, family: 4 as const, recvQ, sendQ, drops})
const v6 = (recvQ: number, sendQ: number, drops: number | null) => ({host: '::', port: 80, family: 6 as const, recvQ, sendQ, drops})

describe('a listener’s drops over a window of watch samples', () => {
  it('adds each listener’s increments: 10 → 15 → 40 on one and 0 → 3 on another are 33', () => {
    const samples = [at(0, [v4(0, 8, 10), v6(0, 8, 0)]), at(1, [v4(0, 8, 15), v6(0, 8, 3)]), at(2, [v4(0, 8, 40), v6(0, 8, 3)])]
    expect(listenerDropsBetween(samples, 0, 2)).toBe(33)
  })

  it('counts a count that went down as a new socket’s, from 0: 50 → 60, restart, 4 are 14', () => {
    const samples = [at(0, [v4(0, 8, 50)]), at(1, [v4(0, 8, 60)]), at(2, [v4(0, 8, 4)])]
    expect(listenerDropsBetween(samples, 0, 2)).toBe(14)
  })

  it('counts a listener first seen inside the window from its first sample, not from 0', () => {
    const samples = [at(0, []), at(1, [v4(0, 8, 500)]), at(2, [v4(0, 8, 510)])]
    expect(listenerDropsBetween(samples, 0, 2)).toBe(10)
  })

  it('is null when no listener’s drops were ever read, and 0 when read and unchanged', () => {
    expect(listenerDropsBetween([at(0, [v4(0, 8, null)]), at(1, [v4(0, 8, null)])], 0, 1)).toBeNull()
    expect(listenerDropsBetween([at(0, [v4(0, 8, 7)]), at(1, [v4(0, 8, 7)])], 0, 1)).toBe(0)
  })
})

describe('a window of watch samples', () => {
  it('takes the counters of the last sample that has them when a sample carries none', () => {
    const samples = [at(0, [], {TcpExtListenOverflows: 5}), at(1, []), at(2, [])]
    expect(countersAt(samples, 2)).toEqual({TcpExtListenOverflows: 5})
  })

  it('names the longest queue with that listener’s backlog, and the counters’ last − first', () => {
    const samples = [
      at(0, [v4(0, 32, 0), v6(2, 8, 0)], {TcpExtListenOverflows: 100, TcpExtSyncookiesSent: 7}),
      at(1, [v4(33, 32, 4), v6(9, 8, 0)]),
      at(2, [v4(0, 32, 60), v6(0, 8, 0)], {TcpExtListenOverflows: 160, TcpExtSyncookiesSent: 7}),
    ]
    expect(summariseWindow(samples, 0, 2)).toEqual({fromMs: 0, toMs: 2, samples: 3, peakQueue: 33, backlog: 32, drops: 60, counters: {TcpExtListenOverflows: 60, TcpExtSyncookiesSent: 0}})
  })

  it('writes a queue against what the listener holds, its backlog + 1', () => {
    expect(queueAgainstBacklog(33, 32)).toBe('33/32+1')
    expect(queueAgainstBacklog(4, null)).toBe('4/unknown')
  })
})

const EVIDENCE: ServerEvidence = {
  stormWindow: {fromMs: 1000, toMs: 2000},
  watchWindow: {fromMs: 0, toMs: 3000},
  used: {fromMs: 990, toMs: 2010, samples: 53, intervalMs: 20, source: 'ss'},
  clock: 'clocks agree',
  listener: {port: 8088, peakQueue: 33, effectiveBacklog: 32, drops: 300},
  counterDeltas: {TcpExtListenOverflows: 290, TcpExtSyncookiesSent: 0, TcpExtSyncookiesRecv: 0, TcpExtTCPSynRetrans: 4},
  sysctls: {'net.core.somaxconn': '64', 'net.ipv4.tcp_syn_retries': '2'},
  sysctlsFromServer: ['net.core.somaxconn'],
}

describe('the measurement with the server’s side joined', () => {
  const measurement = {
    kernel: {netns: 'shared', sysctls: {'net.core.somaxconn': '4096', 'net.ipv4.tcp_syn_retries': '6'}, counterDeltas: {TcpExtTCPSynRetrans: 150}, listener: null},
  } as unknown as Measurement

  it('takes the watched listener as the target’s and only the server-side sysctls from the server', () => {
    const joined = withServerEvidence(measurement, EVIDENCE)
    expect(joined.kernel!.listener).toEqual({effectiveBacklog: 32, peakQueue: 33, samples: 53, source: 'ss', drops: 300})
    expect(joined.kernel!.sysctls).toEqual({'net.core.somaxconn': '64', 'net.ipv4.tcp_syn_retries': '6'})
    // the client's counters stay the client's
    expect(joined.kernel!.counterDeltas).toEqual({TcpExtTCPSynRetrans: 150})
  })

  it('renders the server’s verdict: peak queue against backlog + 1, drops, cookies, overflows and SYN-ACK retransmits', () => {
    const lines = renderServerEvidence({kernel: {...withServerEvidence(measurement, EVIDENCE).kernel!, corroborated: null, corroboration: null}})
    expect(lines.slice(2)).toEqual([
      'verdict   server side: peak queue 33/32+1 (the accept queue was full); the listener dropped 300 during the storm; SYN cookies sent 0, received 0; ListenOverflows +290, SYN-ACK retransmits +4',
      "          the advice starts from this host's listener: backlog 32, net.core.somaxconn 64",
    ])
  })

  it('renders nothing for a result without server evidence', () => {
    expect(renderServerEvidence({kernel: null})).toEqual([])
  })
})

describe('connstorm watch’s input', () => {
  it.for([
    ['8088', {port: 8088}],
    ['198.18.0.2:8088', {port: 8088, host: '198.18.0.2'}],
    ['[::1]:8088', {port: 8088, host: '::1'}],
  ] as const)('reads %s', ([text, expected]) => {
    expect(parseWatchTarget(text)).toEqual(expected)
  })

  it.for(['0', '65536', 'x', 'host:80', '[127.0.0.1]:80', '::1:80', '198.18.0.2:'])('refuses %s', (text) => {
    expect(() => parseWatchTarget(text)).toThrow(`PORT: invalid value '${text}'`)
  })

  it('samples every 20 ms for at most 10 minutes unless told otherwise', () => {
    expect(parseWatchOptions('80', {})).toEqual({port: 80, intervalMs: 20, durationMs: 600_000})
  })
})

describe('the watch file schema', () => {
  const valid = {
    kind: 'watch',
    schemaVersion: 1,
    tool: {name: 'connstorm', version: '0.1.0'},
    port: 80,
    host: null,
    intervalMs: 20,
    startedAtMs: 1000,
    endedAtMs: 1040,
    stopReason: 'duration',
    source: 'netlink',
    sysctls: {},
    samples: [at(1000, [v4(0, 8, 0)], {TcpExtListenOverflows: 1}), at(1020, []), at(1040, [], {TcpExtListenOverflows: 1})],
    watcher: {cpuUs: 10, wallMs: 40},
  }

  it('accepts a well-formed watch', () => {
    expect(watchProblem(valid)).toBeNull()
  })

  it.for([
    ['a sample after the end', {...valid, endedAtMs: 1030}, '/samples/2/t: is outside startedAtMs…endedAtMs'],
    ['an end before the start', {...valid, endedAtMs: 900, samples: [at(1000, [])]}, '/endedAtMs: is before /startedAtMs'],
    ['no sample at all (a watch always takes its first and last)', {...valid, samples: []}, '/samples: must NOT have fewer than 1 items'],
    ['an unknown key', {...valid, extra: 1}, '/: must NOT have additional properties'],
    ['a negative queue', {...valid, samples: [at(1000, [v4(-1, 8, 0)])]}, '/samples/0/listeners/0/recvQ: must be >= 0'],
  ] as const)('refuses %s', ([, data, problem]) => {
    expect(watchProblem(data)).toBe(problem)
  })
})

describe('what connstorm watch prints', () => {
  const second = {fromMs: Date.UTC(2026, 11, 6, 14, 2, 2), toMs: Date.UTC(2026, 11, 6, 14, 2, 3) + 250, samples: 63, peakQueue: 33, backlog: 32, drops: 125, counters: {TcpExtSyncookiesSent: 25}}

  it('prints a second’s queue peak against backlog + 1, and its drops and cookies per second (125 in 1.25 s: 100/s)', () => {
    expect(secondLine(second)).toBe('14:02:03 queue peak 33/32+1  drops/s 100  cookies/s 20')
  })

  it('prints "no listener" for a second without one, and unknown for counts never read', () => {
    expect(secondLine({...second, peakQueue: null, backlog: null, drops: null, counters: {}})).toBe('14:02:03 no listener  drops/s unknown  cookies/s unknown')
  })

  it('sums the whole watch up in one line', () => {
    expect(summaryLine(second, 's.json')).toBe('watched 1.3 s, 63 samples: peak queue 33/32+1, 125 dropped by the listener, 25 SYN cookies sent; saved to s.json')
  })

  it('says when the port has no listener, and names the listeners when one appears', () => {
    expect(listenerChangeLine('waiting', 8088, [])).toBe('no listener on port 8088 yet: watching until one appears')
    expect(listenerChangeLine('gone', 8088, [])).toBe('no listener on port 8088 any more: watching until one appears again')
    expect(listenerChangeLine('appeared', 8088, [{host: '::1', port: 8088, family: 6, recvQ: 0, sendQ: 511, drops: 0}])).toBe('listener on port 8088: [::1]:8088 (backlog 511)')
  })
})
