#!/usr/bin/env node
// bench/run.mjs — `npm run bench`: connstorm against native C clients and a native C target that are
// this repository's own (bench/cclient.c, bench/cpaced.c, bench/ctarget.c, built here with cc), side
// by side in one run, on loopback only. A native baseline found beside the repository
// (../shared/baseline) is run too, as a cross-check of our client; it is never needed.
// A benchmark, not a test: it prints figures and PASS/MISS against the targets in bench/README.md
// and exits 0 unless the bench itself could not run.
//
//   node bench/run.mjs                 full: every figure the median of 3 runs (BENCH_RUNS=N to change)
//   BENCH_QUICK=1 node bench/run.mjs   1 run each, small N, < 2 min
//
// See bench/README.md for what each row measures and how.

import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import net from 'node:net'
import {availableParallelism} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {formatProfileSummary, summarizeCpuProfile} from './profile.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BENCH_DIR = path.join(ROOT, '.bench')
const BASELINE_DIR = path.resolve(ROOT, '..', 'shared', 'baseline')
const RUN_JS = path.join(ROOT, 'bin', 'run.js')
const NAIVE_JS = path.join(ROOT, 'bench', 'naive.mjs')
const SPIN_JS = path.join(ROOT, 'bench', 'spin.mjs')
const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : null
const HOST = '127.0.0.1'

const QUICK = process.env.BENCH_QUICK === '1'
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS) || (QUICK ? 1 : 3))
const CORES = availableParallelism()
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).stdout) || 100

const SIZE = QUICK
  ? {closedN: 15_000, pacedSecs: 2, rssN: 200_000, profN: 20_000}
  : {closedN: 150_000, pacedSecs: 5, rssN: 2_000_000, profN: 60_000}
const CLOSED_KS = [1, 64, 1000]
const PACED_RATES = [5000, 20_000]
const PACED_K = 1000
/** the whole bench never outlives this; the target runs under `timeout` with it too */
const BENCH_LIMIT_S = QUICK ? 300 : 3600

const TARGETS = {
  k64: 0.95,
  workers: 0.9,
  /** --probe banner K=64 against bench/cclient -m read (connect, first byte, close) */
  bannerK64: 0.85,
  /** --probe banner --workers N against N cclient -m read processes */
  bannerWorkers: 0.8,
  pacedAccuracy: 0.01,
  /** paced 20,000/s late-start p99, against bench/cpaced.c's in the same run */
  lateStartRatio: 1.5,
  p50OverheadUs: 20,
  rss2mMb: 150,
  rssGrowthMb: 10,
  /** RSS that 19,000 held connections add over a 10-connection hold storm */
  heldAddedMb: 10,
}
/** held connections in the held row: below the open-file hard limit (20,000 here) with room for the process's own */
const HELD_N = 19_000
/** the request the http row's native client writes (the probe's GET, as undici sends it, minus headers it adds) */
const HTTP_REQUEST = String.raw`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`

// ---------------------------------------------------------------- processes, always cleaned up

/** process groups we started (each child is spawned detached: its pid is its group id) */
const live = new Map()

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}

function killAllNow() {
  for (const pid of live.keys()) killGroup(pid, 'SIGKILL')
  live.clear()
}

process.on('exit', killAllNow)
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(signal, () => {
    log(`\n${signal}: stopping every process this bench started`)
    killAllNow()
    process.exit(code)
  })
}
const benchDeadline = setTimeout(() => {
  log(`bench: over its own limit of ${BENCH_LIMIT_S} s, stopping`)
  killAllNow()
  process.exit(1)
}, BENCH_LIMIT_S * 1000)
benchDeadline.unref()

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function log(line) {
  process.stderr.write(`${line}\n`)
}

function readProc(file) {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

/** utime/stime in ticks of every thread of pid */
function threadTicks(pid) {
  const out = new Map()
  let tids
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    const stat = readProc(`/proc/${pid}/task/${tid}/stat`)
    if (!stat) continue
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.set(Number(tid), {user: Number(fields[11]), sys: Number(fields[12])})
  }
  return out
}

function machineCpu() {
  const line = readProc('/proc/stat')?.split('\n')[0]
  if (!line?.startsWith('cpu ')) return null
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = v[3] + (v[4] ?? 0)
  return {total, busy: total - idle}
}

function statusKb(pid, key) {
  const status = readProc(`/proc/${pid}/status`)
  const match = status?.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))
  return match ? Number(match[1]) : null
}

/**
 * Runs cmd under /usr/bin/time (when present) in its own process group, bounded by timeoutMs (then
 * SIGTERM, SIGKILL 3 s later, to the group). With poll, samples the measured process's RSS, peak
 * RSS (VmHWM) and per-thread CPU every pollMs.
 */
async function runProc(cmd, args, {timeoutMs, poll = false, pollMs = 100} = {}) {
  mkdirSync(BENCH_DIR, {recursive: true})
  const timeFile = TIME_BIN ? path.join(BENCH_DIR, `time-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`) : null
  const argv = TIME_BIN ? [TIME_BIN, '-f', '%e %U %S %M', '-o', timeFile, cmd, ...args] : [cmd, ...args]
  const started = performance.now()
  const cpu0 = machineCpu()
  const child = spawn(argv[0], argv.slice(1), {cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe']})
  live.set(child.pid, cmd)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  let timedOut = false
  let killTimer
  const timer = setTimeout(() => {
    timedOut = true
    killGroup(child.pid, 'SIGTERM')
    killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 3000)
  }, timeoutMs)

  const samples = [] // [ms since start, VmRSS kB]
  let hwmKb = 0
  const ticks = new Map()
  let measuredPid = TIME_BIN ? null : child.pid
  let poller
  if (poll) {
    poller = setInterval(() => {
      if (measuredPid === null) {
        const children = readProc(`/proc/${child.pid}/task/${child.pid}/children`)
        const first = children?.trim().split(/\s+/)[0]
        if (first) measuredPid = Number(first)
        else return
      }
      const rss = statusKb(measuredPid, 'VmRSS')
      const hwm = statusKb(measuredPid, 'VmHWM')
      if (rss !== null) samples.push([performance.now() - started, rss])
      if (hwm !== null) hwmKb = Math.max(hwmKb, hwm)
      // Keep every thread ever seen: a worker thread (the queue sampler) ends before the process does.
      for (const [tid, t] of threadTicks(measuredPid)) ticks.set(tid, t)
    }, pollMs)
  }

  const {code, signal} = await new Promise((resolve) => child.on('close', (code, signal) => resolve({code, signal})))
  clearTimeout(timer)
  clearTimeout(killTimer)
  clearInterval(poller)
  live.delete(child.pid)
  const wallMs = performance.now() - started
  const cpu1 = machineCpu()
  // whole machine, in % of one core (200 = both cores of a 2-core machine busy), softirq included
  const machineBusy = cpu0 && cpu1 && cpu1.total > cpu0.total ? (CORES * 100 * (cpu1.busy - cpu0.busy)) / (cpu1.total - cpu0.total) : null

  let time = null
  if (timeFile) {
    const text = readProc(timeFile)
    rmSync(timeFile, {force: true})
    const last = text?.trim().split('\n').pop()?.trim().split(/\s+/).map(Number)
    if (last && last.length === 4 && last.every(Number.isFinite)) time = {elapsed: last[0], user: last[1], sys: last[2], maxRssKb: last[3]}
  }
  // /usr/bin/time reports the child's exit status as its own
  return {code, signal, stdout, stderr, timedOut, wallMs, time, samples, hwmKb, ticks, measuredPid, machineBusy}
}

// ---------------------------------------------------------------- target

async function portIsFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({host: HOST, port, exclusive: true}, () => server.close(() => resolve(true)))
  })
}

/** A free port below the ephemeral range (32768–60999 here), so no connect can be handed it as a source port. */
async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (await portIsFree(port)) return port
  }
  throw new Error('no free port found in 20000–31999')
}

async function startTarget(mode) {
  const bin = path.join(BENCH_DIR, 'ctarget')
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    // `timeout` bounds the target even if this bench is killed with SIGKILL.
    const child = spawn('timeout', ['-s', 'TERM', String(BENCH_LIMIT_S), bin, '-a', HOST, '-m', mode, '-p', String(port)], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    live.set(child.pid, 'target')
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    child.stdout.resume()
    const exited = new Promise((resolve) => child.on('close', () => resolve(true)))
    const ready = await Promise.race([
      (async () => {
        for (let i = 0; i < 100; i++) {
          if (stderr.includes('listening')) return true
          await sleep(30)
        }
        return false
      })(),
      exited.then(() => false),
    ])
    if (ready) {
      const pid = Number(stderr.match(/pid=(\d+)/)?.[1]) || null
      return {port, mode, child, pid, exited, said: () => stderr}
    }
    killGroup(child.pid, 'SIGKILL')
    live.delete(child.pid)
    log(`target (${mode}) did not start on ${port}: ${stderr.trim() || 'no output'}; retrying`)
  }
  throw new Error(`cannot start ${bin} -m ${mode}`)
}

/** bench/ctarget's own count of the connections it has open and has accepted (it answers SIGUSR1 on stderr). */
async function targetCount(target) {
  const before = target.said().length
  process.kill(target.pid, 'SIGUSR1')
  for (let i = 0; i < 100; i++) {
    const match = target.said().slice(before).match(/open=(\d+) accepted=(\d+)/)
    if (match) return {open: Number(match[1]), accepted: Number(match[2])}
    await sleep(20)
  }
  throw new Error('ctarget did not answer SIGUSR1 within 2 s')
}

async function stopTarget(target) {
  if (!target) return
  killGroup(target.child.pid, 'SIGTERM')
  const gone = await Promise.race([target.exited, sleep(3000).then(() => false)])
  if (!gone) killGroup(target.child.pid, 'SIGKILL')
  live.delete(target.child.pid)
}

// ---------------------------------------------------------------- the two clients

function parseKv(line) {
  const out = {}
  for (const m of line.matchAll(/(\w+)=(-?[\d.]+)/g)) out[m[1]] = Number(m[2])
  return out
}

/** Runs a client that prints one `connects=… key=value` line (cstorm, cpaced, naive.mjs) and parses it. */
async function runKeyValueClient(name, cmd, args, maxSecs) {
  const r = await runProc(cmd, args, {timeoutMs: (maxSecs + 30) * 1000})
  const line = r.stdout.split('\n').find((l) => l.includes('connects='))
  if (r.timedOut || !line) throw new Error(`${name} ${args.join(' ')} failed: ${r.timedOut ? 'timed out' : r.stderr.trim() || `exit ${r.code}`}`)
  return {r, kv: parseKv(line)}
}

function cclientArgs(port, {n, k, rate = 0, maxSecs = 60, mode = 'connect', send = null}) {
  const args = ['-a', HOST, '-p', String(port), '-n', String(n), '-k', String(k), '-d', String(maxSecs)]
  if (rate > 0) args.push('-r', String(rate))
  if (mode !== 'connect') args.push('-m', mode)
  if (send !== null) args.push('-s', send)
  return args
}

function cclientResult(kv, r) {
  return {
    rate: kv.rate,
    connects: kv.connects,
    errors: kv.errors,
    secs: kv.secs,
    p50: kv.p50_us,
    p99: kv.p99_us,
    firstByteP50: kv.fb_p50_us,
    cpuUsPerConnect: kv.connects ? ((kv.cpu_user + kv.cpu_sys) * 1e6) / kv.connects : null,
    userUsPerConnect: kv.connects ? (kv.cpu_user * 1e6) / kv.connects : null,
    sysUsPerConnect: kv.connects ? (kv.cpu_sys * 1e6) / kv.connects : null,
    maxRssMb: r.time ? r.time.maxRssKb / 1024 : null,
    busy: r.machineBusy,
  }
}

/**
 * bench/cclient.c: connect and close (mode 'connect') or connect, read the first byte and close
 * (mode 'read'), K in flight, closed loop or paced at `rate`. `bin` may name the baseline's cstorm
 * instead (the cross-check), which takes the same flags but has no -m.
 */
async function cstorm(port, {bin = path.join(BENCH_DIR, 'cclient'), ...options}) {
  const {r, kv} = await runKeyValueClient(path.basename(bin), bin, cclientArgs(port, options), options.maxSecs ?? 60)
  return cclientResult(kv, r)
}

/**
 * `count` cclient processes at once, started by one shell in one session, as a user's shell would
 * start them: the other side of a `--workers count` row, whose threads are one process in one
 * session. With kernel.sched_autogroup_enabled (1 here) each session is one scheduling group with
 * one share of the cores: the processes in a session each (runProc's way for a single client)
 * took `count` shares against the target's one where --workers took one, and the --workers row
 * read 0.71–0.82× that way against 0.80–1.01× (medians 0.88–0.92×) with the natives in one
 * session (docs/performance.md, "Sessions and scheduling groups").
 */
async function cstormTogether(port, count, options) {
  const maxSecs = options.maxSecs ?? 60
  const bin = path.join(BENCH_DIR, 'cclient')
  const script = 'n=$1; shift; i=0; while [ "$i" -lt "$n" ]; do "$@" & i=$((i + 1)); done; wait'
  const r = await runProc('/bin/sh', ['-c', script, 'sh', String(count), bin, ...cclientArgs(port, options)], {timeoutMs: (maxSecs + 30) * 1000})
  const lines = r.stdout.split('\n').filter((line) => line.includes('connects='))
  if (r.timedOut || lines.length !== count) throw new Error(`${count} × cclient failed: ${r.timedOut ? 'timed out' : `${lines.length} of ${count} reported; ${r.stderr.trim() || `exit ${r.code}`}`}`)
  return lines.map((line) => cclientResult(parseKv(line), r))
}

/** bench/cpaced.c: the native paced loop that reports its start lag (cstorm paces but does not). */
async function cpaced(port, {n, k, rate, maxSecs}) {
  // -w 0: the lag of every start, the first ones too, as connstorm's start-lag histogram holds
  // every start of its run (cpaced's default leaves its first 1000 out: 1 % of a 5 s run at
  // 20,000/s, exactly what a p99 is made of).
  const args = ['-a', HOST, '-p', String(port), '-n', String(n), '-k', String(k), '-r', String(rate), '-d', String(maxSecs), '-w', '0']
  const {kv} = await runKeyValueClient('cpaced', path.join(BENCH_DIR, 'cpaced'), args, maxSecs)
  return {lagP99: kv.lag_p99_us, late: kv.late}
}

async function naive(port, {n, k, maxSecs = 60}) {
  const args = [NAIVE_JS, '--host', HOST, '--port', String(port), '-n', String(n), '-k', String(k), '--max-seconds', String(maxSecs)]
  const {kv} = await runKeyValueClient('naive client', process.execPath, args, maxSecs)
  return {rate: kv.rate, connects: kv.connects, cpuUsPerConnect: kv.connects ? ((kv.cpu_user + kv.cpu_sys) * 1e6) / kv.connects : null}
}

let connstormCpuBase = null

/**
 * One `connstorm storm … --json` run: the JSON result plus process figures. Retries when another
 * engineer's rebuild of dist/ makes oclif miss the command for a moment.
 */
async function connstorm(port, flags, {timeoutMs, nodeFlags = [], poll = true, pollMs = 100, warmup = NATIVE_WARMUP} = {}) {
  const args = [...nodeFlags, RUN_JS, 'storm', `${HOST}:${port}`, ...flags, '--json']
  for (let attempt = 1; ; attempt++) {
    const r = await runProc(process.execPath, args, {timeoutMs, poll, pollMs})
    const text = `${r.stderr}\n${r.stdout}`
    if (/command storm\S* not found|Cannot find module|ERR_MODULE_NOT_FOUND/i.test(text) && attempt < 6) {
      log(`  (connstorm not runnable right now — dist/ being rebuilt? — retrying in 3 s)`)
      await sleep(3000)
      continue
    }
    if (r.timedOut) throw new Error(`connstorm ${flags.join(' ')} timed out after ${timeoutMs} ms`)
    let json
    try {
      json = JSON.parse(r.stdout)
    } catch {
      throw new Error(`connstorm ${flags.join(' ')} exited ${r.code} without a JSON result: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)
    }
    return withProcessFigures(json, r, warmup)
  }
}

/** bench/cclient's -w default: its first connects warm up and are not counted in its rate. */
const NATIVE_WARMUP = 1000

/**
 * connstorm's rate counted as cclient counts its own: from the end of its first `warmup` connects
 * to its last, read off the result's timeline (bins of binMs). Both clients then pay for their
 * start-up alike; the rate over the whole run (`rateAll`) is kept beside it. Null without a timeline.
 */
function steadyRate(json, warmup) {
  const bins = json.timeline?.connected
  const binMs = json.timeline?.binMs
  const connected = json.counts?.connected ?? 0
  if (!Array.isArray(bins) || !binMs || connected <= warmup) return null
  let seen = 0
  for (let bin = 0; bin < bins.length; bin++) {
    seen += bins[bin]
    if (seen < warmup) continue
    const fromMs = (bin + 1) * binMs
    const ms = json.durationMs - fromMs
    return ms > 0 ? ((connected - seen) * 1000) / ms : null
  }
  return null
}

function withProcessFigures(json, r, warmup = NATIVE_WARMUP) {
  const connected = json.counts?.connected ?? 0
  const durationS = (json.durationMs ?? 0) / 1000
  const rateAll = durationS > 0 ? connected / durationS : 0
  // Per-thread CPU from the last /proc poll (≤ 100 ms before exit): the main thread is tid = pid.
  let mainTicks = null
  let otherTicks = 0
  let busiestOther = null
  for (const [tid, t] of r.ticks) {
    if (tid === r.measuredPid) mainTicks = t
    else {
      otherTicks += t.user + t.sys
      if (!busiestOther || t.user + t.sys > busiestOther.user + busiestOther.sys) busiestOther = t
    }
  }
  const tickUs = 1e6 / CLK_TCK
  return {
    json,
    connected,
    durationS,
    rate: steadyRate(json, warmup) ?? rateAll,
    rateAll,
    loopP99: json.self?.eventLoopDelayUs?.p99 ?? null,
    process: {
      wallS: r.wallMs / 1000,
      busy: r.machineBusy,
      userS: r.time?.user ?? null,
      sysS: r.time?.sys ?? null,
      maxRssMb: r.time ? r.time.maxRssKb / 1024 : r.hwmKb ? r.hwmKb / 1024 : null,
      polledHwmMb: r.hwmKb ? r.hwmKb / 1024 : null,
      samples: r.samples,
      mainUserS: mainTicks ? (mainTicks.user * tickUs) / 1e6 : null,
      mainSysS: mainTicks ? (mainTicks.sys * tickUs) / 1e6 : null,
      otherS: (otherTicks * tickUs) / 1e6,
      busiestOtherS: busiestOther ? ((busiestOther.user + busiestOther.sys) * tickUs) / 1e6 : null,
      busiestOtherSysS: busiestOther ? (busiestOther.sys * tickUs) / 1e6 : null,
    },
  }
}

/** CPU per connect net of start-up: (run − a 100-connect run) / (connects − 100). */
function cpuPerConnect(run) {
  const p = run.process
  const b = connstormCpuBase
  if (p.userS === null || !b || run.connected <= b.connected) return null
  const n = run.connected - b.connected
  const per = (x, y) => (x === null || y === null ? null : (Math.max(0, x - y) * 1e6) / n)
  return {
    total: per(p.userS + p.sysS, b.userS + b.sysS),
    user: per(p.userS, b.userS),
    sys: per(p.sysS, b.sysS),
    mainUser: per(p.mainUserS, b.mainUserS),
    mainSys: per(p.mainSysS, b.mainSysS),
    busiestOther: per(p.busiestOtherS, b.busiestOtherS),
    otherThreads: per(p.otherS, b.otherS),
  }
}

// ---------------------------------------------------------------- statistics and formatting

function median(xs) {
  const v = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = Math.floor(v.length / 2)
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

function stats(xs) {
  const v = xs.filter((x) => x !== null && Number.isFinite(x))
  if (v.length === 0) return null
  return {median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length}
}

const fmtInt = (x) => Math.round(x).toLocaleString('en-US')
/** whole-machine CPU during a run, of CORES × 100 */
const busy = (x) => (x === null || x === undefined ? '?' : `${Math.round(x)}/${CORES * 100}`)
const fmt = {
  rate: (x) => `${fmtInt(x)}/s`,
  ratio: (x) => `${x.toFixed(2)}×`,
  frac: (x) => `${(100 * x).toFixed(2)} %`,
  us: (x) => `${fmtInt(x)} µs`,
  dus: (x) => `${x >= 0 ? '+' : ''}${fmtInt(x)} µs`,
  mb: (x) => `${x.toFixed(0)} MB`,
  dmb: (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} MB`,
  n: (x) => fmtInt(x),
}

function cell(s, f) {
  if (!s) return '—'
  if (s.n === 1 || s.min === s.max) return f(s.median)
  return `${f(s.median)} [${f(s.min)}–${f(s.max)}]`
}

// ---------------------------------------------------------------- the measurements

const rows = [] // {metric, native, connstorm, vs, target, result, loop}
const cpuRows = []
const notes = []

function addRow(metric, {native = '—', connstorm = '—', vs = '—', target = '—', result = 'info', loop = '—'}) {
  rows.push({metric, native, connstorm, vs, target, result, loop})
}

/**
 * What counting a connect's SYN retransmits costs (docs/kernel.md §15): one getsockopt(TCP_INFO)
 * through the addon on an established loopback socket, the call the bare-handle and net.Socket paths
 * make per connect. The native loop makes the same getsockopt in C, and only for connects that took
 * ≥ 200 ms (a faster one cannot have retransmitted): the connect-only rows above make none.
 */
async function measureTcpInfo(target) {
  const addon = createRequire(import.meta.url)(path.join(ROOT, 'build/Release/connstorm.node'))
  const socket = await new Promise((resolve, reject) => {
    const client = net.connect({host: HOST, port: target.port}, () => resolve(client))
    client.once('error', reject)
  })
  try {
    const fd = socket._handle.fd
    if (addon.synRetransmits(fd) === null) throw new Error('TCP_INFO unreadable on a loopback socket')
    const calls = QUICK ? 100_000 : 500_000
    const perCall = []
    for (let run = 0; run < RUNS; run++) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < calls; i++) addon.synRetransmits(fd)
      perCall.push(Number(process.hrtime.bigint() - start) / 1000 / calls)
    }
    const median = [...perCall].sort((a, b) => a - b)[Math.floor(perCall.length / 2)]
    log(`  TCP_INFO read: ${perCall.map((us) => us.toFixed(2)).join(', ')} µs per call`)
    addRow('TCP_INFO read per counted connect (addon call on a loopback socket; the native loop skips it for connects < 200 ms)', {
      connstorm: `${median.toFixed(2)} µs [${Math.min(...perCall).toFixed(2)}–${Math.max(...perCall).toFixed(2)}]`,
    })
  } finally {
    socket.destroy()
  }
}

/** BENCH_ONLY=name,name: run only those sections (their names as section() is given them), for working on one row. */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((name) => name.trim())) : null

/** A section that fails (a crash of the tool under test, say) becomes an ERROR row; the bench goes on. */
async function section(name, fn) {
  if (ONLY && ![...ONLY].some((only) => name === only || name.startsWith(`${only} `))) return
  try {
    await fn()
  } catch (error) {
    const message = String(error?.message ?? error).split('\n')[0]
    log(`  ${name}: ERROR ${message}`)
    addRow(`${name}: could not be measured`, {connstorm: message.replaceAll('|', '/'), result: 'ERROR'})
  }
}

function judge(value, ok) {
  if (value === null || value === undefined) return 'n/a'
  return ok(value) ? 'PASS' : 'MISS'
}

/** Alternates which client goes first from run to run, so drift of the machine hits both alike. */
async function sideBySide(label, runs, first, second) {
  const out = []
  for (let i = 0; i < runs; i++) {
    const swap = i % 2 === 1
    const a = swap ? await second() : await first()
    const b = swap ? await first() : await second()
    const pair = swap ? [b, a] : [a, b]
    out.push(pair)
  }
  return out
}

async function measureClosed(target) {
  for (const k of CLOSED_KS) {
    const n = SIZE.closedN
    const pairs = await sideBySide(
      `K=${k}`,
      RUNS,
      () => cstorm(target.port, {n, k}),
      () => connstorm(target.port, ['--burst', String(n), '--concurrency', String(k), '--max-duration', '90s'], {timeoutMs: 130_000}),
    )
    pairs.forEach(([c, s], i) => {
      log(
        `  closed K=${k} run ${i + 1}/${RUNS}: native ${fmt.rate(c.rate)} (machine ${busy(c.busy)}) · connstorm ${fmt.rate(s.rate)} (machine ${busy(s.process.busy)}) → ${fmt.ratio(s.rate / c.rate)}, ` +
          `loop p99 ${s.loopP99 ?? '—'} µs${s.json.counts.failed ? `, ${s.json.counts.failed} failed` : ''}${s.json.stopReason !== 'completed' ? `, ${s.json.stopReason}` : ''}`,
      )
      if (s.json.counts.failed) notes.push(`closed K=${k} run ${i + 1}: connstorm had ${s.json.counts.failed} failed connects (${JSON.stringify(s.json.counts.byOutcome)})`)
    })
    const ratio = stats(pairs.map(([c, s]) => s.rate / c.rate))
    const isK64 = k === 64
    addRow(`connects/s, closed loop, K=${k} (1 process)`, {
      native: cell(stats(pairs.map(([c]) => c.rate)), fmt.rate),
      connstorm: cell(stats(pairs.map(([, s]) => s.rate)), fmt.rate),
      vs: cell(ratio, fmt.ratio),
      target: isK64 ? `≥ ${TARGETS.k64}×` : '—',
      result: isK64 ? judge(ratio?.median, (x) => x >= TARGETS.k64) : 'info',
      loop: cell(stats(pairs.map(([, s]) => s.loopP99)), fmt.us),
    })
    const cpus = pairs.map(([c, s]) => ({c, s: cpuPerConnect(s)}))
    const m = (f) => median(cpus.map(f))
    cpuRows.push({
      label: `closed K=${k}`,
      native: m((x) => x.c.cpuUsPerConnect),
      nativeUser: m((x) => x.c.userUsPerConnect),
      nativeSys: m((x) => x.c.sysUsPerConnect),
      total: m((x) => x.s?.total),
      user: m((x) => x.s?.user),
      sys: m((x) => x.s?.sys),
      mainUser: m((x) => x.s?.mainUser),
      mainSys: m((x) => x.s?.mainSys),
      busiestOther: m((x) => x.s?.busiestOther),
      otherThreads: m((x) => x.s?.otherThreads),
    })
    if (isK64) {
      // Reference: the naive Node loop (bench/naive.mjs) on the same work, next to native again.
      const ref = []
      for (let i = 0; i < RUNS; i++) {
        const c = await cstorm(target.port, {n, k})
        const v = await naive(target.port, {n, k})
        log(`  naive Node K=64 run ${i + 1}/${RUNS}: native ${fmt.rate(c.rate)} · naive ${fmt.rate(v.rate)} → ${fmt.ratio(v.rate / c.rate)}`)
        ref.push([c, v])
      }
      addRow('reference: naive Node loop (bench/naive.mjs), K=64', {
        native: cell(stats(ref.map(([c]) => c.rate)), fmt.rate),
        connstorm: `naive: ${cell(stats(ref.map(([, v]) => v.rate)), fmt.rate)}`,
        vs: cell(stats(ref.map(([c, v]) => v.rate / c.rate)), fmt.ratio),
        target: 'connstorm ≫ this',
        result: 'info',
      })
      cpuRows.push({
        label: 'naive Node K=64',
        native: median(ref.map(([c]) => c.cpuUsPerConnect)),
        nativeUser: median(ref.map(([c]) => c.userUsPerConnect)),
        nativeSys: median(ref.map(([c]) => c.sysUsPerConnect)),
        total: median(ref.map(([, v]) => v.cpuUsPerConnect)),
      })
    }
  }
}

/**
 * ../shared/baseline, when it sits beside the repository: its cstorm is built into .bench/baseline/
 * for the cross-check row (our cclient against it on the same target). Null when absent or unbuildable.
 */
let baselineClient = null
function buildBaseline() {
  if (!existsSync(path.join(BASELINE_DIR, 'build.sh'))) {
    log(`(no native baseline at ${BASELINE_DIR}: the cross-check row is skipped; nothing else needs it)`)
    return null
  }
  const out = path.join(BENCH_DIR, 'baseline')
  const build = spawnSync('bash', [path.join(BASELINE_DIR, 'build.sh'), `${out}/`], {encoding: 'utf8', timeout: 120_000})
  if (build.status !== 0 || !existsSync(path.join(out, 'cstorm'))) {
    log(`(the native baseline at ${BASELINE_DIR} did not build: the cross-check row is skipped)`)
    return null
  }
  log(`cross-check: ${path.relative(ROOT, path.join(out, 'cstorm'))} from ${BASELINE_DIR}`)
  return path.join(out, 'cstorm')
}

/** Our native client against the baseline's, K=64 on the same target: a ratio near 1 says cclient is a fair yardstick. */
async function measureBaselineCrossCheck(target) {
  const n = SIZE.closedN
  const pairs = await sideBySide('cross-check', RUNS, () => cstorm(target.port, {n, k: 64}), () => cstorm(target.port, {n, k: 64, bin: baselineClient}))
  pairs.forEach(([ours, theirs], i) => log(`  cross-check K=64 run ${i + 1}/${RUNS}: bench/cclient ${fmt.rate(ours.rate)} · baseline cstorm ${fmt.rate(theirs.rate)} → ${fmt.ratio(ours.rate / theirs.rate)}`))
  addRow('cross-check: bench/cclient against ../shared/baseline cstorm, K=64 (native vs native)', {
    native: `baseline: ${cell(stats(pairs.map(([, theirs]) => theirs.rate)), fmt.rate)}`,
    connstorm: `cclient: ${cell(stats(pairs.map(([ours]) => ours.rate)), fmt.rate)}`,
    vs: cell(stats(pairs.map(([ours, theirs]) => ours.rate / theirs.rate)), fmt.ratio),
    target: '≈ 1× (a fair yardstick)',
    result: 'info',
  })
}

async function connstormHasWorkers() {
  for (let attempt = 1; attempt < 6; attempt++) {
    const r = spawnSync(process.execPath, [RUN_JS, 'storm', '--help'], {cwd: ROOT, encoding: 'utf8', timeout: 30_000})
    const text = `${r.stdout}${r.stderr}`
    if (/command storm\S* not found/i.test(text)) {
      await sleep(3000)
      continue
    }
    return /--workers/.test(text)
  }
  return false
}

async function measureWorkers(target) {
  const n = SIZE.closedN
  const perProcK = Math.max(1, Math.round(64 / CORES))
  const hasWorkers = await connstormHasWorkers()
  const natives = []
  const ours = []
  for (let i = 0; i < RUNS; i++) {
    const procs = await cstormTogether(target.port, CORES, {n: Math.ceil(n / CORES), k: perProcK})
    const rate = procs.reduce((sum, p) => sum + p.connects, 0) / Math.max(...procs.map((p) => p.secs))
    natives.push(rate)
    let line = `  ${CORES} processes run ${i + 1}/${RUNS}: native ×${CORES} ${fmt.rate(rate)}`
    if (hasWorkers) {
      // Each native process leaves out its own first connects: connstorm leaves out as many in all.
      const s = await connstorm(target.port, ['--burst', String(n), '--concurrency', '64', '--workers', String(CORES), '--max-duration', '90s'], {timeoutMs: 130_000, warmup: NATIVE_WARMUP * CORES})
      ours.push(s)
      line += ` · connstorm --workers ${CORES} ${fmt.rate(s.rate)} (${fmt.ratio(s.rate / rate)})`
    }
    log(line)
  }
  const ratio = hasWorkers ? stats(ours.map((s, i) => s.rate / natives[i])) : null
  addRow(`connects/s, K=64 total, ${CORES} processes (native ×${CORES}, connstorm --workers ${CORES})`, {
    native: cell(stats(natives), fmt.rate),
    connstorm: hasWorkers ? cell(stats(ours.map((s) => s.rate)), fmt.rate) : 'n/a (--workers not built yet)',
    vs: hasWorkers ? cell(ratio, fmt.ratio) : 'n/a',
    target: `≥ ${TARGETS.workers}×`,
    result: hasWorkers ? judge(ratio?.median, (x) => x >= TARGETS.workers) : 'n/a',
    loop: hasWorkers ? cell(stats(ours.map((s) => s.loopP99)), fmt.us) : '—',
  })
}

/**
 * The stall floor of this machine: one bare spin loop per core (bench/spin.mjs), nothing else of
 * ours running, for as long as a paced run. Every gap over 1 ms it sees would make a client with
 * zero overhead start (gap − 1 ms) × rate connects more than 1 ms late (catching up instantly).
 * When that is over 1 % of a run's starts, a late-start p99 under 1 ms is out of reach for any
 * client on this machine during that run, native or not; cpaced's row shows what a native client did.
 */
async function measureStallFloor(rate) {
  const ms = SIZE.pacedSecs * 1000
  const runs = []
  for (let i = 0; i < RUNS; i++) {
    const spinners = await Promise.all(
      Array.from({length: CORES}, () => runProc(process.execPath, [SPIN_JS, '--ms', String(ms)], {timeoutMs: ms + 30_000})),
    )
    const perCore = spinners.map((r) => JSON.parse(r.stdout.trim().split('\n').at(-1)).gapsMs)
    const over = perCore.map((gaps) => gaps.filter((g) => g > 1))
    // Late starts / all starts = Σ (gap − 1 ms) × rate ÷ (duration × rate): the rate cancels.
    // A client thread runs on one core at a time: take the mean core.
    const lateShare = perCore.reduce((sum, gaps) => sum + gaps.reduce((s, g) => s + Math.max(0, g - 1), 0), 0) / CORES / ms
    const longest = Math.max(0, ...perCore.flat())
    log(`  stall floor run ${i + 1}/${RUNS}: ${CORES} spin loops, ${over.map((o) => o.length).join(' + ')} stalls > 1 ms, longest ${longest.toFixed(2)} ms → ${(lateShare * 100).toFixed(2)} % of starts late at ${fmtInt(rate)}/s for a zero-overhead client`)
    runs.push({stalls: over.reduce((n, o) => n + o.length, 0) / CORES, longest, lateShare})
  }
  const share = stats(runs.map((r) => r.lateShare))
  addRow(`machine stall floor: a bare spin loop per core for ${SIZE.pacedSecs} s (no I/O) — share of starts a zero-overhead client at ${fmtInt(rate)}/s would start > 1 ms late`, {
    native: '—',
    connstorm: `${cell(share, fmt.frac)} (stalls > 1 ms per core: ${cell(stats(runs.map((r) => r.stalls)), fmt.n)}, longest ${cell(stats(runs.map((r) => r.longest * 1000)), fmt.us)})`,
    vs: '—',
    target: '≤ 1 % (above it, late-start p99 < 1 ms is out of reach for any client here)',
    result: 'info',
    loop: '—',
  })
  return share?.median ?? null
}

async function measurePaced(target) {
  const secs = SIZE.pacedSecs
  // Above a 1 % stall floor the machine, not the client, decides the late starts: the verdict says so.
  const stallFloor = await measureStallFloor(PACED_RATES.at(-1))
  const noisy = stallFloor !== null && stallFloor > 0.01 ? ` (noisy: machine stall floor ${fmt.frac(stallFloor)} > 1 %)` : ''
  // The last case: the top rate again with one connstorm thread per core, as a user who needs
  // that rate on this machine would run it (one thread tops out below it); native stays 1 process.
  const cases = PACED_RATES.map((rate) => ({rate, workers: 1}))
  if (CORES > 1) cases.push({rate: PACED_RATES.at(-1), workers: CORES})
  for (const {rate, workers} of cases) {
    const workerArgs = workers > 1 ? ['--workers', String(workers)] : []
    const pairs = await sideBySide(
      `rate ${rate}`,
      RUNS,
      async () => {
        const baseline = await cstorm(target.port, {n: rate * secs, k: PACED_K, rate, maxSecs: secs * 4 + 10})
        const lagged = await cpaced(target.port, {n: rate * secs, k: PACED_K, rate, maxSecs: secs * 4 + 10})
        return {...baseline, lagP99: lagged.lagP99, late: lagged.late}
      },
      () =>
        connstorm(target.port, ['--rate', String(rate), '--duration', `${secs}s`, '--concurrency', String(PACED_K), '--max-duration', `${secs * 3 + 10}s`, ...workerArgs], {
          timeoutMs: (secs * 3 + 40) * 1000,
          // Not polled, as cpaced is not: nothing of this row needs the process's /proc figures.
          poll: false,
        }),
    )
    const label = workers > 1 ? `paced ${fmtInt(rate)}/s, connstorm --workers ${workers}` : `paced ${fmtInt(rate)}/s`
    const acc = pairs.map(([c, s]) => ({c: c.rate / rate, s: s.json.achievedRate / rate, lag: s.json.self?.startLagUs?.p99 ?? null, nativeLag: c.lagP99, loop: s.loopP99}))
    pairs.forEach(([c, s], i) => {
      log(
        `  ${label} run ${i + 1}/${RUNS}: native ${fmt.rate(c.rate)} p50 ${c.p50} µs (machine ${busy(c.busy)}), cpaced start lag p99 ${c.lagP99} µs (${c.late} late) · connstorm ${fmt.rate(s.json.achievedRate)} (machine ${busy(s.process.busy)}) ` +
          `(connected ${s.connected}/${s.json.counts.attempted}), start lag p99 ${s.json.self?.startLagUs?.p99} µs, p50 ${s.json.latencyUs.fromActual.p50} µs, loop p99 ${s.loopP99} µs`,
      )
      if (s.json.counts.failed) notes.push(`paced ${rate}/s run ${i + 1}: connstorm had ${s.json.counts.failed} failed connects`)
    })
    const accS = stats(acc.map((x) => x.s))
    const worstDev = accS ? Math.max(Math.abs(accS.min - 1), Math.abs(accS.max - 1)) : null
    addRow(`${label}: achieved / asked`, {
      native: cell(stats(acc.map((x) => x.c)), fmt.frac),
      connstorm: cell(accS, fmt.frac),
      vs: cell(stats(pairs.map(([c, s]) => s.json.achievedRate / c.rate)), fmt.ratio),
      target: `within ${TARGETS.pacedAccuracy * 100} %`,
      result: judge(accS ? Math.abs(accS.median - 1) : null, (x) => x <= TARGETS.pacedAccuracy),
      loop: cell(stats(acc.map((x) => x.loop)), fmt.us),
    })
    if (worstDev !== null && worstDev > TARGETS.pacedAccuracy) notes.push(`${label}: a single run was ${(worstDev * 100).toFixed(2)} % off the asked rate`)
    const lag = stats(acc.map((x) => x.lag))
    const nativeLag = stats(acc.map((x) => x.nativeLag))
    // The target is for connstorm as run by default (1 thread). With one connect loop per
    // worker, each busy-polling between starts, N loops plus the target oversubscribe N cores:
    // shown for a user who would reach for --workers, not judged.
    addRow(`${label}: late-start p99 (start lag); native = bench/cpaced.c`, {
      native: cell(nativeLag, fmt.us),
      connstorm: cell(lag, fmt.us),
      vs: cell(stats(acc.map((x) => x.lag - x.nativeLag)), fmt.dus),
      target:
        workers > 1
          ? `— (${workers} busy-polling connect loops + the target on ${CORES} cores; the 1-thread row is the target's)`
          : rate === PACED_RATES.at(-1)
            ? `≤ ${TARGETS.lateStartRatio}× native (median of each)`
            : '—',
      result:
        workers > 1 || rate !== PACED_RATES.at(-1)
          ? 'info'
          : `${judge(lag && nativeLag ? lag.median / nativeLag.median : null, (x) => x <= TARGETS.lateStartRatio)}${noisy}`,
      loop: cell(stats(acc.map((x) => x.loop)), fmt.us),
    })
    if (rate === 5000 && workers === 1) {
      const p50 = pairs.map(([c, s]) => ({c: c.p50, s: s.json.latencyUs.fromActual.p50}))
      const p99 = pairs.map(([c, s]) => ({c: c.p99, s: s.json.latencyUs.fromActual.p99}))
      const d50 = stats(p50.map((x) => x.s - x.c))
      addRow('connect latency p50, paced 5,000/s (unsaturated), connstorm − native', {
        native: cell(stats(p50.map((x) => x.c)), fmt.us),
        connstorm: cell(stats(p50.map((x) => x.s)), fmt.us),
        vs: cell(d50, fmt.dus),
        target: `≤ +${TARGETS.p50OverheadUs} µs`,
        result: judge(d50?.median, (x) => x <= TARGETS.p50OverheadUs),
        loop: cell(stats(acc.map((x) => x.loop)), fmt.us),
      })
      addRow('connect latency p99, paced 5,000/s (unsaturated), connstorm − native', {
        native: cell(stats(p99.map((x) => x.c)), fmt.us),
        connstorm: cell(stats(p99.map((x) => x.s)), fmt.us),
        vs: cell(stats(p99.map((x) => x.s - x.c)), fmt.dus),
        target: '—',
        result: 'info',
        loop: cell(stats(acc.map((x) => x.loop)), fmt.us),
      })
    }
  }
}

/** RSS at a fraction of the run's wall time, from the polled samples. */
function rssAt(samples, fraction) {
  if (samples.length === 0) return null
  const end = samples[samples.length - 1][0]
  let best = samples[0]
  for (const s of samples) if (s[0] <= end * fraction) best = s
  return best[1] / 1024
}

async function measureRss(target) {
  const n = SIZE.rssN
  const runs = []
  for (let i = 0; i < RUNS; i++) {
    // ~10k connects/s here: 2 M take ~3–4 min; bounded at 10 min.
    const s = await connstorm(target.port, ['--burst', String(n), '--concurrency', '64', '--max-duration', '600s'], {timeoutMs: 660_000, pollMs: 250})
    const growth = rssAt(s.process.samples, 0.9) - rssAt(s.process.samples, 0.25)
    log(
      `  RSS ${fmtInt(n)} connects run ${i + 1}/${RUNS}: peak ${s.process.maxRssMb?.toFixed(0)} MB, RSS 25 %→90 % of the run ${fmt.dmb(growth)}, ` +
        `${fmt.rate(s.rate)}, connected ${s.connected}, ${s.json.stopReason}`,
    )
    runs.push({s, growth})
  }
  const peak = stats(runs.map((r) => r.s.process.maxRssMb))
  addRow(`peak RSS, ${fmtInt(n)} connects (closed loop K=64)`, {
    connstorm: cell(peak, fmt.mb),
    target: n >= 2_000_000 ? `< ${TARGETS.rss2mMb} MB` : `< ${TARGETS.rss2mMb} MB (at 2 M)`,
    result: judge(peak?.median, (x) => x < TARGETS.rss2mMb),
    loop: cell(stats(runs.map((r) => r.s.loopP99)), fmt.us),
    native: 'n/a (absolute target)',
  })
  const series = runs.map(
    (r, i) => `run ${i + 1}: ${[0.1, 0.25, 0.5, 0.75, 0.9, 1].map((f) => `${Math.round(f * 100)} % ${rssAt(r.s.process.samples, f)?.toFixed(0)}`).join(', ')} MB`,
  )
  notes.push(`RSS over ${fmtInt(n)} connects (VmRSS at a fraction of the run's wall time) — ${series.join('; ')}`)
  const growth = stats(runs.map((r) => r.growth))
  addRow(`RSS growth after warm-up (25 % → 90 % of that run)`, {
    connstorm: cell(growth, fmt.dmb),
    // Settled connects stay in the engine's timeout queue until --timeout (15 s) has passed, so a
    // run shorter than ~2 × 15 s is still filling it: only the full bench's 2 M run can tell "flat".
    target: QUICK ? `flat: ≤ ${TARGETS.rssGrowthMb} MB (inconclusive in BENCH_QUICK: run ≈ --timeout window)` : `flat: ≤ ${TARGETS.rssGrowthMb} MB`,
    result: judge(growth?.median, (x) => x <= TARGETS.rssGrowthMb),
    native: 'n/a',
  })
}

function fdLimit() {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], {encoding: 'utf8'})
  return Number(r.stdout.trim()) || null
}

/**
 * --close hold on the native loop: HELD_N connections held to the deadline against `ctarget -m hold`,
 * the RSS they add over a 10-connection hold storm in the same run, and the target's own count of
 * them — all open before the deadline, none after. The connects bind to four loopback source
 * addresses with the plan's own ports (--source): to one destination from one address, the kernel
 * searches the ~28k-port range past every port already taken for each connect (4–6 s for 19,000 here
 * instead of < 1 s) — its cost, on any client, not the tool's.
 */
async function measureHeld() {
  const target = await startTarget('hold')
  try {
    const flags = (n) => ['--close', 'hold', '--concurrency', String(n), '--burst', String(n), '--max-duration', '5s', '--source', '127.0.0.2-127.0.0.5']
    const runs = []
    for (let i = 0; i < RUNS; i++) {
      const base = await connstorm(target.port, flags(10), {timeoutMs: 60_000})
      await waitForTargetOpen(target, 0)
      let maxOpen = 0
      let polling = true
      const poller = (async () => {
        while (polling) {
          maxOpen = Math.max(maxOpen, (await targetCount(target)).open)
          await sleep(250)
        }
      })()
      const s = await connstorm(target.port, flags(HELD_N), {timeoutMs: 90_000, pollMs: 100})
      polling = false
      await poller
      const after = await waitForTargetOpen(target, 0)
      const added = s.process.maxRssMb !== null && base.process.maxRssMb !== null ? s.process.maxRssMb - base.process.maxRssMb : null
      const checked = s.json.heldAtEnd === HELD_N && maxOpen === HELD_N && after.open === 0
      log(
        `  held ${fmtInt(HELD_N)} run ${i + 1}/${RUNS} (${s.json.self?.connectPath}): held at the deadline ${s.json.heldAtEnd}, target's count ${maxOpen} open at most, ${after.open} after; ` +
          `peak RSS ${s.process.maxRssMb?.toFixed(1)} MB vs ${base.process.maxRssMb?.toFixed(1)} MB for 10 → ${added === null ? '—' : fmt.dmb(added)}`,
      )
      runs.push({s, base, added, checked, maxOpen})
    }
    const added = stats(runs.map((r) => r.added))
    const allChecked = runs.every((r) => r.checked)
    addRow(`RSS added by ${fmtInt(HELD_N)} held connections (--close hold) over a 10-connection hold storm; held count checked by the target`, {
      native: 'n/a (absolute target)',
      connstorm: `${cell(added, fmt.dmb)} (${cell(stats(runs.map((r) => (r.added * 1024 * 1024) / HELD_N)), (x) => `${fmtInt(x)} B`)} each); target counted ${cell(stats(runs.map((r) => r.maxOpen)), fmt.n)} open, 0 after`,
      target: `≤ ${TARGETS.heldAddedMb} MB, all ${fmtInt(HELD_N)} held until the deadline, then released`,
      result: allChecked ? judge(added?.median, (x) => x <= TARGETS.heldAddedMb) : 'MISS (held count)',
      loop: cell(stats(runs.map((r) => r.s.loopP99)), fmt.us),
    })
  } finally {
    await stopTarget(target)
  }
}

/** Polls the target until it has `open` connections open (within 5 s); its last count. */
async function waitForTargetOpen(target, open) {
  let count = await targetCount(target)
  for (let i = 0; count.open !== open && i < 25; i++) {
    await sleep(200)
    count = await targetCount(target)
  }
  return count
}

/**
 * The first-byte probe (--probe banner) against `ctarget -m reply` (one byte, then close): K=64 on
 * one thread against bench/cclient -m read, and --workers CORES against CORES cclient processes.
 * Then --probe http (undici) against `ctarget -m http`, so its cost is known, beside cclient
 * writing a bare GET and reading the first byte of the answer.
 */
/** `connstorm watch --interval 10ms` against an idle listener: its CPU, % of one core (bench/watch-cpu.mjs, its own script for working on it alone). */
async function measureWatch() {
  const done = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'watch-cpu.mjs')], {
    encoding: 'utf8',
    timeout: 300_000,
    env: {...process.env, BENCH_RUNS: String(RUNS), WATCH_SECONDS: QUICK ? '3' : '10'},
  })
  const row = done.stdout.split('\n').find((line) => line.startsWith('| watch CPU'))
  if (done.status !== 0 || row === undefined) throw new Error(`bench/watch-cpu.mjs failed: ${(done.stderr || done.stdout).trim().split('\n').at(-1)}`)
  const [metric, connstorm, baseline, target, result] = row.split('|').slice(1, -1).map((cell) => cell.trim())
  addRow(metric, {connstorm, native: baseline, target, result})
}

async function measureProbes() {
  const n = SIZE.closedN
  let target = await startTarget('reply')
  try {
    const pairs = await sideBySide(
      'banner K=64',
      RUNS,
      () => cstorm(target.port, {n, k: 64, mode: 'read'}),
      () => connstorm(target.port, ['--burst', String(n), '--concurrency', '64', '--probe', 'banner', '--max-duration', '90s'], {timeoutMs: 130_000}),
    )
    pairs.forEach(([c, s], i) =>
      log(
        `  --probe banner K=64 run ${i + 1}/${RUNS}: native ${fmt.rate(c.rate)} (first byte p50 ${c.firstByteP50} µs from socket()) · connstorm ${fmt.rate(s.rate)} (${s.json.self?.connectPath}, ` +
          `ok ${s.json.probe?.outcomes?.ok}, first byte after connect p50 ${s.json.probe?.latencyUs?.responseAfterConnect?.p50} µs) → ${fmt.ratio(s.rate / c.rate)}`,
      ),
    )
    const ratio = stats(pairs.map(([c, s]) => s.rate / c.rate))
    addRow('connect + first byte + close/s, --probe banner, closed loop K=64 (1 process) vs cclient -m read', {
      native: cell(stats(pairs.map(([c]) => c.rate)), fmt.rate),
      connstorm: cell(stats(pairs.map(([, s]) => s.rate)), fmt.rate),
      vs: cell(ratio, fmt.ratio),
      target: `≥ ${TARGETS.bannerK64}×`,
      result: judge(ratio?.median, (x) => x >= TARGETS.bannerK64),
      loop: cell(stats(pairs.map(([, s]) => s.loopP99)), fmt.us),
    })

    // Its own section: a --workers storm that lost its probe is an ERROR row, and the http row still runs.
    await section('probes --workers', async () => {
      const perProcK = Math.max(1, Math.round(64 / CORES))
      const natives = []
      const ours = []
      for (let i = 0; i < RUNS; i++) {
        const procs = await cstormTogether(target.port, CORES, {n: Math.ceil(n / CORES), k: perProcK, mode: 'read'})
        const rate = procs.reduce((sum, p) => sum + p.connects, 0) / Math.max(...procs.map((p) => p.secs))
        const s = await connstorm(target.port, ['--burst', String(n), '--concurrency', '64', '--workers', String(CORES), '--probe', 'banner', '--max-duration', '90s'], {timeoutMs: 130_000, warmup: NATIVE_WARMUP * CORES})
        // A --workers storm that dropped its probe would be measured as connect-only: not this row.
        if (s.json.probe?.outcomes?.ok !== s.connected) throw new Error(`--probe banner --workers ${CORES}: ${s.json.probe ? `${s.json.probe.outcomes.ok} probes ok of ${s.connected} connects` : 'no probe results'}`)
        natives.push(rate)
        ours.push(s)
        log(`  --probe banner --workers ${CORES} run ${i + 1}/${RUNS}: native ×${CORES} ${fmt.rate(rate)} · connstorm ${fmt.rate(s.rate)} (ok ${s.json.probe?.outcomes?.ok}) → ${fmt.ratio(s.rate / rate)}`)
      }
      const workersRatio = stats(ours.map((s, i) => s.rate / natives[i]))
      addRow(`connect + first byte + close/s, --probe banner --workers ${CORES} vs ${CORES} cclient -m read processes (K=64 total)`, {
        native: cell(stats(natives), fmt.rate),
        connstorm: cell(stats(ours.map((s) => s.rate)), fmt.rate),
        vs: cell(workersRatio, fmt.ratio),
        target: `≥ ${TARGETS.bannerWorkers}×`,
        result: judge(workersRatio?.median, (x) => x >= TARGETS.bannerWorkers),
        loop: cell(stats(ours.map((s) => s.loopP99)), fmt.us),
      })
    })
    await stopTarget(target)
    target = null

    target = await startTarget('http')
    const httpN = Math.round(n / 3)
    const http = await sideBySide(
      'http K=64',
      RUNS,
      () => cstorm(target.port, {n: httpN, k: 64, mode: 'read', send: HTTP_REQUEST}),
      () => connstorm(target.port, ['--burst', String(httpN), '--concurrency', '64', '--probe', 'http', '--max-duration', '90s'], {timeoutMs: 130_000}),
    )
    http.forEach(([c, s], i) =>
      log(`  --probe http K=64 run ${i + 1}/${RUNS}: native GET ${fmt.rate(c.rate)} · connstorm ${fmt.rate(s.rate)} (${s.json.self?.connectPath}, status ${JSON.stringify(s.json.probe?.httpStatus)}) → ${fmt.ratio(s.rate / c.rate)}`),
    )
    addRow('connect + HTTP GET + response + close/s, --probe http (undici on net.Socket), K=64 vs cclient writing the GET and reading the first byte', {
      native: cell(stats(http.map(([c]) => c.rate)), fmt.rate),
      connstorm: cell(stats(http.map(([, s]) => s.rate)), fmt.rate),
      vs: cell(stats(http.map(([c, s]) => s.rate / c.rate)), fmt.ratio),
      target: '— (its cost, known)',
      result: 'info',
      loop: cell(stats(http.map(([, s]) => s.loopP99)), fmt.us),
    })
  } finally {
    await stopTarget(target)
  }
}

async function profileK64(target) {
  const dir = path.join(BENCH_DIR, 'prof')
  rmSync(dir, {recursive: true, force: true})
  mkdirSync(dir, {recursive: true})
  const n = SIZE.profN
  const s = await connstorm(target.port, ['--burst', String(n), '--concurrency', '64', '--max-duration', '90s'], {
    timeoutMs: 130_000,
    nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  })
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  if (files.length === 0) return {text: 'no .cpuprofile written', s}
  // The main thread's profile is the largest (the queue-sampler worker writes a small one of its own).
  const sized = files.map((f) => ({f, size: readFileSync(path.join(dir, f)).length})).sort((a, b) => b.size - a.size)
  const main = path.join(dir, sized[0].f)
  const summary = summarizeCpuProfile(JSON.parse(readFileSync(main, 'utf8')), {connects: s.connected, windowMs: s.json.durationMs})
  // --cpu-prof sees JavaScript only: on the native loop the connects themselves run on a C thread.
  const where =
    s.json.self?.connectPath === 'native'
      ? 'connects made on the native loop thread, which a CPU profile does not see: this is the event loop that feeds and drains it; the per-thread CPU table above has the loop thread as "busiest other thread"\n\n'
      : ''
  const text =
    where +
    `K=64 closed loop, ${fmtInt(n)} connects under --cpu-prof: ${fmt.rate(s.rate)} (profiler overhead included), loop p99 ${s.loopP99} µs; ` +
    `profile: ${path.relative(ROOT, main)} (read again with \`node bench/profile.mjs ${path.relative(ROOT, main)} --connects ${s.connected} --window-ms ${Math.round(s.json.durationMs)}\`)\n\n` +
    formatProfileSummary(summary)
  return {text, s, summary}
}

// ---------------------------------------------------------------- main

function machineLine() {
  const cpu = readProc('/proc/cpuinfo')?.match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU'
  const kernel = readProc('/proc/sys/kernel/osrelease')?.trim() ?? '?'
  const ports = readProc('/proc/sys/net/ipv4/ip_local_port_range')?.trim().split(/\s+/).join('–') ?? '?'
  const load = readProc('/proc/loadavg')?.split(' ').slice(0, 3).join(' ') ?? '?'
  return `${CORES} cores (${cpu}), kernel ${kernel}, node ${process.version}, ephemeral ports ${ports}, open-file hard limit ${fdLimit() ?? '?'}, load average at start ${load}`
}

function renderTable() {
  const lines = [
    '| metric | native (bench/cclient) | connstorm | connstorm / native (same run) | target | result | connstorm event-loop delay p99 |',
    '|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) lines.push(`| ${r.metric} | ${r.native} | ${r.connstorm} | ${r.vs} | ${r.target} | ${r.result} | ${r.loop} |`)
  return lines.join('\n')
}

function renderCpuTable() {
  const f = (x) => (x === null || x === undefined ? '—' : x.toFixed(1))
  const lines = [
    '| CPU µs per connect (medians) | native user + sys | Node total | Node user | Node sys | main thread user | main thread sys | busiest other thread | all other threads |',
    '|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of cpuRows)
    lines.push(
      `| ${r.label} | ${f(r.nativeUser)} + ${f(r.nativeSys)} = ${f(r.native)} | ${f(r.total)} | ${f(r.user)} | ${f(r.sys)} | ${f(r.mainUser)} | ${f(r.mainSys)} | ${f(r.busiestOther)} | ${f(r.otherThreads)} |`,
    )
  return lines.join('\n')
}

async function main() {
  const t0 = performance.now()
  log(`connstorm bench (${QUICK ? 'BENCH_QUICK: 1 run each, small N' : `median of ${RUNS} runs`}); every connect goes to ${HOST}`)
  log(machineLine())
  mkdirSync(BENCH_DIR, {recursive: true})
  for (const name of ['ctarget', 'cclient', 'cpaced']) {
    const built = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', path.join(BENCH_DIR, name), path.join(ROOT, 'bench', `${name}.c`)], {encoding: 'utf8', timeout: 120_000})
    if (built.status !== 0) throw new Error(`building bench/${name}.c failed (a C compiler, cc, is needed): ${built.error?.message ?? (built.stderr || built.stdout)}`)
  }
  log(`built ${['ctarget', 'cclient', 'cpaced'].map((name) => path.relative(ROOT, path.join(BENCH_DIR, name))).join(', ')} from bench/*.c`)
  baselineClient = buildBaseline()
  if (!existsSync(path.join(ROOT, 'dist', 'commands', 'storm.js'))) {
    log('dist/ missing: npm run build')
    const b = spawnSync('npm', ['run', 'build', '--silent'], {cwd: ROOT, encoding: 'utf8', timeout: 300_000})
    if (b.status !== 0) throw new Error(`npm run build failed: ${b.stderr || b.stdout}`)
  }

  let target = await startTarget('close')
  let profile = null
  try {
    log(`target: ${path.relative(ROOT, path.join(BENCH_DIR, 'ctarget'))} -m close on ${HOST}:${target.port} (pid ${target.pid ?? target.child.pid})`)
    // Start-up cost of one connstorm process, subtracted from the CPU-per-connect figures.
    if (!ONLY || ONLY.has('closed loop')) {
      connstormCpuBase = (await connstorm(target.port, ['--burst', '100', '--concurrency', '64', '--max-duration', '10s'], {timeoutMs: 60_000})).process
      connstormCpuBase.connected = 100
      log(`connstorm start-up: ${connstormCpuBase.userS ?? '?'} s user + ${connstormCpuBase.sysS ?? '?'} s sys for a 100-connect run`)
    }

    if (baselineClient && (!ONLY || ONLY.has('cross-check'))) await section('cross-check', () => measureBaselineCrossCheck(target))
    log('1/7 closed loop, 1 process')
    await section('closed loop', () => measureClosed(target))
    log(`2/7 all cores (${CORES} processes)`)
    await section('all cores', () => measureWorkers(target))
    log('3/7 paced')
    await section('paced', () => measurePaced(target))
    log(`4/7 RSS over ${fmtInt(SIZE.rssN)} connects`)
    await section('RSS over many connects', () => measureRss(target))
    await stopTarget(target)
    target = null
    log('5/7 probes: --probe banner against bench/ctarget -m reply, --probe http against -m http')
    await section('probes', () => measureProbes())
    log(`6/7 ${fmtInt(HELD_N)} held open (bench/ctarget -m hold)`)
    await section('held open', () => measureHeld())
    target = await startTarget('close')
    log('+ the cost of one TCP_INFO read (the per-connect retransmit count)')
    await section('TCP_INFO read', () => measureTcpInfo(target))
    log('+ connstorm watch at 100 Hz: its own CPU (bench/watch-cpu.mjs)')
    await section('watch', () => measureWatch())
    log('7/7 profile of the K=64 closed loop (--cpu-prof)')
    await section('profile', async () => {
      profile = await profileK64(target)
    })
  } finally {
    await stopTarget(target)
  }

  const minutes = ((performance.now() - t0) / 60_000).toFixed(1)
  const header =
    `## connstorm bench — ${new Date().toISOString()} — ${QUICK ? 'BENCH_QUICK (1 run each, small N)' : `median [min–max] of ${RUNS} runs`} — ${minutes} min\n\n` +
    `${machineLine()}\n` +
    `closed loop: ${fmtInt(SIZE.closedN)} connects per run; paced: ${SIZE.pacedSecs} s, K ≤ ${PACED_K}; target \`bench/ctarget -m close\` (\`-m reply\` for the banner rows, \`-m http\` for the http row, \`-m hold\` for the held row); ` +
    `every connect to ${HOST}. Ratios are taken run by run (native and connstorm back to back, order alternating), then their median.`
  const pass = rows.filter((r) => r.result.startsWith('PASS')).length
  const miss = rows.filter((r) => r.result.startsWith('MISS')).length
  const na = rows.filter((r) => r.result.startsWith('n/a')).length
  const errors = rows.filter((r) => r.result === 'ERROR').length
  const report = [
    header,
    '',
    renderTable(),
    '',
    `targets: ${pass} PASS, ${miss} MISS, ${na} not measurable yet${errors ? `, ${errors} sections in ERROR` : ''}`,
    '',
    renderCpuTable(),
    '',
    'CPU: native from getrusage after its 1000-connect warm-up; Node from /usr/bin/time minus a 100-connect run (start-up), per thread from /proc/PID/task/*/stat (10 ms ticks).',
    ...(notes.length ? ['', 'notes:', ...notes.map((n) => `- ${n}`)] : []),
    '',
    '### profile',
    '',
    profile?.text ?? 'no profile',
  ].join('\n')
  process.stdout.write(`${report}\n`)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const file = path.join(BENCH_DIR, `bench-${QUICK ? 'quick-' : ''}${stamp}.md`)
  writeFileSync(file, `${report}\n`)
  log(`\nwritten to ${path.relative(ROOT, file)}`)
}

main().then(
  () => {
    killAllNow()
    process.exit(0)
  },
  (error) => {
    log(`bench failed: ${error?.stack ?? error}`)
    killAllNow()
    process.exit(1)
  },
)
