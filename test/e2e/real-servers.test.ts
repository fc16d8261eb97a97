import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

import {describe, expect, it} from 'vitest'

import {skipUnless} from '../helpers/requirements.js'

const DRIVER = fileURLToPath(new URL('real-servers/driver.mjs', import.meta.url))

interface Storm {
  connected: number
  failed: number
  /** ladder step (SYN retransmits) → connects */
  steps: Record<string, number>
  listenOverflows: number | null
}

interface ServerRun {
  backlogBefore: number[]
  before: Storm
  advice: {current: string; proposed: string | null; lines: string[]}
  applied: number
  appliedBy: 'reload' | 'restart'
  applyNote: string
  backlogAfter: number[]
  after: Storm
  withoutRestart?: {said: string; backlogs: number[]}
  error?: string
  log: string
}

interface SomaxconnRun {
  atStart: number[]
  before: Storm
  advice: {current: string; proposed: string | null; lines: string[]}
  afterSysctl: number[]
  afterReload: number[]
  afterRestart: number[]
  after: Storm
  error?: string
}

/**
 * Advice proven on real servers: each listens on loopback with backlog 32 in its own syntax, its
 * accepting process is stopped while a burst of 150 fills its queue (and 1.5 s longer), and the backlog line
 * connstorm prints for it (--server NAME) is pasted into its config and applied the way the advice
 * says — a reload for nginx (it re-listens a changed backlog=), a restart (stop, start) for Redis
 * (tcp-backlog is immutable), HAProxy (a reload hands over the old socket), memcached, gunicorn and
 * uvicorn (command-line options), Tomcat (acceptCount is passed to bind() at start), PostgreSQL
 * (max_connections), Apache (graceful and restart keep the old socket) and a Go program
 * (no backlog of its own: somaxconn, read once per process). Each run is in a network namespace
 * of its own (loopback only, no route out) that goes with its processes: the driver ends the server
 * by PID. npm test's set-up installs the servers from Debian when missing.
 */
const SERVERS = [
  {name: 'nginx', binary: 'nginx', line: /^listen 80 backlog=255;/, appliedBy: 'reload', knob: 'backlog', proposed: 255},
  {name: 'redis', binary: 'redis-server', line: /^tcp-backlog 255$/, appliedBy: 'restart', knob: 'backlog', proposed: 255},
  {name: 'haproxy', binary: 'haproxy', line: /^backlog 255 /, appliedBy: 'restart', knob: 'backlog', proposed: 255},
  {name: 'memcached', binary: 'memcached', line: /^memcached -b 255 /, appliedBy: 'restart', knob: 'backlog', proposed: 255},
  {name: 'apache', binary: 'apache2', line: /^ListenBacklog 255$/, appliedBy: 'restart', knob: 'backlog', proposed: 255},
  {name: 'gunicorn', binary: 'gunicorn', line: /^gunicorn --backlog 255 /, appliedBy: 'restart', knob: 'backlog', proposed: 255},
  {name: 'uvicorn', binary: '/usr/bin/python3', line: /^uvicorn --backlog 255 /, appliedBy: 'restart', knob: 'backlog', proposed: 255},
  // Go listens with somaxconn (no backlog of its own): 32 in the namespace, then the printed sysctl
  // (a queue of 256 holds the 187.5 the burst needs: somaxconn 256, not a 2^n − 1 backlog).
  // PostgreSQL 15 listens with 2 × all backends: max_connections 4 → 52 before; the printed
  // max_connections = 128 → 2 × (128 + 22) = 300 after (16+ would give 256).
  {name: 'postgres', binary: '/usr/lib/postgresql/15/bin/postgres', line: /^max_connections = 128 /, appliedBy: 'restart', knob: 'backlog', proposed: 255, before: 52, after: 300},
  {name: 'tomcat', binary: '/usr/share/tomcat10/bin/catalina.sh', line: /^server\.tomcat\.accept-count=255 /, appliedBy: 'restart', knob: 'backlog', proposed: 255},
  {name: 'go', binary: 'go', line: /^sysctl -w net\.core\.somaxconn=256$/, appliedBy: 'restart', knob: 'net.core.somaxconn', proposed: 256},
] as const

describe.concurrent('advice applied to a real server: the printed backlog line ends the SYN loss of the same storm', () => {
  for (const server of SERVERS) {
    it.skipIf(skipUnless({root: true, tools: [server.binary, 'unshare', 'ip']}, `the ${server.name} advice test`))(
      `${server.name}: backlog + 1 in at once, the rest on a retransmit step; ${server.knob} → ${server.proposed} printed, applied by a ${server.appliedBy} (inspect shows it); then all 150 at once, no overflow`,
      {timeout: 90_000},
      async ({expect}) => {
        const directory = mkdtempSync(join(tmpdir(), `connstorm-${server.name}-`))
        try {
          // Not spawnSync: the servers run side by side, each in its namespace, mostly waiting on its stall.
          const run = await promisify(execFile)('unshare', ['--net', '--', process.execPath, DRIVER, server.name, directory], {encoding: 'utf8', timeout: 80_000})
          const result = JSON.parse(run.stdout) as ServerRun
          expect(result.error, result.log).toBeUndefined()
          const before = 'before' in server ? server.before : 32
          expect(result.backlogBefore).toEqual([before])
          // The accept queue holds backlog + 1 (docs/kernel.md §1); the others waited for ≥ 1 retransmit.
          expect(result.before.steps['0']).toBe(before + 1)
          expect(Object.keys(result.before.steps).some((k) => k !== '0')).toBe(true)
          expect(result.before.listenOverflows).toBeGreaterThan(0)
          // 150 × 1.25 = 187.5 → a queue of 256: backlog 255, in the server's own syntax.
          expect(result.advice).toMatchObject({current: String(before), proposed: String(server.proposed)})
          expect(result.advice.lines[0]).toMatch(server.line)
          expect(result).toMatchObject({appliedBy: server.appliedBy, backlogAfter: ['after' in server ? server.after : server.proposed]})
          expect(result.after).toEqual({connected: 150, failed: 0, steps: {'0': 150}, listenOverflows: 0})
          // Redis: CONFIG SET is refused and the listener keeps 32 until the restart (its advice says restart).
          if (server.name === 'redis') expect(result.withoutRestart).toEqual({said: expect.stringMatching(/ERR .*tcp-backlog/), backlogs: [32]})
        } finally {
          rmSync(directory, {recursive: true, force: true})
        }
      },
    )
  }

  // nginx `reuseport` with 4 workers: four listening sockets on one port, each with its own queue,
  // and the kernel hashes each connect to one of them (docs/kernel.md §16).
  it.skipIf(skipUnless({root: true, tools: ['nginx', 'unshare', 'ip']}, 'the nginx reuseport group'))(
    'nginx reuseport × 4 workers, backlog=8, all stopped: 4 × (8+1) = 36 in at once; each listener is advised 127 for its share (not 255 for the whole burst), applied by a reload; then all 200 at once',
    {timeout: 90_000},
    async () => {
      const directory = mkdtempSync(join(tmpdir(), 'connstorm-reuseport-'))
      try {
        const run = await promisify(execFile)('unshare', ['--net', '--', process.execPath, DRIVER, 'nginx', directory, 'reuseport'], {encoding: 'utf8', timeout: 80_000})
        const result = JSON.parse(run.stdout) as ServerRun & {before: Storm & {group?: number[]}; after: Storm & {group?: number[]}; advice: {evidence: string[]}}
        expect(result.error, result.log).toBeUndefined()
        expect(result.backlogBefore).toEqual([8, 8, 8, 8])
        expect(result.before.group).toEqual([8, 8, 8, 8])
        // 200 over 4 queues of 9: each gets ~50, so all four fill: exactly 36 at once.
        expect(result.before.steps['0']).toBe(36)
        expect(result.advice.evidence).toContain('36 connects were admitted at once (= 4 listeners × (backlog 8 + 1) sharing the port with SO_REUSEPORT, when the application is not accepting)')
        // Each listener's share: 50 + 4σ (σ = √(200 · ¼ · ¾) = 6.12) → 75, × 1.25 = 94 → 127.
        expect(result.advice).toMatchObject({current: '8', proposed: '127'})
        expect(result.advice.lines[0]).toMatch(/^listen 80 backlog=127;/)
        expect(result).toMatchObject({appliedBy: 'reload', backlogAfter: [127, 127, 127, 127]})
        expect(result.after).toEqual({connected: 200, failed: 0, steps: {'0': 200}, listenOverflows: 0, group: [127, 127, 127, 127]})
      } finally {
        rmSync(directory, {recursive: true, force: true})
      }
    },
  )

  // somaxconn caps a backlog when listen() is called, and only then (docs/kernel.md §6).
  it.skipIf(skipUnless({root: true, tools: ['nginx', 'unshare', 'ip']}, 'the somaxconn sequence'))(
    'backlog=511 under somaxconn 128 listens with 128; the printed sysctl line and a reload with backlog= unchanged leave it 128, as the advice says; a restart gives 511 and the same storm then gets all 300 in at once',
    {timeout: 90_000},
    async () => {
      const directory = mkdtempSync(join(tmpdir(), 'connstorm-somaxconn-'))
      try {
        const run = await promisify(execFile)('unshare', ['--net', '--', process.execPath, DRIVER, 'nginx', directory, 'somaxconn'], {encoding: 'utf8', timeout: 80_000})
        const result = JSON.parse(run.stdout) as SomaxconnRun
        expect(result.error).toBeUndefined()
        expect(result.atStart).toEqual([128])
        // The queue holds 128 + 1 (docs/kernel.md §1); the other 171 of the 300 waited for a retransmit.
        expect(result.before.steps['0']).toBe(129)
        // 300 × 1.25 = 375 → backlog 511, which somaxconn 128 caps: raise it to 512 (≥ 511 + 1).
        expect(result.advice).toMatchObject({current: '128', proposed: '512'})
        expect(result.advice.lines[0]).toBe('sysctl -w net.core.somaxconn=512')
        expect(result.advice.lines.at(-1)).toMatch(/A reload does NOT re-listen a socket whose backlog= is unchanged, so after raising net\.core\.somaxconn either change backlog= as well and reload, or restart nginx$/)
        expect(result.afterSysctl).toEqual([128])
        expect(result.afterReload).toEqual([128])
        expect(result.afterRestart).toEqual([511])
        expect(result.after).toEqual({connected: 300, failed: 0, steps: {'0': 300}, listenOverflows: 0})
      } finally {
        rmSync(directory, {recursive: true, force: true})
      }
    },
  )
})
