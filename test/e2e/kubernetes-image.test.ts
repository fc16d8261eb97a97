import {spawnSync} from 'node:child_process'
import {accessSync, constants, cpSync, existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, describe, expect, it} from 'vitest'

/**
 * The image of examples/kubernetes without docker (docs/kubernetes.md §2): `docker build` cannot
 * run here, so this runs what the Dockerfile's build stage runs — the one script its RUN line
 * calls — on a clean copy of the build context (the repository minus Dockerfile.dockerignore),
 * into a clean directory, and checks that what the final stage copies is what the pods run.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const EXAMPLE = join(ROOT, 'examples/kubernetes')
const work = mkdtempSync(join(tmpdir(), 'connstorm-image-'))
afterAll(() => rmSync(work, {recursive: true, force: true}))

interface Stage {
  from: string
  lines: string[]
}

/** The Dockerfile's stages, each with its instructions (comments and blank lines left out). */
function stages(): Stage[] {
  const result: Stage[] = []
  for (const line of readFileSync(join(EXAMPLE, 'Dockerfile'), 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue
    if (line.startsWith('FROM ')) result.push({from: line, lines: []})
    else result.at(-1)!.lines.push(line)
  }
  return result
}

/** The build context docker would send: the repository without what Dockerfile.dockerignore names. */
function copyContext(to: string): void {
  const ignored = readFileSync(join(EXAMPLE, 'Dockerfile.dockerignore'), 'utf8').split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'))
  cpSync(ROOT, to, {recursive: true, filter: (source) => !ignored.includes(relative(ROOT, source))})
}

describe('the image\'s build stage, run without docker', () => {
  const [build, image] = stages()

  it('has two stages: the build stage with a compiler, the image without one, running as a non-root user', () => {
    expect(stages()).toHaveLength(2)
    expect(build!.from).toBe('FROM node:20-bookworm AS build')
    expect(image!.from).toBe('FROM node:20-bookworm-slim')
    // The only package the image installs is iproute2 (ss): no compiler, make or python.
    expect(image!.lines.filter((line) => line.startsWith('RUN '))).toEqual([
      'RUN apt-get update && apt-get install -y --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*',
    ])
    expect(image!.lines).toContain('COPY --from=build /opt/connstorm /opt/connstorm')
    expect(image!.lines).toContain('USER node')
    expect(image!.lines.at(-1)).toBe('ENTRYPOINT ["/opt/connstorm/pod.sh"]')
  })

  it('builds into a clean directory what the image copies: the CLI, its production dependencies, the native connect loop and the entrypoint', async () => {
    // The build stage: WORKDIR /src, COPY . ., then one RUN, the script with /src and /opt/connstorm.
    expect(build!.lines).toEqual(['WORKDIR /src', 'COPY . .', 'RUN sh examples/kubernetes/build-image.sh /src /opt/connstorm'])
    const context = join(work, 'src')
    const dest = join(work, 'opt-connstorm')
    copyContext(context)
    expect(existsSync(join(context, 'node_modules'))).toBe(false)
    const run = spawnSync('sh', ['examples/kubernetes/build-image.sh', context, dest], {cwd: context, encoding: 'utf8'})
    expect(run.status, run.stderr).toBe(0)

    expect(existsSync(join(dest, 'build/Release/connstorm.node'))).toBe(true)
    expect(readFileSync(join(dest, 'pod.sh'), 'utf8')).toBe(readFileSync(join(EXAMPLE, 'pod.sh'), 'utf8'))
    accessSync(join(dest, 'pod.sh'), constants.X_OK)
    // No dev dependency in the image (the TypeScript compiler, vitest).
    expect(existsSync(join(dest, 'node_modules/typescript'))).toBe(false)
    expect(existsSync(join(dest, 'node_modules/vitest'))).toBe(false)

    // The installed CLI storms through the native connect loop (its built-in lab as the target).
    const storm = spawnSync(process.execPath, [join(dest, 'bin/run.js'), 'storm', '--burst', '5', '--json'], {encoding: 'utf8', timeout: 30_000})
    expect(storm.status, storm.stderr).toBe(0)
    const result = JSON.parse(storm.stdout) as {self: {connectPath: string}; counts: {attempted: number}}
    expect([result.self.connectPath, result.counts.attempted]).toEqual(['native', 5])

    // The entrypoint finds the CLI beside itself, as at /opt/connstorm/pod.sh.
    const entry = spawnSync(join(dest, 'pod.sh'), ['merge'], {encoding: 'utf8', env: {PATH: process.env.PATH!, RESULTS: work, SHARDS: '1', START_AT: '2026-12-06T15:00:00Z'}})
    expect(entry.status).toBe(2)
    expect(entry.stderr).toBe("pod.sh: the first argument is storm or collect, not 'merge'\n")
  }, 120_000)

  it('refuses a context without dist/ in one line, exit 2', () => {
    const empty = mkdtempSync(join(work, 'empty-'))
    const run = spawnSync('sh', [join(EXAMPLE, 'build-image.sh'), empty, join(empty, 'dest')], {encoding: 'utf8'})
    expect(run.status).toBe(2)
    expect(run.stderr).toBe(`build-image.sh: ${empty} has no dist/: run npm ci && npm run build first\n`)
    expect(existsSync(join(empty, 'dest'))).toBe(false)
  })
})

