import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync} from 'node:fs'
import {type Server, type Socket, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, it, expect as globalExpect, type ExpectStatic} from 'vitest'

import {type CliResult, RUN_JS, idleAt, runCli} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'

/**
 * The rule under test: bad input gets exactly ONE line on stderr, naming the flag (or TARGET) and
 * the accepted form, exit code 2, no stack trace, nothing on stdout, no output file, no traffic
 * and no hang.
 *
 * Placeholders in the table are filled in at run time:
 *   {sink} – the port of a loopback listener that counts every connection it gets; a case that
 *            wrongly got past validation would storm it, and the test would see the connects.
 *   {tmp}  – a fresh temporary directory holding only an empty sub-directory "existing-dir".
 */

/**
 * A refusal does no waiting: from start to exit the CLI only computes. One that sits idle — no CPU
 * for 2 s, waiting on a socket, a timer or a lookup — has hung: it is killed and fails. The wall
 * clock cannot tell: three refusals side by side on two cores busy with other test runs took over
 * 10 s each, all of it loading Node. HANG_CAP_MS only bounds a run that somehow never idles.
 */
const HANG_IDLE_MS = 2000
const HANG_CAP_MS = 50_000

/** Runs the CLI as runCli does, killing it if it sits idle for HANG_IDLE_MS (then `hung` is true). */
async function runRefusal(run: (onSpawn: (child: ChildProcess) => void) => Promise<CliResult>): Promise<CliResult & {hung: boolean}> {
  let hung = false
  const result = await run((child) => {
    void idleAt(child.pid!, Date.now() + HANG_CAP_MS, {windowMs: HANG_IDLE_MS}).then((at) => {
      if (at === null || child.exitCode !== null || child.signalCode !== null) return
      hung = true
      child.kill('SIGKILL')
    })
  })
  return {...result, hung}
}
const STACK_TRACE = /\n\s+at |Error: .*\n.*at /

interface BadInputCase {
  name: string
  args: string[]
  /** the flag, argument or TARGET the single line must name */
  mentions: string
  /** the accepted form (or the rule) the line must state */
  form: RegExp
  /** for --out cases: the file that must not exist afterwards */
  out?: string
}

const TARGET_FORM = /expected host:port or \[v6addr\]:port with a port from 1 to 65535/
const WHOLE_NUMBER = /expected a whole number (≥ 1|from 1 to \d+)/
const DURATION = /expected a (positive )?duration like 250ms, 1\.5s, 2m/
const SINK = '127.0.0.1:{sink}'

const cases: BadInputCase[] = [
  // TARGET
  {name: 'a TARGET without a port', args: ['storm', '127.0.0.1'], mentions: 'TARGET', form: TARGET_FORM},
  {name: 'a bracketed IPv6 TARGET without a port', args: ['storm', '[::1]'], mentions: 'TARGET', form: TARGET_FORM},
  {name: 'a bare IPv6 TARGET with a port', args: ['storm', '::1:8080'], mentions: 'TARGET', form: /put an IPv6 address in brackets/},
  {name: 'a TARGET with a non-numeric port', args: ['storm', 'host:abc'], mentions: 'TARGET', form: TARGET_FORM},
  {name: 'a TARGET with port 0', args: ['storm', '127.0.0.1:0'], mentions: 'TARGET', form: TARGET_FORM},
  {name: 'a TARGET with port 70000', args: ['storm', '127.0.0.1:70000'], mentions: 'TARGET', form: TARGET_FORM},
  {name: 'an unexpected extra argument', args: ['storm', SINK, 'extra'], mentions: 'extra', form: /Unexpected argument/},

  // schedule: burst, rate, waves
  {name: 'a negative --burst', args: ['storm', SINK, '--burst', '-5'], mentions: '--burst', form: WHOLE_NUMBER},
  {name: 'a non-numeric --burst', args: ['storm', SINK, '--burst', 'abc'], mentions: '--burst', form: WHOLE_NUMBER},
  {name: '--burst 0', args: ['storm', SINK, '--burst', '0'], mentions: '--burst', form: WHOLE_NUMBER},
  // oclif throws this one without its parse context; it is bad input all the same, not a bug (exit 1).
  {name: '--burst given without its value', args: ['storm', SINK, '--burst'], mentions: '--burst', form: /expects a value/},
  {name: '--burst given twice', args: ['storm', SINK, '--burst', '1', '--burst', '2'], mentions: '--burst', form: /can only be specified once/},
  {name: '--rate 0', args: ['storm', SINK, '--rate', '0', '--duration', '1s'], mentions: '--rate', form: /a positive rate per second like 2000 or 2\.5k/},
  {name: '--rate abc', args: ['storm', SINK, '--rate', 'abc', '--duration', '1s'], mentions: '--rate', form: /a positive rate per second like 2000 or 2\.5k/},
  {name: '--rate without --duration', args: ['storm', SINK, '--rate', '10'], mentions: '--rate', form: /needs --duration/},
  {name: '--duration without --rate', args: ['storm', SINK, '--duration', '1s'], mentions: '--duration', form: /--rate R --duration D/},
  {name: '--rate mixed with --burst', args: ['storm', SINK, '--rate', '10', '--duration', '1s', '--burst', '5'], mentions: '--rate', form: /pick one mode: burst, rate or waves/},
  {name: '--rate mixed with --waves', args: ['storm', SINK, '--rate', '10', '--duration', '1s', '--waves', '2', '--interval', '1s'], mentions: '--rate', form: /pick one mode: burst, rate or waves/},
  {name: '--waves without --interval', args: ['storm', SINK, '--waves', '2'], mentions: '--waves', form: /needs --interval/},
  {name: '--interval without --waves', args: ['storm', SINK, '--interval', '1s'], mentions: '--interval', form: /only applies with --waves/},

  // workers, shards and a shared start
  {name: '--workers 0', args: ['storm', SINK, '--workers', '0'], mentions: '--workers', form: /expected a whole number from 1 to 64/},
  {name: '--workers abc', args: ['storm', SINK, '--workers', 'abc'], mentions: '--workers', form: WHOLE_NUMBER},
  {name: '--shard 0/3', args: ['storm', SINK, '--shard', '0/3'], mentions: '--shard', form: /expected i\/n with 1 ≤ i ≤ n ≤ 1000, e\.g\. 2\/3/},
  {name: '--shard 4/3', args: ['storm', SINK, '--shard', '4/3'], mentions: '--shard', form: /expected i\/n with 1 ≤ i ≤ n ≤ 1000, e\.g\. 2\/3/},
  {name: '--start-at in the past', args: ['storm', SINK, '--start-at', '2001-01-01T00:00:00Z'], mentions: '--start-at', form: /2001-01-01T00:00:00Z is in the past$/},
  {name: '--start-at more than an hour away', args: ['storm', SINK, '--start-at', '+2h'], mentions: '--start-at', form: /\+2h is more than an hour away; runs stay bounded in time$/},

  // probes
  {name: 'an unknown --probe kind', args: ['storm', SINK, '--probe', 'smtp'], mentions: "--probe: invalid value 'smtp'", form: /expected none, send:TEXT, send:0xHEX, banner, http\[:\/path\], tls\[:servername\], https\[:\/path\]$/},
  {name: 'a --probe with malformed hex', args: ['storm', SINK, '--probe', 'send:0xZZ'], mentions: "--probe: invalid value 'send:0xZZ'", form: /expected send:0xHEX with an even number of hex digits/},
  {name: '--expect without a send or banner probe', args: ['storm', SINK, '--expect', 'hi'], mentions: '--expect', form: /only with --probe send:… or --probe banner/},
  {name: '--insecure without a tls probe', args: ['storm', SINK, '--probe', 'http', '--insecure'], mentions: '--insecure', form: /only with --probe tls or --probe https/},

  // thresholds
  {name: 'a --threshold latency without a unit', args: ['storm', SINK, '--threshold', 'p99<200'], mentions: "--threshold: invalid value 'p99<200'", form: /expected a duration with a unit .* like p99<200ms$/},

  // other commands
  {name: 'an inspect port above 65535', args: ['inspect', '70000'], mentions: "TARGET: invalid value '70000'", form: /expected PORT from 1 to 65535, HOST:PORT or \[v6addr\]:PORT/},
  {name: 'an unknown incident', args: ['reproduce', 'no-such-incident'], mentions: "NAME: invalid value 'no-such-incident'", form: /expected one of java-default-backlog, /},

  // per-connect and run limits
  {name: '--timeout abc', args: ['storm', SINK, '--timeout', 'abc'], mentions: '--timeout', form: DURATION},
  {name: '--timeout 0', args: ['storm', SINK, '--timeout', '0'], mentions: '--timeout', form: DURATION},
  {name: '--timeout -1s', args: ['storm', SINK, '--timeout', '-1s'], mentions: '--timeout', form: DURATION},
  {name: '--concurrency 0', args: ['storm', SINK, '--concurrency', '0'], mentions: '--concurrency', form: WHOLE_NUMBER},
  {name: '--max-duration 0', args: ['storm', SINK, '--max-duration', '0'], mentions: '--max-duration', form: DURATION},
  {name: '--close bogus', args: ['storm', SINK, '--close', 'bogus'], mentions: '--close', form: /expected rst, fin, hold/},
  {name: 'an unknown flag (--brust 5)', args: ['storm', SINK, '--brust', '5'], mentions: '--brust', form: /Nonexistent flag: --brust/},

  // --out
  {
    name: '--out into a directory that does not exist',
    args: ['storm', SINK, '--burst', '1', '--out', '{tmp}/missing/run.json'],
    mentions: '--out',
    form: /directory must exist and be writable/,
    out: '{tmp}/missing/run.json',
  },
  {
    name: '--out pointing at an existing directory',
    args: ['storm', SINK, '--burst', '1', '--out', '{tmp}/existing-dir'],
    mentions: '--out',
    form: /is a directory; give a file path/,
  },
  {
    name: 'a bad flag next to a writable --out',
    args: ['storm', SINK, '--burst', '0', '--out', '{tmp}/run.json'],
    mentions: '--burst',
    form: WHOLE_NUMBER,
    out: '{tmp}/run.json',
  },

  // storm's built-in lab
  {name: 'a --lab- flag together with a TARGET', args: ['storm', SINK, '--lab-backlog', '8'], mentions: '--lab-backlog', form: /only apply when no TARGET is given/},
  {name: '--lab-backlog 0', args: ['storm', '--lab-backlog', '0'], mentions: '--lab-backlog', form: /Node silently turns it into 511.*--lab-backlog 1/},
  {name: '--lab-on-accept bogus', args: ['storm', '--lab-on-accept', 'bogus'], mentions: '--lab-on-accept', form: /expected close, rst, hold/},
  {name: '--lab-host not-an-ip', args: ['storm', '--lab-host', 'not-an-ip'], mentions: '--lab-host', form: /expected an IP address to listen on, e\.g\. 127\.0\.0\.1 or ::1$/},

  // --source
  {name: '--source that is not this machine', args: ['storm', SINK, '--source', '192.0.2.7'], mentions: '--source', form: /192\.0\.2\.7 is not an address of this machine/},
  {name: 'a malformed --source range', args: ['storm', SINK, '--source', '127.0.0.1-abc'], mentions: '--source', form: /expected local addresses as a range \(127\.0\.0\.1-127\.0\.0\.8\)/},
  {name: '--source of the other family', args: ['storm', SINK, '--source', '::1'], mentions: '--source', form: /::1 is an IPv6 address but the target is IPv4/},

  // the isolated namespace's link
  {name: '--link-rate fast', args: ['storm', '--link-rate', 'fast'], mentions: '--link-rate', form: /expected a number with bit, kbit, mbit or gbit, e\.g\. 64kbit/},
  {name: '--link-rate without --isolate', args: ['storm', '--link-rate', '64kbit'], mentions: '--link-rate', form: /only with --isolate/},

  // connstorm lab
  {name: 'lab --backlog 0', args: ['lab', '--backlog', '0'], mentions: '--backlog', form: /0 is not possible.*Node silently turns it into 511.*--backlog 1/},
  {name: 'lab --port 70000', args: ['lab', '--port', '70000'], mentions: '--port', form: /expected a whole number from 0 to 65535/},
  {name: 'lab --stall-every without --stall-for', args: ['lab', '--stall-every', '1s'], mentions: '--stall-for', form: /--stall-every and --stall-for go together/},
  {name: 'lab --stall-for not shorter than --stall-every', args: ['lab', '--stall-for', '2s', '--stall-every', '1s'], mentions: '--stall-for', form: /must be shorter than --stall-every/},
  {name: 'lab --host not-an-ip', args: ['lab', '--host', 'not-an-ip'], mentions: '--host', form: /expected an IP address to listen on, e\.g\. 127\.0\.0\.1 or ::1$/},

  // connstorm search: every flag and one trial's storm checked before the first trial
  {name: 'search --rate without --duration', args: ['search', '127.0.0.1:{sink}', '--rate'], mentions: '--rate', form: /needs --duration/},
  {name: 'search --duration for a burst', args: ['search', '127.0.0.1:{sink}', '--duration', '5s'], mentions: '--duration', form: /only with --rate/},
  {name: 'search --start above --max', args: ['search', '127.0.0.1:{sink}', '--start', '100', '--max', '10'], mentions: '--start', form: /is above --max 10/},
  {name: 'search --expect-rate for a burst', args: ['search', '127.0.0.1:{sink}', '--expect-rate', '500'], mentions: '--expect-rate', form: /only with --rate/},
  {name: 'search --pdr malformed', args: ['search', '127.0.0.1:{sink}', '--pdr', 'p99<<1s'], mentions: '--pdr', form: /invalid value 'p99<<1s': expected an operator/},
  {name: 'search --lab-backlog with a TARGET', args: ['search', '127.0.0.1:{sink}', '--lab-backlog', '8'], mentions: '--lab-backlog', form: /only apply when no TARGET is given/},
]

let tmp: string
let sink: Server
let sinkPort: number
let sinkConnections = 0
const sinkSockets = new Set<Socket>()

const fill = (text: string): string => text.replaceAll('{sink}', String(sinkPort)).replaceAll('{tmp}', tmp)

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'connstorm-bad-input-'))
  mkdirSync(join(tmp, 'existing-dir'))
  sink = createServer((socket) => {
    sinkConnections++
    sinkSockets.add(socket)
    socket.on('error', () => {}).on('close', () => sinkSockets.delete(socket))
    socket.destroy()
  })
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
  sinkPort = (sink.address() as {port: number}).port
})

afterAll(async () => {
  for (const socket of sinkSockets) socket.destroy()
  await new Promise<void>((resolve) => sink.close(() => resolve()))
  rmSync(tmp, {recursive: true, force: true})
})

/** The whole rule, for any refusal: one line naming `mentions` and the form, exit 2, no stack, nothing on stdout. */
function expectOneLineRefusal(run: CliResult & {hung: boolean}, command: string, mentions: string, form: RegExp, expect: ExpectStatic = globalExpect): void {
  const context = `exit ${run.code} (signal ${run.signal}${run.hung ? `: idle for ${HANG_IDLE_MS} ms, hung` : ''}) after ${run.elapsedMs} ms\nstderr: ${JSON.stringify(run.stderr)}\nstdout: ${JSON.stringify(run.stdout)}`
  expect(run.hung, context).toBe(false)
  expect(run.signal, context).toBeNull()
  expect(run.code, context).toBe(2)
  expect(run.stderr, context).not.toMatch(STACK_TRACE)
  const line = run.stderr.trim()
  expect(line, context).not.toContain('\n')
  expect(line, context).toMatch(new RegExp(`^connstorm ${command}: `))
  expect(line, context).toContain(mentions)
  expect(line, context).toMatch(form)
  expect(run.stdout, context).toBe('')
}

// Side by side (three at a time): no case sends traffic or writes a file, so none can disturb another,
// and if one did, the sink and directory checks would still catch it.
describe.concurrent('bad input is refused with one line on stderr and exit 2', () => {
  it.for(cases)('refuses $name with one line and exit 2', async ({args, mentions, form, out}, {expect}) => {
    const connectionsBefore = sinkConnections
    const run = await runRefusal((onSpawn) => runCli(args.map(fill), {killAfterMs: HANG_CAP_MS, onSpawn}))

    expectOneLineRefusal(run, args[0]!, mentions, form, expect)
    // No traffic: the loopback sink saw no connect from this run.
    expect(sinkConnections, 'connections reached the loopback sink').toBe(connectionsBefore)
    // No output file: nothing new in the temporary directory, not even a temp file.
    if (out) expect(existsSync(fill(out)), `${fill(out)} was written`).toBe(false)
    expect(readdirSync(tmp)).toEqual(['existing-dir'])
    expect(statSync(join(tmp, 'existing-dir')).isDirectory()).toBe(true)
    expect(readdirSync(join(tmp, 'existing-dir'))).toEqual([])
  })
})

// A DNS lookup must never leave this machine: the unknown-host case runs only as root, inside a
// fresh network namespace with no route out (`unshare -n`; the namespace dies with the process).
// Without root, or without the unshare binary, it is skipped rather than risk a real lookup (with
// CI=true it fails instead, naming what is missing).

describe('an unresolvable host is refused before any connect', () => {
  it.skipIf(skipUnless({root: true, tools: ['unshare']}, 'the unknown-host refusal'))(
    'refuses an unknown host (inside an isolated network namespace) with one line naming TARGET and the host, and exit 2',
    async () => {
      // With no route out, the lookup fails at once: a resolver left waiting would sit idle and count as hung.
      const run = await runRefusal(
        (onSpawn) =>
          new Promise<CliResult>((resolve) => {
            const started = Date.now()
            const child = spawn('unshare', ['-n', process.execPath, RUN_JS, 'storm', 'no-such-host.invalid:80'], {stdio: ['ignore', 'pipe', 'pipe']})
            let stdout = ''
            let stderr = ''
            child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
            child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
            const killer = setTimeout(() => child.kill('SIGKILL'), HANG_CAP_MS)
            onSpawn(child)
            child.on('close', (code, signal) => {
              clearTimeout(killer)
              resolve({code, signal, stdout, stderr, elapsedMs: Date.now() - started})
            })
          }),
      )

      expectOneLineRefusal(run, 'storm', 'TARGET', /cannot resolve host 'no-such-host\.invalid'.*give a resolvable name or an IP address/)
    },
  )
})

// Under --json, stdout is for a program: a refusal is also one line of JSON there, with a stable
// code (src/errors.ts) and the same message as the line on stderr, and still exit 2.
interface JsonRefusalCase {
  name: string
  args: string[]
  code: string
  message: RegExp
}

const jsonCases: JsonRefusalCase[] = [
  {name: 'storm --json --burst 0', args: ['storm', SINK, '--json', '--burst', '0'], code: 'INVALID_OPTION', message: /^--burst: invalid value '0': expected a whole number from 1 to \d+$/},
  {name: 'storm --json --burst (no value)', args: ['storm', SINK, '--json', '--burst'], code: 'INVALID_OPTION', message: /^Flag --burst expects a value$/},
  {name: 'storm --json --brust 5 (an unknown flag)', args: ['storm', SINK, '--json', '--brust', '5'], code: 'UNKNOWN_FLAG', message: /^Nonexistent flag: --brust/},
  {name: 'analyze --json without FILE', args: ['analyze', '--json'], code: 'MISSING_ARGUMENT', message: /^Missing 1 required arg: file/},
  {name: 'analyze --json of a file that does not exist', args: ['analyze', '--json', '{tmp}/missing.json'], code: 'FILE_UNREADABLE', message: /^FILE: cannot read '.*\/missing\.json' \(ENOENT\)$/},
]

describe.concurrent('under --json a refusal is also one JSON line on stdout', () => {
  it.for(jsonCases)('$name prints one JSON line on stdout with error.code $code and the message of the line on stderr, and exits 2', async ({args, code, message}, {expect}) => {
    const connectionsBefore = sinkConnections
    const run = await runRefusal((onSpawn) => runCli(args.map(fill), {killAfterMs: HANG_CAP_MS, onSpawn}))
    const context = `exit ${run.code}\nstderr: ${JSON.stringify(run.stderr)}\nstdout: ${JSON.stringify(run.stdout)}`
    expect(run.hung, context).toBe(false)
    expect(run.code, context).toBe(2)
    expect(run.stdout.endsWith('\n') && !run.stdout.slice(0, -1).includes('\n'), `stdout is not one line: ${context}`).toBe(true)
    const printed = JSON.parse(run.stdout) as {error: {code: string; message: string}}
    expect(Object.keys(printed)).toEqual(['error'])
    expect(printed.error.code, context).toBe(code)
    expect(printed.error.message, context).toMatch(message)
    expect(run.stderr, context).toBe(`connstorm ${args[0]}: ${printed.error.message}\n`)
    expect(sinkConnections, 'connections reached the loopback sink').toBe(connectionsBefore)
  })
})
