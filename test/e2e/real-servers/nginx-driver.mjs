// Runs inside a network namespace of its own (the test starts it with `unshare --net`): a real
// nginx listening with backlog=32, stalled the way nginx really stalls (its one worker SIGSTOPped),
// stormed; the backlog line connstorm prints for nginx applied to nginx.conf exactly as printed,
// applied the way the advice says (a reload); the listener's new backlog read back with
// `connstorm inspect`; the same storm again. Prints one JSON summary on stdout. Everything it
// starts is ended by PID before it exits, also on failure; the namespace goes with the last process.
import {execFileSync, spawn} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const [directory, port = '8088'] = process.argv.slice(2)
const RUN_JS = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))
const conf = join(directory, 'nginx.conf')
const STALL_MS = 2500
const BURST = '150'

function config(listenLine) {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${directory}/nginx.pid;
error_log ${directory}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${directory}/body;
  proxy_temp_path ${directory}/proxy;
  fastcgi_temp_path ${directory}/fastcgi;
  uwsgi_temp_path ${directory}/uwsgi;
  scgi_temp_path ${directory}/scgi;
  server {
    ${listenLine}
    return 200 "ok\\n";
  }
}
`
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function connstorm(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN_JS, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}

function workerPid(masterPid) {
  const children = execFileSync('pgrep', ['-P', String(masterPid)], {encoding: 'utf8'}).trim().split('\n').filter(Boolean)
  if (children.length !== 1) throw new Error(`expected one nginx worker, found ${children.length}`)
  return Number(children[0])
}

/** A storm against nginx while its worker is stopped for STALL_MS from just before the burst. */
async function stalledStorm(masterPid) {
  const worker = workerPid(masterPid)
  process.kill(worker, 'SIGSTOP')
  try {
    const storm = connstorm(['storm', `127.0.0.1:${port}`, '--burst', BURST, '--server', 'nginx', '--json'])
    await sleep(STALL_MS)
    process.kill(worker, 'SIGCONT')
    const run = await storm
    if (run.code !== 0) throw new Error(`storm exited ${run.code}: ${run.stderr}`)
    return JSON.parse(run.stdout)
  } finally {
    try {
      process.kill(worker, 'SIGCONT')
    } catch {}
  }
}

async function effectiveBacklog() {
  const run = await connstorm(['inspect', port, '--json'])
  if (run.code !== 0) throw new Error(`inspect exited ${run.code}: ${run.stderr}`)
  const seen = JSON.parse(run.stdout)
  return seen.listeners.map((listener) => listener.sendQ)
}

function summary(result) {
  const steps = Object.fromEntries((result.attribution?.steps ?? []).map((step) => [step.retransmits, step.connects]))
  return {connected: result.counts.connected, failed: result.counts.failed, steps, listenOverflows: result.kernel?.counterDeltas?.TcpExtListenOverflows ?? null}
}

execFileSync('ip', ['link', 'set', 'lo', 'up'])
writeFileSync(conf, config(`listen 127.0.0.1:${port} backlog=32;`))
const nginx = spawn('nginx', ['-c', conf, '-p', directory], {stdio: 'ignore'})
const out = {}
try {
  for (let i = 0; i < 100 && (await effectiveBacklog().catch(() => [])).length === 0; i++) await sleep(50)
  out.backlogBefore = await effectiveBacklog()
  const before = await stalledStorm(nginx.pid)
  out.before = summary(before)
  const advice = before.recommendations.find((recommendation) => recommendation.knob === 'backlog')
  out.advice = {current: advice.current, proposed: advice.proposed, lines: advice.lines}
  // The line as printed, e.g. "listen 80 backlog=255;  # on each listen directive …": a user keeps
  // their own address and puts the printed backlog= on it.
  const printed = /backlog=(\d+)/.exec(advice.lines[0])[1]
  writeFileSync(conf, config(`listen 127.0.0.1:${port} backlog=${printed};`))
  out.applyNote = advice.lines.find((line) => line.startsWith('#') && /reload/.test(line)) ?? null
  execFileSync('nginx', ['-c', conf, '-p', directory, '-s', 'reload'], {stdio: 'ignore'})
  // The reload has re-listened when inspect shows the new backlog (the old worker leaves meanwhile).
  for (let i = 0; i < 100 && !(await effectiveBacklog()).includes(Number(printed)); i++) await sleep(50)
  out.backlogAfter = await effectiveBacklog()
  for (let i = 0; i < 100; i++) {
    try {
      workerPid(nginx.pid)
      break
    } catch {
      await sleep(50)
    }
  }
  out.after = summary(await stalledStorm(nginx.pid))
} catch (error) {
  out.error = String(error?.stack ?? error)
} finally {
  nginx.kill('SIGTERM')
  await new Promise((resolve) => (nginx.exitCode === null ? nginx.once('exit', resolve) : resolve()))
  out.log = (() => {
    try {
      return readFileSync(join(directory, 'error.log'), 'utf8').slice(-2000)
    } catch {
      return ''
    }
  })()
}
process.stdout.write(`${JSON.stringify(out)}\n`)
