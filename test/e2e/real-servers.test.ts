import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {skipUnless} from '../helpers/requirements.js'

const NGINX_DRIVER = fileURLToPath(new URL('real-servers/nginx-driver.mjs', import.meta.url))

interface Storm {
  connected: number
  failed: number
  /** ladder step (SYN retransmits) → connects */
  steps: Record<string, number>
  listenOverflows: number | null
}

interface NginxRun {
  backlogBefore: number[]
  before: Storm
  advice: {current: string; proposed: string | null; lines: string[]}
  applyNote: string | null
  backlogAfter: number[]
  after: Storm
  error?: string
  log: string
}

/**
 * Advice proven on a real server: the line connstorm prints for nginx, pasted into nginx.conf and
 * applied as the advice says (a reload), ends the SYN loss the same storm met before. Each run is
 * in a network namespace of its own (loopback only, no route out), which goes with its processes:
 * the driver ends nginx by PID before it exits. npm test's set-up installs nginx (Debian's
 * nginx-light) when missing.
 */
describe.skipIf(skipUnless({root: true, tools: ['nginx', 'unshare', 'ip']}, 'the real-server advice tests'))('advice applied to a real server', () => {
  it('nginx, listen … backlog=32, its worker stopped 2.5 s: 33 in at once, the rest retransmitted; the printed backlog=255 applied by a reload (inspect shows 255); the same storm again: all 150 at once, no overflow', () => {
    const directory = mkdtempSync(join(tmpdir(), 'connstorm-nginx-'))
    try {
      const run = spawnSync('unshare', ['--net', '--', process.execPath, NGINX_DRIVER, directory], {encoding: 'utf8', timeout: 90_000})
      expect(run.status, run.stderr).toBe(0)
      const result = JSON.parse(run.stdout) as NginxRun
      expect(result.error, result.log).toBeUndefined()
      expect(result.backlogBefore).toEqual([32])
      // The accept queue holds backlog + 1 (docs/kernel.md §1): 33 at once, the other 117 after ≥ 1 retransmit.
      expect(result.before.steps['0']).toBe(33)
      expect(result.before.connected).toBe(150)
      expect(Object.entries(result.before.steps).filter(([k]) => k !== '0').reduce((sum, [, n]) => sum + n, 0)).toBe(117)
      expect(result.before.listenOverflows).toBeGreaterThan(0)
      // 150 × 1.25 = 187.5 → a queue of 256: backlog 255, in nginx's syntax, applied by a reload.
      expect(result.advice).toMatchObject({current: '32', proposed: '255'})
      expect(result.advice.lines[0]).toMatch(/^listen 80 backlog=255;/)
      expect(result.applyNote).toMatch(/nginx -s reload re-calls listen\(\) with the new value on every listener whose backlog= changed/)
      expect(result.backlogAfter).toEqual([255])
      expect(result.after).toEqual({connected: 150, failed: 0, steps: {'0': 150}, listenOverflows: 0})
    } finally {
      rmSync(directory, {recursive: true, force: true})
    }
  })
})
