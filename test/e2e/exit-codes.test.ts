import {cpSync, mkdtempSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {spawnSync} from 'node:child_process'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FIXTURE = join(ROOT, 'test/fixtures/results/lab-burst.json')

describe('exit 1 is an unexpected error, never a verdict on the service', () => {
  it('a broken install (its compiled result schema missing) exits 1 with a line that says so, where a failed threshold exits 99', () => {
    // A real breakage, not a simulated one: a copy of the built CLI without its schema/ directory (the compiled validator lives there).
    const install = mkdtempSync(join(tmpdir(), 'connstorm-broken-'))
    try {
      for (const entry of ['bin', 'dist', 'package.json', 'oclif.manifest.json']) cpSync(join(ROOT, entry), join(install, entry), {recursive: true})
      symlinkSync(join(ROOT, 'node_modules'), join(install, 'node_modules'))
      const run = spawnSync(process.execPath, [join(install, 'bin/run.js'), 'analyze', FIXTURE], {encoding: 'utf8', timeout: 30_000})
      expect(run.status).toBe(1)
      expect(run.stderr).toMatch(/^connstorm analyze: unexpected error, a bug in connstorm or a broken install \(exit 1\); please report it with the lines below$/m)
      expect(run.stderr).toMatch(/result-v1\.validate\.cjs/)
      expect(run.stdout).toBe('')
    } finally {
      rmSync(install, {recursive: true, force: true})
    }
  })

  it('the same file read by the intact install exits 0', async () => {
    const run = await runCli(['analyze', FIXTURE])
    expect(run.code, run.stderr).toBe(0)
  })
})
