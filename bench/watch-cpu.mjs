// `node bench/watch-cpu.mjs`: the CPU cost of `connstorm watch --interval 10ms` (100 Hz), as % of
// one core, read from the watch file's own figure (process.cpuUsage over the watch, start-up
// excluded) over WATCH_SECONDS against an idle listener on 127.0.0.1. Beside it, in the same run,
// a bare Node process with an empty 100 Hz setInterval: on a shared 2-core machine the timer's
// wake-ups alone cost a visible share, and only the two side by side say what the sampling adds.
// Prints one markdown row per figure; target < 2 %. On stderr, per run, the same watch's CPU by
// thread over its middle (/proc/PID/task/*/schedstat, ns on a CPU): the addon's sampling thread
// (connstorm-watch), Node's main thread, and the rest (V8's and libuv's). Loopback only; every
// process it starts is ended by its PID.
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUN_JS = path.join(ROOT, 'bin', 'run.js')
const SECONDS = Number(process.env.WATCH_SECONDS ?? 10)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const TARGET_PERCENT = 2

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

function emptyTimerPercent() {
  const source = `const c = process.cpuUsage(); const t = performance.now()
const timer = setInterval(() => {}, 10)
setTimeout(() => { clearInterval(timer); const d = process.cpuUsage(c); console.log((d.user + d.system) / 10 / (performance.now() - t)) }, ${SECONDS * 1000})`
  const done = spawnSync(process.execPath, ['-e', source], {encoding: 'utf8', timeout: (SECONDS + 30) * 1000})
  return Number(done.stdout.trim())
}

/** ns each thread of `pid` has run, by name: 'main' for the main thread. */
function threadTimes(pid) {
  const times = {}
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'connstorm-watch' ? 'sampler' : 'other'
      times[name] = (times[name] ?? 0) + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    }
  } catch {
    // the process ended meanwhile
  }
  return times
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function watchPercent(port, out) {
  const child = spawn(process.execPath, [RUN_JS, 'watch', String(port), '--interval', '10ms', '--duration', `${SECONDS}s`, '--out', out], {stdio: 'ignore'})
  const killer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 30) * 1000)
  const closed = new Promise((resolve) => child.once('close', resolve))
  // The middle of the watch: from 1.5 s (start-up done) to 1 s before its end.
  const windowMs = (SECONDS - 2.5) * 1000
  let threads = null
  if (windowMs > 0) {
    await sleep(1500)
    const before = threadTimes(child.pid)
    const from = performance.now()
    await sleep(windowMs)
    const after = threadTimes(child.pid)
    const ms = performance.now() - from
    threads = Object.fromEntries(['sampler', 'main', 'other'].map((name) => [name, ((after[name] ?? 0) - (before[name] ?? 0)) / 1e4 / ms]))
  }
  const code = await closed
  clearTimeout(killer)
  if (code !== 0) throw new Error(`connstorm watch exited ${code}`)
  const watch = JSON.parse(readFileSync(out, 'utf8'))
  return {percent: watch.watcher.cpuUs / 10 / watch.watcher.wallMs, samples: watch.samples.length, threads}
}

const server = createServer()
await new Promise((resolve) => server.listen({port: 0, host: '127.0.0.1', backlog: 32}, resolve))
const directory = mkdtempSync(path.join(tmpdir(), 'connstorm-bench-watch-'))
try {
  const watch = []
  const empty = []
  for (let run = 0; run < RUNS; run++) {
    const measured = await watchPercent(server.address().port, path.join(directory, `w${run}.json`))
    watch.push(measured.percent)
    empty.push(emptyTimerPercent())
    const byThread = measured.threads === null ? '' : `; by thread over its middle: sampler ${measured.threads.sampler.toFixed(2)}, main ${measured.threads.main.toFixed(2)}, other ${measured.threads.other.toFixed(2)} %`
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
    console.error(`run ${run + 1}/${RUNS}: watch ${measured.percent.toFixed(2)} % (${measured.samples} samples${byThread}), empty 100 Hz timer ${empty.at(-1).toFixed(2)} %, load ${load}`)
  }
  const fmt = (values) => `${median(values).toFixed(2)} % [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`
  const verdict = median(watch) < TARGET_PERCENT ? 'PASS' : 'MISS'
  console.log('| metric | connstorm | baseline | target | result |')
  console.log('|---|---|---|---|---|')
  console.log(`| watch CPU at 100 Hz (--interval 10ms, ${SECONDS} s, idle listener), % of one core | ${fmt(watch)} | empty 100 Hz Node timer ${fmt(empty)} | < ${TARGET_PERCENT} % | ${verdict} |`)
} finally {
  server.close()
  rmSync(directory, {recursive: true, force: true})
}
