// A bare busy loop: no I/O, no allocation, nothing of connstorm's. It reads the clock as fast as
// it can for --ms milliseconds and reports every gap between two readings longer than 0.2 ms.
// Such a gap is time the machine took this thread off its CPU (kernel threads, interrupts, the
// hypervisor). The bench runs one per core beside nothing else, to show the stall floor that any
// busy client on this machine inherits: a paced client cannot start on time while it is not running.
import {performance} from 'node:perf_hooks'

const ms = Number(process.argv[process.argv.indexOf('--ms') + 1] ?? 5000)
const gaps = []
let last = performance.now()
const end = last + ms
for (;;) {
  const now = performance.now()
  if (now > end) break
  if (now - last > 0.2) gaps.push(Number((now - last).toFixed(3)))
  last = now
}
process.stdout.write(`${JSON.stringify({ms, gapsMs: gaps})}\n`)
