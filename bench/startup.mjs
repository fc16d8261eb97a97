// Start-up of the CLI, for docs/performance.md: the median of N runs (default 5) of each command,
// wall time from spawn to exit (or, for `lab`, to its first line: it is listening), for one or
// more builds side by side in the same run. Usage:
//   node bench/startup.mjs [--runs N] LABEL=path/to/bin/run.js …   (default: this checkout)
import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const runsAt = args.indexOf('--runs')
const runs = runsAt === -1 ? 5 : Number(args.splice(runsAt, 2)[1])
const builds = args.length > 0 ? args.map((arg) => arg.split('=')) : [['this', fileURLToPath(new URL('../bin/run.js', import.meta.url))]]
const fixture = fileURLToPath(new URL('../test/fixtures/results/lab-burst.json', import.meta.url))

const COMMANDS = [
  ['connstorm --help', ['--help'], 'exit'],
  ['connstorm storm --help', ['storm', '--help'], 'exit'],
  ['connstorm lab (until listening)', ['lab', '--json', '--max-duration', '10s'], 'first-line'],
  ['connstorm analyze FILE', ['analyze', fixture], 'exit'],
  // The lab every storm without a TARGET starts for itself: src/lab/child.ts, no oclif (its own entry).
  ['lab child of a storm (until listening)', ['@lab-child', JSON.stringify({host: '127.0.0.1', port: 0, backlog: 511, stallMs: 0, stallEveryMs: null, stallForMs: null, acceptRate: null, onAccept: 'close', handlerDelayMs: 0, maxDurationMs: 10_000})], 'first-line'],
]

function once(runJs, argv, until) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    // '@lab-child' stands for the lab's own entry in that build (dist/lab/child.js beside bin/).
    const entry = argv[0] === '@lab-child' ? [fileURLToPath(new URL('../dist/lab/child.js', new URL(`file://${runJs}`))), ...argv.slice(1)] : [runJs, ...argv]
    // stdin a pipe kept open: the lab child ends when its stdin closes (src/lab/supervise.ts).
    const child = spawn(process.execPath, entry, {stdio: ['pipe', 'pipe', 'ignore']})
    const done = () => resolve(Number(process.hrtime.bigint() - started) / 1e6)
    if (until === 'first-line') {
      child.stdout.once('data', () => {
        done()
        child.kill('SIGTERM')
      })
    } else {
      child.stdout.resume()
      child.once('exit', done)
    }
    child.once('error', reject)
  })
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const rows = []
for (const [name, argv, until] of COMMANDS) {
  const times = Object.fromEntries(builds.map(([label]) => [label, []]))
  // Interleaved, so a change in the machine's load falls on every build alike.
  for (let i = 0; i < runs; i++) for (const [label, runJs] of builds) times[label].push(await once(runJs, argv, until))
  rows.push([name, ...builds.map(([label]) => `${(median(times[label]) / 1000).toFixed(2)} s`)])
}
console.log(`| command | ${builds.map(([label]) => label).join(' | ')} |`)
console.log(`|---|${builds.map(() => '---').join('|')}|`)
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
