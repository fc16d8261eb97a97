import {spawn} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {skipUnless} from '../helpers/requirements.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// The version is a stated input (package.json), not something the code under test computes.
const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

function run(command: string, args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {...options, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}

/**
 * The package as a user gets it: `npm pack` (its prepack and postpack scripts included) and
 * `npm install -g` of the tarball into a prefix of its own. The pack runs in a copy of this
 * checkout without dist/ and the manifest, as a fresh clone is, so prepack has to build them;
 * and postpack's removal of oclif.manifest.json does not touch this checkout (the test files that
 * run after this one would start slower). The copy shares node_modules (a link) for the build.
 */
describe.skipIf(skipUnless({tools: ['npm']}, 'the packaging test'))('the npm package, packed and installed globally', () => {
  let work = ''
  let checkout = ''
  let prefix = ''
  let files: string[] = []
  let installOutput = ''
  let cliEnv: NodeJS.ProcessEnv = {}
  const connstorm = (...args: string[]): Promise<Ran> => run(path.join(prefix, 'bin', 'connstorm'), args, {env: cliEnv})

  // Measured on 2 busy cores: the pack ~12 s (tsc and the manifest), the install ~12 s (the
  // dependencies come from npm's cache with --prefer-offline; node-gyp compiles the addon, ~6 s).
  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'connstorm-package-'))
    checkout = path.join(work, 'checkout')
    prefix = path.join(work, 'prefix')
    const skipped = new Set(['node_modules', '.git', 'dist', 'oclif.manifest.json', 'build', 'reports', '.stryker-tmp', '.bench'])
    cpSync(ROOT, checkout, {recursive: true, filter: (source) => !skipped.has(path.relative(ROOT, source))})
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'))

    const pack = await run('npm', ['pack', '--json', '--pack-destination', work], {cwd: checkout})
    expect(pack.code, pack.stderr).toBe(0)
    const [packed] = JSON.parse(pack.stdout) as [{filename: string; files: {path: string}[]}]
    files = packed.files.map((file) => file.path)

    mkdirSync(prefix)
    const install = await run('npm', ['install', '--global', '--prefix', prefix, path.join(work, packed.filename), '--foreground-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {cwd: work})
    installOutput = install.stdout + install.stderr
    expect(install.code, installOutput).toBe(0)

    // oclif's autocomplete writes its cache under XDG_CACHE_HOME: kept inside the temp directory.
    cliEnv = {...process.env, HOME: work, XDG_CACHE_HOME: path.join(work, 'cache')}
  }, 300_000)

  afterAll(() => {
    if (work !== '') rmSync(work, {recursive: true, force: true})
  })

  it('ships the compiled commands and the oclif manifest, and neither source maps nor the build stamp', () => {
    expect(files).toContain('dist/commands/storm.js')
    expect(files).toContain('dist/hooks/command-not-found.js')
    expect(files).toContain('oclif.manifest.json')
    expect(files.filter((file) => file.endsWith('.map') || file === 'dist/.build-stamp.json')).toEqual([])
  })

  it('builds dist/ when packing a checkout without it, and leaves no oclif manifest there (postpack)', () => {
    expect(existsSync(path.join(checkout, 'oclif.manifest.json'))).toBe(false)
    expect(existsSync(path.join(checkout, 'dist', 'commands', 'storm.js'))).toBe(true)
  })

  it('builds the native connect loop at install, or says that it connects from JavaScript instead', () => {
    const built = existsSync(path.join(prefix, 'lib', 'node_modules', 'connstorm', 'build', 'Release', 'connstorm.node'))
    expect(built || installOutput.includes('the native connect loop was not built'), installOutput).toBe(true)
  })

  it.concurrent('`connstorm -v` prints connstorm/<version>', async () => {
    const {code, stdout} = await connstorm('-v')
    expect(code).toBe(0)
    expect(stdout.startsWith(`connstorm/${version} `)).toBe(true)
  })

  it.concurrent('`connstorm help storm` prints storm\'s summary', async () => {
    const {code, stdout} = await connstorm('help', 'storm')
    expect(code).toBe(0)
    expect(stdout).toContain('Fire a burst, a rate or waves of TCP connects and report how long each took')
  })

  // 5 connects against the built-in lab's backlog 8: all fit the accept queue (8 + 1) at once.
  it.concurrent('`connstorm storm --burst 5 --json` connects 5 of 5 to the built-in lab', async () => {
    const {code, stdout, stderr} = await connstorm('storm', '--burst', '5', '--json')
    expect(code, stderr).toBe(0)
    const result = JSON.parse(stdout) as {counts: {attempted: number; connected: number}}
    expect(result.counts.attempted).toBe(5)
    expect(result.counts.connected).toBe(5)
  })

  it.concurrent('`connstorm autocomplete bash` writes a bash completion that knows storm and its flags', async () => {
    const {code, stderr} = await connstorm('autocomplete', 'bash')
    expect(code, stderr).toBe(0)
    const completion = readFileSync(path.join(work, 'cache', 'connstorm', 'autocomplete', 'functions', 'bash', 'connstorm.bash'), 'utf8')
    expect(completion).toMatch(/^storm --json --burst --rate /m)
    const setup = await connstorm('autocomplete', 'script', 'bash')
    expect(setup.stdout).toContain(path.join(work, 'cache', 'connstorm', 'autocomplete', 'bash_setup'))
  })
})
