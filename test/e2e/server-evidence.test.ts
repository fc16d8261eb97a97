import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

// analyze/report FILE --server-evidence WATCH.json: a watch file from the target's host, laid over
// the saved run by wall clock. No sockets: saved files only.
const RESULT = new URL('../fixtures/results/lab-burst.json', import.meta.url).pathname
// lab-burst.json: startedAt 2026-12-06T05:34:41.343Z, durationMs 1012.835, target port 45413.
const STORM_START = Date.UTC(2026, 11, 6, 5, 34, 41, 343)

let directory: string | undefined
afterEach(() => {
  if (directory !== undefined) rmSync(directory, {recursive: true, force: true})
  directory = undefined
})

function file(name: string, content: string): string {
  directory ??= mkdtempSync(join(tmpdir(), 'connstorm-evidence-'))
  const path = join(directory, name)
  writeFileSync(path, content)
  return path
}

const listener = (recvQ: number, drops: number) => ({host: '0.0.0.0', port: 45413, family: 4, recvQ, sendQ: 16, drops})
const counters = (overflows: number, cookies: number) => ({
  TcpExtListenOverflows: overflows,
  TcpExtListenDrops: overflows,
  TcpExtSyncookiesSent: cookies,
  TcpExtSyncookiesRecv: cookies,
  TcpExtTCPSynRetrans: 5,
})

/** A watch on the server's host around the storm: offsetMs moves the whole watch in time. */
function watch(offsetMs = 0, port = 45413): string {
  const at = (ms: number) => STORM_START + offsetMs + ms
  return JSON.stringify({
    kind: 'watch',
    schemaVersion: 1,
    tool: {name: 'connstorm', version: '0.1.0'},
    port,
    host: null,
    intervalMs: 20,
    startedAtMs: at(-500),
    endedAtMs: at(1500),
    stopReason: 'interrupted',
    source: 'netlink',
    sysctls: {'net.core.somaxconn': '128', 'net.ipv4.tcp_max_syn_backlog': '2048', 'net.ipv4.tcp_syncookies': '1', 'net.ipv4.tcp_abort_on_overflow': '0', 'net.ipv4.tcp_synack_retries': '5'},
    samples: [
      {t: at(-500), listeners: [listener(0, 90)], counters: counters(990, 5)},
      // the last sample at or before the storm's start: the base
      {t: at(-10), listeners: [listener(0, 100)], counters: counters(1000, 10)},
      {t: at(200), listeners: [listener(17, 150)]},
      {t: at(500), listeners: [listener(17, 250)], counters: counters(1150, 60)},
      // the first sample at or after the storm's end (1012.835 ms after its start)
      {t: at(1020), listeners: [listener(0, 273)], counters: counters(1173, 92)},
      {t: at(1500), listeners: [listener(0, 280)], counters: counters(1180, 92)},
    ],
    watcher: {cpuUs: 1000, wallMs: 2000},
  })
}

describe('--server-evidence: the server’s side of a saved run', () => {
  it.for(['analyze', 'report'])('%s names the server’s peak queue against its backlog, the listener’s drops and the cookies during the storm, and starts the advice from that host’s backlog', async (command) => {
    const done = await runCli([command, RESULT, '--server-evidence', file('s.json', watch())])
    expect(done.stderr).toBe('')
    expect(done.code).toBe(0)
    // Between the sample at −10 ms and the one at +1020 ms: drops 273 − 100, overflows 1173 − 1000, cookies 92 − 10.
    expect(done.stdout).toContain('verdict   server side: peak queue 17/16+1 (the accept queue was full); the listener dropped 173 during the storm; SYN cookies sent 82, received 82; ListenOverflows +173, SYN-ACK retransmits +0')
    expect(done.stdout).toContain("          the advice starts from this host's listener: backlog 16, net.core.somaxconn 128")
    expect(done.stdout).toContain('server    seen on its own host by connstorm watch (port 45413, 4 samples every 20 ms): storm 2026-12-06 05:34:41.343 – 05:34:42.355 UTC, watch 2026-12-06 05:34:40.843 – 05:34:42.843 UTC')
    expect(done.stdout).toContain("clocks: the two hosts' wall clocks are taken to agree")
    // The advice's current backlog is the server's 16, and its somaxconn the server's 128.
    expect(done.stdout).toMatch(/^ {2}backlog +16 → /m)
    expect(done.stdout).toMatch(/^ {2}net\.core\.somaxconn +128 /m)
  })

  it('keeps the server’s side in the result printed as JSON (kernel.serverEvidence)', async () => {
    const done = await runCli(['analyze', RESULT, '--server-evidence', file('s.json', watch()), '--json'])
    expect(done.code).toBe(0)
    const result = JSON.parse(done.stdout) as {kernel: {serverEvidence: {listener: unknown; counterDeltas: Record<string, number>; sysctlsFromServer: string[]}; sysctls: Record<string, string>}}
    expect(result.kernel.serverEvidence.listener).toEqual({port: 45413, peakQueue: 17, effectiveBacklog: 16, drops: 173})
    expect(result.kernel.serverEvidence.counterDeltas).toEqual({TcpExtListenOverflows: 173, TcpExtListenDrops: 173, TcpExtSyncookiesSent: 82, TcpExtSyncookiesRecv: 82, TcpExtTCPSynRetrans: 0})
    // the client's SYN ladder sysctls stay the client's; the server-side ones are the server's
    expect(result.kernel.sysctls['net.core.somaxconn']).toBe('128')
    expect(result.kernel.sysctls['net.ipv4.tcp_syn_retries']).toBe('6')
  })

  it('says how much of the storm a watch that started late missed', async () => {
    const done = await runCli(['analyze', RESULT, '--server-evidence', file('s.json', watch(600))])
    expect(done.code).toBe(0)
    // The watch's first sample is 100 ms after the storm's start (−500 + 600 ms).
    expect(done.stdout).toContain("the watch missed its first 100 ms of the storm: the server's figures cover the rest only")
  })
})

describe('--server-evidence refuses a watch file it cannot use in one line, exit 2', () => {
  it.for([
    ['corrupt (truncated)', () => watch().slice(0, 200), (path: string) => `connstorm analyze: --server-evidence: '${path}' is not JSON (truncated, or not a connstorm watch file)`],
    ['empty', () => '', (path: string) => `connstorm analyze: --server-evidence: '${path}' is not JSON (empty)`],
    ['a storm result', () => readFileSync(RESULT, 'utf8'), (path: string) => `connstorm analyze: --server-evidence: '${path}' is not a connstorm watch file (a storm result? give the file \`connstorm watch --out\` wrote)`],
    ['foreign JSON', () => '{"hello": "world"}', (path: string) => `connstorm analyze: --server-evidence: '${path}' is not a connstorm watch file`],
    ['another version', () => watch().replace('"schemaVersion":1', '"schemaVersion":2'), (path: string) => `connstorm analyze: --server-evidence: '${path}' is a watch file of schema version 2; this connstorm reads version 1`],
    ['a sample without listeners', () => watch().replace('"listeners":[{"host":"0.0.0.0","port":45413,"family":4,"recvQ":0,"sendQ":16,"drops":90}],', ''), (path: string) => `connstorm analyze: --server-evidence: '${path}' is not a valid connstorm watch file: /samples/0: must have required property 'listeners'`],
    ['samples out of order', () => watch().replace(`"t":${STORM_START + 200}`, `"t":${STORM_START - 100}`), (path: string) => `connstorm analyze: --server-evidence: '${path}' is not a valid connstorm watch file: /samples/2/t: is before the sample above it`],
  ] as const)('%s', async ([, content, message]) => {
    const path = file('s.json', content())
    const done = await runCli(['analyze', RESULT, '--server-evidence', path])
    expect(done.code).toBe(2)
    expect(done.stdout).toBe('')
    expect(done.stderr.trim().split('\n')).toEqual([message(path)])
  })

  it('refuses a watch that does not overlap the storm, naming both windows', async () => {
    // One hour later: 06:34:40.843 – 06:34:42.843 against the storm's 05:34:41.343 – 05:34:42.355.
    const path = file('s.json', watch(3_600_000))
    const done = await runCli(['report', RESULT, '--server-evidence', path])
    expect(done.code).toBe(2)
    expect(done.stderr.trim().split('\n')).toEqual([
      `connstorm report: --server-evidence: the watch '${path}' (2026-12-06 06:34:40.843 – 06:34:42.843 UTC) does not overlap the storm '${RESULT}' (2026-12-06 05:34:41.343 – 05:34:42.355 UTC); give the watch that ran during the storm`,
    ])
  })

  it('refuses a watch of another port than the storm’s', async () => {
    const path = file('s.json', watch(0, 8088))
    const done = await runCli(['analyze', RESULT, '--server-evidence', path])
    expect(done.code).toBe(2)
    expect(done.stderr.trim()).toBe(`connstorm analyze: --server-evidence: the watch '${path}' watched port 8088, the storm '${RESULT}' connected to port 45413`)
  })

  it('refuses a missing watch file', async () => {
    const done = await runCli(['analyze', RESULT, '--server-evidence', '/nonexistent/s.json'])
    expect(done.code).toBe(2)
    expect(done.stderr.trim()).toBe("connstorm analyze: --server-evidence: cannot read '/nonexistent/s.json' (ENOENT)")
  })

  it('refuses --server-evidence with several files in report', async () => {
    const done = await runCli(['report', RESULT, RESULT, '--server-evidence', file('s.json', watch())])
    expect(done.code).toBe(2)
    expect(done.stderr.trim()).toBe('connstorm report: --server-evidence: only with one FILE (the run the watch belongs to)')
  })
})
