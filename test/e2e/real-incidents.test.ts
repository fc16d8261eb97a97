import {execFile, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {promisify} from 'node:util'

import {describe, expect, it} from 'vitest'

import {RUN_JS, runCli} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'

/**
 * The gallery's real-server incidents: `connstorm reproduce NAME` starts the server (a Debian
 * package) in a server namespace with the incident's sysctls, stops it accepting the way it really
 * stalls, storms it from a client namespace (198.18.0.1 → 198.18.0.2), joins the watch of its port
 * as the server's evidence, and exits 0 when the advice is the incident's; 3 when it is not.
 * npm test's set-up installs the servers from Debian when missing (scripts/system-packages.sh).
 *
 * Each stall runs from 0.1 s before the burst until 2.5 s after it: the queue holds backlog + 1
 * (docs/kernel.md §1, §6), the other SYNs are dropped and retransmitted at 1 and 2 s
 * (tcp_syn_linear_timeouts=4 on this kernel: 1, 2, 3 … s, §2) while the server is still stalled;
 * their third retransmit, at 3 s, finds it accepting (their second, at 2 s, for connects that left
 * more than 0.5 s after the instant: 2,000 starts took 603 ms at load 12). So each run shows exactly
 * backlog + 1 connects at once, none on the 1 s step, and every other connect on a later one. A
 * storm that starts late on a loaded machine is run again by reproduce with a longer lead
 * (incidents/real-run.ts).
 */

/** The version line the server prints itself, for the incident's "server" line (never hard-coded: it is the machine's). */
function versionOf(argv: string[], pattern: RegExp): string {
  const done = spawnSync(argv[0]!, argv.slice(1), {encoding: 'utf8'})
  return pattern.exec(`${done.stdout}${done.stderr}`)?.[1] ?? 'not installed'
}

// Every storm waits ≤ ~3.5 s (the 3 s step plus the drain); the wall time is the namespaces, the
// server's start, three Node start-ups (reproduce, watch, storm) and the burst's 4 s lead — 13–17 s
// on an idle 2-core machine, 42–60 s with this file's runs side by side at load ~9, and a late storm
// is run again. The kill is a bound for a loaded machine (twice the worst seen), not an expectation.
const KILL_AFTER_MS = 120_000

/**
 * `connstorm reproduce …` with its own TMPDIR (os.tmpdir() reads it), so that what a run leaves
 * there is its own even with the other runs of this file beside it. Killed if it outlives KILL_AFTER_MS.
 */
async function reproduce(args: string[]): Promise<{code: number; stdout: string; stderr: string; leftovers: {files: string[]; processes: string[]}}> {
  const temporary = mkdtempSync(join(tmpdir(), 'connstorm-real-incidents-'))
  try {
    const run = await promisify(execFile)(process.execPath, [RUN_JS, ...args], {env: {...process.env, TMPDIR: temporary}, encoding: 'utf8', timeout: KILL_AFTER_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024}).then(
      ({stdout, stderr}) => ({code: 0, stdout, stderr}),
      (error: {code: number; stdout: string; stderr: string}) => ({code: error.code, stdout: error.stdout, stderr: error.stderr}),
    )
    return {...run, leftovers: {files: readdirSync(temporary), processes: processesUnder(temporary)}}
  } finally {
    rmSync(temporary, {recursive: true, force: true})
  }
}

/** Processes whose command line or working directory is under `directory` (the servers' configs and Redis's dir are there). */
function processesUnder(directory: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
      const cwd = readlinkSync(`/proc/${pid}/cwd`)
      if (cmdline.includes(directory) || cwd.startsWith(directory)) found.push(`${pid} ${cmdline}`)
    } catch {}
  }
  return found
}

const NEEDS_NAMESPACES = ['unshare', 'nsenter', 'ip', 'sysctl']

const INCIDENTS = [
  {
    name: 'nginx-default-backlog',
    burst: 2000,
    binary: 'nginx',
    version: () => versionOf(['nginx', '-v'], /nginx\/(\S+)/),
    server: (version: string) => `server    nginx ${version} (Debian package nginx-light) in the server's namespace: listen 198.18.0.2:8080;`,
    log: null,
    // 2,000 connects, a queue of 511 + 1: the other 1,488 waited for the stall's end (3 retransmits, or more
    // where the retransmitted wave overflowed the queue again while the worker caught up).
    atOnce: 512,
    peak: 'peak queue 512/511+1 (the accept queue was full)',
    backlog: "backlog   nginx asked listen() for 511; its listener got 511 (Send-Q, read by connstorm watch on the server's host)",
    // 2000 × 1.25 = 2500 → 4095 (2^n − 1 ≥ 2500); somaxconn 4096 does not cap it.
    advice: ['listen 80 backlog=4095;  # on each listen directive that takes the storm'],
    reproduced: 'reproduced: backlog 511 → 4095 (as expected)',
  },
  {
    name: 'redis-somaxconn-128',
    burst: 300,
    binary: 'redis-server',
    version: () => versionOf(['redis-server', '--version'], /v=(\S+)/),
    server: (version: string) => `server    Redis ${version} (Debian package redis-server) in the server's namespace: tcp-backlog 511`,
    // Redis itself says so at start (server.c checkTcpBacklogSettings), and goes on with 128.
    log: 'log       WARNING: The TCP backlog setting of 511 cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of 128.',
    atOnce: 129,
    peak: 'peak queue 129/128+1 (the accept queue was full)',
    backlog: "backlog   Redis asked listen() for 511; its listener got 128 (capped by net.core.somaxconn at listen()) (Send-Q, read by connstorm watch on the server's host)",
    // 300 × 1.25 = 375 → backlog 511, which somaxconn 128 caps: somaxconn 512 (≥ 511 + 1), and a restart.
    advice: ['tcp-backlog 511', 'sysctl -w net.core.somaxconn=512'],
    reproduced: 'reproduced: net.core.somaxconn 128 → 512 (as expected); backlog 128 → 511 (as expected)',
  },
  {
    name: 'gunicorn-busy-workers',
    burst: 200,
    binary: 'gunicorn',
    version: () => versionOf(['gunicorn', '--version'], /version (\S+?)\)/),
    server: (version: string) => `server    gunicorn ${version} (Debian package gunicorn) in the server's namespace: gunicorn --workers 2 --backlog 64 app:app`,
    log: null,
    atOnce: 65,
    peak: 'peak queue 65/64+1 (the accept queue was full)',
    backlog: "backlog   gunicorn asked listen() for 64; its listener got 64 (Send-Q, read by connstorm watch on the server's host)",
    // 200 × 1.25 = 250 → 255.
    advice: ['gunicorn --backlog 255 …'],
    reproduced: 'reproduced: backlog 64 → 255 (as expected)',
  },
  {
    name: 'tomcat-gc-pause',
    burst: 300,
    binary: '/usr/share/tomcat10/bin/catalina.sh',
    version: () => versionOf(['/usr/share/tomcat10/bin/version.sh'], /Apache Tomcat\/(\S+)/),
    server: (version: string) => `server    Tomcat ${version} (Debian package tomcat10) in the server's namespace: <Connector port="8080" address="198.18.0.2" protocol="HTTP/1.1" />`,
    log: null,
    atOnce: 101,
    peak: 'peak queue 101/100+1 (the accept queue was full)',
    backlog: "backlog   Tomcat asked listen() for 100; its listener got 100 (Send-Q, read by connstorm watch on the server's host)",
    // 300 × 1.25 = 375 → 511.
    advice: ['server.tomcat.accept-count=511   # Spring Boot application.properties', '<Connector … acceptCount="511" />   # Tomcat server.xml'],
    reproduced: 'reproduced: backlog 100 → 511 (as expected)',
  },
] as const

describe.concurrent('real-server incidents: reproduce NAME runs the server in a namespace of its own and matches the incident’s diagnosis', {timeout: KILL_AFTER_MS + 10_000}, () => {
  for (const incident of INCIDENTS) {
    const server = incident.binary.startsWith('/') ? {tools: NEEDS_NAMESPACES, files: [incident.binary]} : {tools: [...NEEDS_NAMESPACES, incident.binary]}
    it.skipIf(skipUnless({root: true, ...server}, `the ${incident.name} incident`))(
      `${incident.name}: exit 0; the server and its version, ${incident.atOnce} connects at once and the other ${incident.burst - incident.atOnce} after the stall, the server's queue full at backlog + 1, the incident's advice; nothing left behind`,
      async ({expect}) => {
        const run = await reproduce(['reproduce', incident.name])
        expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0)
        const out = run.stdout
        expect(out).toContain(`\n${incident.server(incident.version())}\n`)
        if (incident.log !== null) expect(out).toContain(`\n${incident.log}\n`)
        // The ladder table (retransmits, SYN sent at, connects): `atOnce` on step 0; every other connect
        // on a later step, none on the 1 s one (the server was still stalled until 2.5 s).
        const steps = Object.fromEntries([...out.matchAll(/^ +(\d+) +\d+ s +(\d+) /gm)].map((row) => [row[1]!, Number(row[2])]))
        expect(steps['0']).toBe(incident.atOnce)
        expect(steps['1']).toBeUndefined()
        expect(Object.values(steps).reduce((sum, connects) => sum + connects, 0)).toBe(incident.burst)
        expect(out).toContain(`verdict   server side: ${incident.peak}; the listener dropped `)
        // The client's namespace holds the storm alone: its counters are its own, and agree.
        expect(out).toContain('\nkernel    netns isolated; TcpExtTCPSynRetrans +')
        expect(out).toMatch(/kernel counters agree \((\d+) = \1 TcpExtTCPSynRetrans\)/)
        // The server's side is printed once, inside the run report, before the advice.
        expect(out.split('verdict   server side:')).toHaveLength(2)
        expect(out.indexOf('verdict   server side:')).toBeLessThan(out.indexOf('\nadvice'))
        expect(out).toContain(`\n${incident.backlog}\n`)
        for (const line of incident.advice) expect(out).toContain(`\n      ${line}\n`)
        expect(out.trimEnd().endsWith(`\n${incident.reproduced}`)).toBe(true)
        // Its server, watch and storm ended by PID, their temporary directories removed.
        expect(run.leftovers).toEqual({files: [], processes: []})
      },
    )
  }

  it.skipIf(skipUnless({root: true, tools: [...NEEDS_NAMESPACES, 'redis-server']}, 'the wrong-signature run'))(
    'a deliberately wrong expected diagnosis (Redis keeps its 511) makes the same run exit 3, NOT reproduced, naming what the run advised',
    async ({expect}) => {
      const run = await reproduce(['reproduce', 'redis-somaxconn-128', '--signature', 'backlog:511:higher', '--json'])
      expect(run.code, run.stderr).toBe(3)
      const result = JSON.parse(run.stdout) as {signature: {reproduced: boolean; lines: string[]}; server: {effectiveBacklog: number}}
      expect(result.signature).toEqual({reproduced: false, lines: ["expected backlog 511 → a higher value; the run's advice: backlog 128 → 511"]})
      expect(result.server.effectiveBacklog).toBe(128)
    },
  )

  it.skipIf(skipUnless({root: true, tools: [...NEEDS_NAMESPACES, 'nginx']}, 'the interrupted run'))(
    'Ctrl-C in the middle (SIGINT while nginx’s worker is stopped or the storm runs): exit 130, the worker resumed and ended with nginx, nothing left behind',
    async ({expect}) => {
      const temporary = mkdtempSync(join(tmpdir(), 'connstorm-real-incidents-'))
      try {
        const child = spawn(process.execPath, [RUN_JS, 'reproduce', 'nginx-default-backlog'], {env: {...process.env, TMPDIR: temporary}, stdio: 'ignore'})
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
        // nginx is up once a process runs with its config in our TMPDIR; the burst's instant is 4 s after the watch is up.
        const deadline = Date.now() + 60_000
        while (!processesUnder(temporary).some((line) => line.includes('nginx')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
        await new Promise((resolve) => setTimeout(resolve, 5000))
        child.kill('SIGINT')
        expect(await exited).toBe(130)
        expect({files: readdirSync(temporary), processes: processesUnder(temporary)}).toEqual({files: [], processes: []})
      } finally {
        rmSync(temporary, {recursive: true, force: true})
      }
    },
  )
})

describe('real-server incidents without their server, and in the list', () => {
  it('a missing server binary is one line naming its Debian package, exit 2, before anything is started', async () => {
    // PATH without /usr/sbin (where Debian puts nginx) and /sbin: nginx is not found.
    const path = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')
    const run = await promisify(execFile)(process.execPath, [RUN_JS, 'reproduce', 'nginx-default-backlog'], {env: {...process.env, PATH: path}, encoding: 'utf8'}).then(
      () => ({code: 0, stdout: '', stderr: ''}),
      (error: {code: number; stdout: string; stderr: string}) => error,
    )
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe("connstorm reproduce: nginx-default-backlog: needs nginx ('nginx' is not on PATH): install the Debian package nginx-light (apt-get install nginx-light)\n")
  })

  it.skipIf(skipUnless({root: true, tools: ['setpriv', 'redis-server']}, 'the run as another user'))('run by a user who is not root: one line saying it needs root and why, exit 2, before anything is started', async () => {
    // As nobody (65534), with the server installed: the root check comes after the server's.
    const run = await promisify(execFile)('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, RUN_JS, 'reproduce', 'redis-somaxconn-128'], {encoding: 'utf8', env: {...process.env, HOME: tmpdir()}}).then(
      () => ({code: 0, stdout: '', stderr: ''}),
      (error: {code: number; stdout: string; stderr: string}) => error,
    )
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe('connstorm reproduce: redis-somaxconn-128: needs root (it runs Redis and the storm in two network namespaces of their own)\n')
  })

  it('a malformed --signature (the tests’ way to give a wrong expectation) is one line and exit 2, before anything is started', async () => {
    const run = await runCli(['reproduce', 'redis-somaxconn-128', '--signature', 'backlog:511'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe("connstorm reproduce: --signature: invalid value 'backlog:511': expected KNOB:CURRENT:PROPOSED, PROPOSED a value, higher or kept (e.g. backlog:511:higher)\n")
  })

  it('--list names each real-server incident’s server, its Debian package and the version it was reproduced with', async () => {
    const run = await runCli(['reproduce', '--list', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const {incidents} = JSON.parse(run.stdout) as {incidents: {name: string; server?: {name: string; debianPackage: string; reproducedWith: string}}[]}
    expect(incidents.filter((incident) => incident.server !== undefined)).toEqual([
      {name: 'nginx-default-backlog', symptom: expect.any(String), expected: expect.any(String), server: {name: 'nginx', debianPackage: 'nginx-light', reproducedWith: 'nginx 1.22.1 (Debian 12, nginx-light), Linux 6.18'}},
      {name: 'redis-somaxconn-128', symptom: expect.any(String), expected: expect.any(String), server: {name: 'Redis', debianPackage: 'redis-server', reproducedWith: 'Redis 7.0.15 (Debian 12, redis-server), Linux 6.18'}},
      {name: 'gunicorn-busy-workers', symptom: expect.any(String), expected: expect.any(String), server: {name: 'gunicorn', debianPackage: 'gunicorn', reproducedWith: 'gunicorn 20.1.0 (Debian 12, python3 3.11), Linux 6.18'}},
      {name: 'tomcat-gc-pause', symptom: expect.any(String), expected: expect.any(String), server: {name: 'Tomcat', debianPackage: 'tomcat10', reproducedWith: 'Apache Tomcat 10.1.60 (Debian 12, tomcat10, OpenJDK 17), Linux 6.18'}},
    ])
    const text = await runCli(['reproduce', '--list'])
    expect(text.stdout).toContain('\n  server:   Redis (Debian package redis-server), in a namespace of its own; reproduced with Redis 7.0.15 (Debian 12, redis-server), Linux 6.18\n')
  })
})
