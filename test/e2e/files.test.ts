import {type ChildProcess, spawn} from 'node:child_process'
import {copyFileSync, linkSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {type Server, type Socket, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {type CliResult, RUN_JS, runCli, waitFor} from '../helpers/cli.js'

/**
 * Result files that cannot lie, and pipes that stay parseable: a file that is truncated, edited
 * into impossible numbers, or given twice to merge is refused with one line on stderr and exit 2;
 * a storm killed mid-run leaves nothing at its --out path; `-` reads stdin and `--out -` writes
 * stdout with nothing else on it.
 */

const FIXTURES = fileURLToPath(new URL('../fixtures/results/', import.meta.url))
const STACK_TRACE = /\n\s+at |Error: .*\n.*at /

let tmp: string

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'connstorm-files-'))
})

afterEach(() => {
  rmSync(tmp, {recursive: true, force: true})
})

/** A saved run from the fixtures, as an object to edit and write back. */
function fixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8')) as Record<string, any>
}

function writeJson(name: string, data: unknown): string {
  const path = join(tmp, name)
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`)
  return path
}

/** The whole refusal rule: one line on stderr, exactly `line`, exit 2, no stack, nothing on stdout. */
function expectRefusal(run: CliResult, line: string): void {
  const context = `exit ${run.code} (signal ${run.signal})\nstderr: ${JSON.stringify(run.stderr)}\nstdout: ${JSON.stringify(run.stdout.slice(0, 500))}`
  expect(run.code, context).toBe(2)
  expect(run.stderr, context).not.toMatch(STACK_TRACE)
  expect(run.stderr, context).toBe(`${line}\n`)
  expect(run.stdout, context).toBe('')
}

describe('a result file is read only when it is whole and its numbers agree', () => {
  it('a valid file: analyze prints its report and exits 0', async () => {
    const file = join(tmp, 'run.json')
    copyFileSync(`${FIXTURES}lab-burst.json`, file)
    const run = await runCli(['analyze', file])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(readFileSync(`${FIXTURES}lab-burst.analyze.txt`, 'utf8'))
  })

  it('a file truncated at a byte offset, as a killed non-atomic writer leaves it, is refused with one line and exit 2', async () => {
    const whole = readFileSync(`${FIXTURES}lab-burst.json`)
    const file = join(tmp, 'cut.json')
    // Cut inside the histograms, well past the first bytes: valid JSON up to there, then nothing.
    writeFileSync(file, whole.subarray(0, 4096))
    expectRefusal(await runCli(['analyze', file]), `connstorm analyze: FILE: '${file}' is not JSON (truncated, or not a connstorm result)`)
  })

  it('a file whose counts contradict each other is refused with one line naming the fields, and exit 2', async () => {
    // 20 attempted, all connected (probe.json); edited to claim 999 connected: the report would say "connected 999 (4995.0%)".
    const run = fixture('probe')
    run.counts.byOutcome.connected = 999
    const file = writeJson('edited.json', run)
    expectRefusal(await runCli(['analyze', file]), `connstorm analyze: FILE: '${file}' contradicts itself: counts.byOutcome.connected is 999 but counts.connected is 20`)
  })

  it("a file whose histogram total does not match the counts it summarises is refused with one line and exit 2", async () => {
    // lab-burst: 100 connected; probe.json's fromActual histogram holds its 20 connects.
    const run = fixture('lab-burst')
    run.histograms.fromActual = fixture('probe').histograms.fromActual
    const file = writeJson('swapped.json', run)
    expectRefusal(await runCli(['analyze', file]), `connstorm analyze: FILE: '${file}' contradicts itself: histograms.fromActual holds 20 values but counts.connected is 100`)
  })
})

describe('merge takes each file once', () => {
  // Each would count the same connects twice; the refusal comes before anything is written.
  it('refuses the same path given twice with one line and exit 2, and writes nothing', async () => {
    const shard = join(tmp, 'a.json')
    copyFileSync(`${FIXTURES}lab-burst.json`, shard)
    const out = join(tmp, 'all.json')
    expectRefusal(await runCli(['merge', shard, shard, '--out', out]), `connstorm merge: FILE: '${shard}' is given twice; each result belongs in the merge once`)
    expect(readdirSync(tmp)).toEqual(['a.json'])
  })

  it('refuses ./a.json and a.json (one file once resolved) with one line and exit 2', async () => {
    const shard = join(tmp, 'a.json')
    copyFileSync(`${FIXTURES}lab-burst.json`, shard)
    const dotted = `${tmp}/./a.json`
    const run = await runCli(['merge', dotted, shard, '--out', join(tmp, 'all.json')])
    expectRefusal(run, `connstorm merge: FILE: '${dotted}' and '${shard}' are the same file; each result belongs in the merge once`)
  })

  it('refuses a hard link to a file already given (same device and inode) with one line and exit 2', async () => {
    const shard = join(tmp, 'a.json')
    copyFileSync(`${FIXTURES}lab-burst.json`, shard)
    const link = join(tmp, 'b.json')
    linkSync(shard, link)
    expectRefusal(
      await runCli(['merge', shard, link, '--out', join(tmp, 'all.json')]),
      `connstorm merge: FILE: '${shard}' and '${link}' are the same file; each result belongs in the merge once`,
    )
    expect(readdirSync(tmp).sort()).toEqual(['a.json', 'b.json'])
  })
})

describe('a storm killed during its run leaves nothing at its --out path', () => {
  let sink: Server | undefined
  const sockets = new Set<Socket>()
  let child: ChildProcess | undefined

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    for (const socket of sockets) socket.destroy()
    if (sink) await new Promise<void>((resolve) => sink!.close(() => resolve()))
  })

  it('SIGKILL mid-run: no result file and no temporary file', async () => {
    let connections = 0
    sink = createServer((socket) => {
      connections++
      sockets.add(socket)
      socket.on('error', () => {}).on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => sink!.listen(0, '127.0.0.1', resolve))
    const {port} = sink.address() as {port: number}
    const out = join(tmp, 'run.json')
    // 20 connects a second for 10 s: the run is surely under way once the first connect arrives.
    const storm = spawn(process.execPath, [RUN_JS, 'storm', `127.0.0.1:${port}`, '--rate', '20', '--duration', '10s', '--out', out], {stdio: 'ignore'})
    child = storm
    const exited = new Promise<NodeJS.Signals | null>((resolve) => storm.once('exit', (_code, signal) => resolve(signal)))
    expect(await waitFor(() => connections > 0, 20_000), 'the storm never connected').toBe(true)
    storm.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
    // The result is written only at the end, through a temporary file renamed over the path.
    expect(readdirSync(tmp)).toEqual([])
  })
})

describe('- reads stdin and --out - writes stdout', () => {
  it('storm --json | analyze - prints the report of the piped run', async () => {
    // The built-in lab: backlog 8 holds all 5 connects, so every one connects.
    const storm = await runCli(['storm', '--json', '--burst', '5'])
    expect(storm.code, storm.stderr).toBe(0)
    const run = await runCli(['analyze', '-'], {input: storm.stdout})
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^connstorm storm → 127\.0\.0\.1:\d+, the built-in lab target\n/)
    expect(run.stdout).toContain('\noutcomes  connected 5 (100.0%) · timeout 0 · refused 0 · reset 0 · addrNotAvail 0 · fileLimit 0 · unreachable 0 · other 0\n')
  })

  it('analyze - with nothing on stdin is refused with one line naming stdin, and exit 2', async () => {
    expectRefusal(await runCli(['analyze', '-'], {input: ''}), 'connstorm analyze: FILE: stdin is empty: pipe a result in, e.g. connstorm storm --json | connstorm analyze -')
  })

  it('a truncated result on stdin is refused with one line naming stdin, and exit 2', async () => {
    const whole = readFileSync(`${FIXTURES}lab-burst.json`, 'utf8')
    expectRefusal(await runCli(['analyze', '-'], {input: whole.slice(0, 4096)}), 'connstorm analyze: FILE: stdin is not JSON (truncated, or not a connstorm result)')
  })

  it('storm --out - puts only the result JSON on stdout and the report on stderr', async () => {
    const run = await runCli(['storm', '--burst', '5', '--out', '-'])
    expect(run.code, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as {counts: {attempted: number; connected: number}}
    expect(result.counts.attempted).toBe(5)
    expect(result.counts.connected).toBe(5)
    expect(run.stderr).toContain('\noutcomes  connected 5 (100.0%) · timeout 0 · refused 0 · reset 0 · addrNotAvail 0 · fileLimit 0 · unreachable 0 · other 0\n')
  })

  it('storm --json --out - prints the result once: stdout is one JSON document', async () => {
    const run = await runCli(['storm', '--json', '--burst', '5', '--out', '-'])
    expect(run.code, run.stderr).toBe(0)
    expect((JSON.parse(run.stdout) as {counts: {attempted: number}}).counts.attempted).toBe(5)
  })

  it('merge - b.json --out - reads one source from stdin and writes the merged result to stdout', async () => {
    const b = join(tmp, 'b.json')
    copyFileSync(`${FIXTURES}rate.json`, b)
    // lab-burst: 100 attempted; rate: 200 (--force: their plans differ).
    const run = await runCli(['merge', '-', b, '--out', '-', '--force'], {input: readFileSync(`${FIXTURES}lab-burst.json`, 'utf8')})
    expect(run.code, run.stderr).toBe(0)
    const merged = JSON.parse(run.stdout) as {counts: {attempted: number}; sources: {file: string}[]}
    expect(merged.counts.attempted).toBe(300)
    expect(merged.sources.map((source) => source.file)).toEqual(['stdin', b])
    expect(run.stderr).toContain('\nmerged    2 files')
    expect(run.stderr).toContain('into stdout\n')
  })

  it('merge - - is refused: stdin can be read once', async () => {
    expectRefusal(
      await runCli(['merge', '-', '-', '--out', join(tmp, 'all.json')], {input: readFileSync(`${FIXTURES}lab-burst.json`, 'utf8')}),
      'connstorm merge: FILE: - (stdin) is given twice; each result belongs in the merge once',
    )
  })
})
