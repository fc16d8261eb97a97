// bench/profile.mjs — summarise a V8 .cpuprofile (node --cpu-prof): self time by function + file,
// inclusive time of the frames that matter for a connect storm, and a breakdown into categories.
//
//   node bench/profile.mjs FILE.cpuprofile [--connects N] [--window-ms MS]
//
// How V8 charges time: a sample is charged to the JS function on top of the stack. Time spent in a
// C++ binding — and in the syscalls it makes — is charged to the JS function that called it. So
// `internalConnect` (node:net) self time is TCPWrap::Connect → uv_tcp_connect → socket() + connect();
// on loopback the kernel runs the whole three-way handshake (both sides, in softirq) inside that
// connect(), so this is where the kernel's ~30 µs per connect shows. `Socket._destroy` self time is
// the handle's close (SO_LINGER + close() for resetAndDestroy). "(program)" is native code with no
// JS on the stack (libuv's poll phase, the C++ side of completions), "(idle)" is epoll_wait with
// nothing ready, "(garbage collector)" is GC on the main thread.

import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Frames shown with their inclusive time (the sample has this frame anywhere on its stack). */
const KEY_FRAMES = [
  ['pump', 'storm.js'],
  ['launch', 'storm.js'],
  ['onSocketConnect', 'storm.js'],
  ['onConnect', 'storm.js'],
  ['connect', 'node:net'],
  ['Socket', 'node:net'],
  ['Socket.connect', 'node:net'],
  ['internalConnect', 'node:net'],
  ['afterConnect', 'node:net'],
  ['Socket.resetAndDestroy', 'node:net'],
  ['Socket._destroy', 'node:net'],
  ['recordStart', 'recorder.js'],
  ['recordConnected', 'recorder.js'],
  ['recordValue', 'JsHistogram.js'],
  ['processImmediate', 'timers'],
  ['processTicksAndRejections', 'task_queues'],
]

/**
 * Categories: each sample goes to the first frame, walking from the leaf towards the root, that
 * matches one of these rules (so resetAndDestroy called from our onConnect counts as "close").
 */
const CATEGORIES = [
  ['GC (main thread)', (f) => f.functionName === '(garbage collector)'],
  ['idle (epoll_wait, nothing ready)', (f) => f.functionName === '(idle)'],
  ['(program): native, no JS on stack (libuv poll, C++ callbacks)', (f) => f.functionName === '(program)'],
  ['histogram recording (recorder.js, hdr-histogram-js)', (f) => /hdr-histogram-js|results\/recorder\.js/.test(f.url)],
  ['new net.Socket (constructor, stream state, TCP handle)', (f) => f.url === 'node:net' && f.functionName === 'Socket'],
  ['close: resetAndDestroy/destroy + setsockopt/close() syscalls', (f) => (f.url === 'node:net' && /(_destroy|resetAndDestroy|destroy)$/.test(f.functionName)) || /internal\/streams\/destroy/.test(f.url)],
  ['socket.connect: JS path + socket()/connect() syscalls (loopback handshake)', (f) => f.url === 'node:net' && /^(internalConnect|lookupAndConnect|Socket\.connect|defaultTriggerAsyncIdScope)$/.test(f.functionName)],
  ['connect completion: afterConnect, emit, listeners', (f) => f.url === 'node:net' && f.functionName === 'afterConnect'],
  ['engine own code (pump, launch, onConnect, settle, timers)', (f) => /engine\/storm\.js$/.test(f.url)],
  ['node:net other (connect(), options, address checks)', (f) => f.url === 'node:net' || /internal\/net/.test(f.url)],
  ['event-loop machinery (immediates, nextTick, timers)', (f) => /^(processImmediate|processTicksAndRejections|listOnTimeout|processTimers)$/.test(f.functionName)],
]
const OTHER = 'other (startup, module loading, report, JSON)'

export function shortUrl(url) {
  if (!url) return ''
  let u = url.replace(/^file:\/\//, '')
  const nm = u.lastIndexOf('/node_modules/')
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length)
  if (u.startsWith(ROOT + '/')) return u.slice(ROOT.length + 1)
  return u
}

/**
 * profile: parsed .cpuprofile. connects: for µs-per-connect columns. windowMs: only the last
 * windowMs before the last sample that has our engine (dist/engine/storm.js) on its stack — the
 * storm itself, without start-up, warm-up and the report.
 */
export function summarizeCpuProfile(profile, {connects = 0, windowMs = 0} = {}) {
  const nodes = new Map()
  for (const node of profile.nodes) nodes.set(node.id, node)
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const stackCache = new Map()
  const stackOf = (id) => {
    let stack = stackCache.get(id)
    if (stack) return stack
    stack = []
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = nodes.get(cur).callFrame
      if (frame.functionName === '(root)') break
      stack.push(frame) // leaf first
    }
    stackCache.set(id, stack)
    return stack
  }
  const isEngine = (stack) => stack.some((f) => /engine\/storm\.js$/.test(f.url))

  // Sample i stands for [t_i, t_{i+1}); the last one runs to endTime.
  const {samples, timeDeltas} = profile
  const times = new Array(samples.length)
  let t = profile.startTime
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0
    times[i] = t
  }
  const dur = (i) => Math.max(0, (i + 1 < samples.length ? times[i + 1] : profile.endTime) - times[i])

  let from = -Infinity
  let to = Infinity
  if (windowMs > 0) {
    let lastEngine = -1
    for (let i = samples.length - 1; i >= 0; i--) {
      if (isEngine(stackOf(samples[i]))) {
        lastEngine = i
        break
      }
    }
    if (lastEngine >= 0) {
      to = times[lastEngine] + dur(lastEngine)
      from = to - windowMs * 1000
    }
  }

  const self = new Map()
  const inclusive = new Map()
  const categories = new Map()
  let totalUs = 0
  let sampleCount = 0
  for (let i = 0; i < samples.length; i++) {
    if (times[i] < from || times[i] >= to) continue
    const d = dur(i)
    const stack = stackOf(samples[i])
    totalUs += d
    sampleCount++
    const leaf = stack[0] ?? {functionName: '(root)', url: '', lineNumber: -1}
    const selfKey = `${leaf.functionName || '(anonymous)'}\u0000${leaf.url}\u0000${leaf.lineNumber}`
    self.set(selfKey, (self.get(selfKey) ?? 0) + d)
    const seen = new Set()
    for (const f of stack) {
      const k = `${f.functionName}\u0000${f.url}`
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + d)
    }
    let category = OTHER
    outer: for (const f of stack) {
      for (const [name, rule] of CATEGORIES) {
        if (rule(f)) {
          category = name
          break outer
        }
      }
    }
    categories.set(category, (categories.get(category) ?? 0) + d)
  }

  const perConnect = (us) => (connects > 0 ? us / connects : null)
  const row = (label, us, extra = {}) => ({label, ms: us / 1000, pct: totalUs ? (100 * us) / totalUs : 0, usPerConnect: perConnect(us), ...extra})

  const topSelf = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([k, us]) => {
      const [fn, url, line] = k.split('\u0000')
      const where = url ? `${shortUrl(url)}${Number(line) >= 0 ? `:${Number(line) + 1}` : ''}` : '(native)'
      return row(fn, us, {where})
    })
  const keyFrames = []
  for (const [fn, urlEnd] of KEY_FRAMES) {
    let us = 0
    for (const [k, v] of inclusive) {
      const [f, url] = k.split('\u0000')
      if (f === fn && url.endsWith(urlEnd)) us += v
    }
    if (us > 0) keyFrames.push(row(`${fn} (${urlEnd})`, us))
  }
  const cats = [...categories.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => row(name, us))
  return {totalMs: totalUs / 1000, samples: sampleCount, windowed: Number.isFinite(from), connects, topSelf, keyFrames, categories: cats}
}

export function formatProfileSummary(summary) {
  const f1 = (x) => (x === null ? '—' : x.toFixed(1))
  const lines = []
  lines.push(
    `profiled ${summary.totalMs.toFixed(0)} ms on the main thread (${summary.samples} samples${summary.windowed ? ', storm window only' : ''})` +
      (summary.connects ? `, ${summary.connects} connects → ${(summary.totalMs * 1000 / summary.connects).toFixed(1)} µs of main-thread time per connect` : ''),
  )
  lines.push('', '| where the time goes (by stack) | ms | % | µs/connect |', '|---|---:|---:|---:|')
  for (const c of summary.categories) lines.push(`| ${c.label} | ${c.ms.toFixed(0)} | ${c.pct.toFixed(1)} | ${f1(c.usPerConnect)} |`)
  lines.push('', '| top self time: function | where | ms | % | µs/connect |', '|---|---|---:|---:|---:|')
  for (const c of summary.topSelf) lines.push(`| ${c.label} | ${c.where} | ${c.ms.toFixed(0)} | ${c.pct.toFixed(1)} | ${f1(c.usPerConnect)} |`)
  lines.push('', '| inclusive time: frame | ms | % | µs/connect |', '|---|---:|---:|---:|')
  for (const c of summary.keyFrames) lines.push(`| ${c.label} | ${c.ms.toFixed(0)} | ${c.pct.toFixed(1)} | ${f1(c.usPerConnect)} |`)
  return lines.join('\n')
}

// CLI
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const file = args.find((a) => !a.startsWith('--'))
  if (!file) {
    console.error('usage: node bench/profile.mjs FILE.cpuprofile [--connects N] [--window-ms MS]')
    process.exit(2)
  }
  const opt = (name) => {
    const i = args.indexOf(name)
    return i >= 0 ? Number(args[i + 1]) : 0
  }
  const summary = summarizeCpuProfile(JSON.parse(readFileSync(file, 'utf8')), {connects: opt('--connects'), windowMs: opt('--window-ms')})
  console.log(formatProfileSummary(summary))
}
