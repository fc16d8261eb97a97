// bench/naive.mjs — the smallest honest Node connect loop, as a reference row for the bench:
// K connects in flight with net.connect, each reset (resetAndDestroy) as soon as it connects, a new
// one started from the 'connect' handler. No histograms, no scheduler, no kernel sampler: what
// net.Socket itself costs on this machine. Like BASELINES.md's nstorm, the first 1000 connects are
// warm-up and excluded from the rate.
//
//   node bench/naive.mjs --port P [--host 127.0.0.1] [-n TOTAL] [-k K] [--max-seconds S]
// Prints one line: connects= errors= secs= rate= cpu_user= cpu_sys=
import net from 'node:net'

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : dflt
}
const host = opt('--host', '127.0.0.1')
const port = Number(opt('--port', '0'))
const total = Number(opt('-n', '60000'))
const k = Number(opt('-k', '64'))
const maxSeconds = Number(opt('--max-seconds', '60'))
const WARM = 1000
if (!(port > 0) || !(total > 0) || !(k > 0)) {
  console.error('usage: node bench/naive.mjs --port P [-n TOTAL] [-k K] [--max-seconds S]')
  process.exit(2)
}

const need = total + WARM
let started = 0
let done = 0
let errors = 0
let t0 = 0n
let cpu0 = process.cpuUsage()

function finish() {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  const measured = Math.max(0, done - WARM)
  console.log(
    `connects=${measured} errors=${errors} secs=${secs.toFixed(3)} rate=${(measured / secs).toFixed(0)} cpu_user=${(cpu.user / 1e6).toFixed(3)} cpu_sys=${(cpu.system / 1e6).toFixed(3)}`,
  )
  process.exit(0)
}

function onConnect() {
  this.resetAndDestroy()
  done++
  if (done === WARM) {
    t0 = process.hrtime.bigint()
    cpu0 = process.cpuUsage()
  }
  if (done >= need) return finish()
  if (started < need) launch()
}

function onError() {
  errors++
  if (errors > 1000 && errors > done) {
    console.error('naive: too many errors')
    process.exit(1)
  }
  if (started < need) launch()
}

function launch() {
  started++
  const socket = net.connect({host, port})
  socket.once('connect', onConnect)
  socket.on('error', onError)
}

setTimeout(() => {
  console.error('naive: max seconds reached')
  finish()
}, maxSeconds * 1000).unref()
for (let i = 0; i < k && started < need; i++) launch()
