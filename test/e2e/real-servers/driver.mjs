// Runs inside a network namespace of its own (the test starts it with `unshare --net`): a real
// server (nginx, Redis, HAProxy from Debian) listening on loopback with a small backlog set in its
// own configuration syntax, stalled the way it really stalls (its accepting process SIGSTOPped),
// stormed with --server NAME; the backlog line connstorm prints applied to the server's config
// exactly as printed and the way the advice says (reload or restart); the listener's backlog read
// back with `connstorm inspect`; the same storm again. Prints one JSON summary on stdout.
// Everything it starts is ended by PID before it exits, also on failure; the namespace goes with
// the last process.
//   node driver.mjs nginx|redis|haproxy|memcached|apache|gunicorn|uvicorn|go|postgres|tomcat DIRECTORY
//   node driver.mjs nginx DIRECTORY somaxconn   (the somaxconn sequence)
//   node driver.mjs nginx DIRECTORY reuseport   (4 workers, `listen … reuseport backlog=8`)
import {execFileSync, spawn} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {writeNginxConfig} from './nginx-config.mjs'

const [name, directory] = process.argv.slice(2)
const RUN_JS = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))
const STALL_MS = 1500
const MODE = process.argv[4] ?? 'advice'
const BURST = {somaxconn: '300', reuseport: '200'}[MODE] ?? '150'
const BACKLOG = MODE === 'reuseport' ? 8 : 32
// reuseport: nginx opens one listening socket per worker (an SO_REUSEPORT group, docs/kernel.md §16).
const WORKERS = MODE === 'reuseport' ? 4 : 1

/**
 * Each server: its config with a given backlog, how it starts, which process accepts (the one to
 * stop), and how a changed backlog is applied when the advice says reload.
 */
const PROFILES = {
  nginx: {
    port: 8088,
    write(backlog) {
      writeNginxConfig(directory, {listen: `127.0.0.1:8088${MODE === 'reuseport' ? ' reuseport' : ''} backlog=${backlog}`, workers: WORKERS})
    },
    start: () => spawn('nginx', ['-c', join(directory, 'nginx.conf'), '-p', directory], {stdio: 'ignore'}),
    /** the workers accept (one, or one per reuseport socket); the master only re-listens on reload */
    acceptor: (server) => (WORKERS === 1 ? onlyChild(server.pid) : children(server.pid, WORKERS)),
    reload: () => execFileSync('nginx', ['-c', join(directory, 'nginx.conf'), '-p', directory, '-s', 'reload'], {stdio: 'ignore'}),
  },
  redis: {
    port: 6390,
    write(backlog) {
      writeFileSync(join(directory, 'redis.conf'), `port 6390\nbind 127.0.0.1\ntcp-backlog ${backlog}\nsave ""\nappendonly no\ndaemonize no\ndir ${directory}\nlogfile ${directory}/error.log\n`)
    },
    start: () => spawn('redis-server', [join(directory, 'redis.conf')], {stdio: 'ignore'}),
    /** one event loop accepts and serves: the process itself */
    acceptor: (server) => server.pid,
    /** what a user tries first: CONFIG SET (refused: tcp-backlog is immutable) */
    withoutRestart: (backlog) => {
      try {
        return execFileSync('redis-cli', ['-p', '6390', 'CONFIG', 'SET', 'tcp-backlog', String(backlog)], {encoding: 'utf8'}).trim()
      } catch (error) {
        return String(error.stdout ?? error).trim()
      }
    },
  },
  haproxy: {
    port: 8089,
    write(backlog) {
      writeFileSync(
        join(directory, 'haproxy.cfg'),
        `global
  nbthread 1
  log stderr format raw local0 emerg
defaults
  mode tcp
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend storm
  bind 127.0.0.1:8089 backlog ${backlog}
  tcp-request connection reject
`,
      )
    },
    start: () => spawn('haproxy', ['-db', '-f', join(directory, 'haproxy.cfg')], {stdio: 'ignore'}),
    acceptor: (server) => server.pid,
  },
  memcached: {
    port: 11299,
    // memcached takes its backlog on the command line (-b): the "config" is the argument list.
    write(backlog) {
      writeFileSync(join(directory, 'memcached.args'), JSON.stringify(['-u', 'root', '-l', '127.0.0.1', '-p', '11299', '-U', '0', '-t', '1', '-b', String(backlog)]))
    },
    start: () => spawn('memcached', JSON.parse(readFileSync(join(directory, 'memcached.args'), 'utf8')), {stdio: 'ignore'}),
    acceptor: (server) => server.pid,
  },
  apache: {
    port: 8090,
    write(backlog) {
      writeFileSync(
        join(directory, 'httpd.conf'),
        `ServerRoot /usr/lib/apache2
LoadModule mpm_prefork_module modules/mod_mpm_prefork.so
LoadModule authz_core_module modules/mod_authz_core.so
ServerName localhost
Listen 127.0.0.1:8090
ListenBacklog ${backlog}
AcceptFilter http none
PidFile ${directory}/httpd.pid
ErrorLog ${directory}/error.log
DocumentRoot ${directory}
Mutex file:${directory} default
User www-data
Group www-data
`,
      )
    },
    // -X: one process that accepts and serves (Apache's debug mode), so stopping it stops accepts.
    // AcceptFilter http none: Apache's default on Linux (TCP_DEFER_ACCEPT) keeps a connection out
    // of the accept queue until its first data, so a connect-only storm completes every handshake
    // from the client's side and never meets the full queue (seen: all 150 at once, backlog 32);
    // --probe shows that wait instead. Without it the queue behaves as the backlog says.
    start: () => spawn('apache2', ['-X', '-f', join(directory, 'httpd.conf')], {stdio: 'ignore', env: {...process.env, APACHE_RUN_DIR: directory, APACHE_LOCK_DIR: directory, APACHE_LOG_DIR: directory}}),
    acceptor: (server) => server.pid,
  },
  gunicorn: {
    port: 8092,
    write(backlog) {
      writeFileSync(join(directory, 'app.py'), "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n")
      writeFileSync(join(directory, 'gunicorn.args'), JSON.stringify(['--backlog', String(backlog), '-w', '1', '-b', '127.0.0.1:8092', '--chdir', directory, 'app:app']))
    },
    start: () => spawn('gunicorn', JSON.parse(readFileSync(join(directory, 'gunicorn.args'), 'utf8')), {stdio: 'ignore'}),
    /** the arbiter holds the socket, its one (sync) worker accepts */
    acceptor: (server) => onlyChild(server.pid),
  },
  uvicorn: {
    port: 8093,
    write(backlog) {
      writeFileSync(
        join(directory, 'app.py'),
        "async def app(scope, receive, send):\n    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n    await send({'type': 'http.response.body', 'body': b'ok'})\n",
      )
      writeFileSync(join(directory, 'uvicorn.args'), JSON.stringify(['-m', 'uvicorn', '--backlog', String(backlog), '--host', '127.0.0.1', '--port', '8093', '--app-dir', directory, '--log-level', 'warning', 'app:app']))
    },
    // Debian's python3 (python3-uvicorn), whatever python3 comes first on PATH.
    start: () => spawn('/usr/bin/python3', JSON.parse(readFileSync(join(directory, 'uvicorn.args'), 'utf8')), {stdio: 'ignore'}),
    acceptor: (server) => server.pid,
  },
  go: {
    port: 8094,
    /** Go has no backlog of its own: it listens with somaxconn, read once per process (docs/kernel.md §6). */
    write(somaxconn) {
      // As the advice prints it (inside this namespace only: somaxconn is per network namespace).
      execFileSync('sysctl', ['-q', '-w', `net.core.somaxconn=${somaxconn}`], {stdio: 'ignore'})
      writeFileSync(
        join(directory, 'main.go'),
        'package main\n\nimport "net"\n\nfunc main() {\n\tl, err := net.Listen("tcp", "127.0.0.1:8094")\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tfor {\n\t\tc, err := l.Accept()\n\t\tif err == nil {\n\t\t\tc.Close()\n\t\t}\n\t}\n}\n',
      )
      if (!existsSync(join(directory, 'server'))) {
        // Go's own build cache (~/.cache/go-build), as for any Go user: a cold one compiles the runtime (~10 s of CPU).
        execFileSync('go', ['build', '-o', join(directory, 'server'), join(directory, 'main.go')], {stdio: 'ignore'})
      }
    },
    start: () => spawn(join(directory, 'server'), [], {stdio: 'ignore'}),
    acceptor: (server) => server.pid,
    /** the advice has no backlog line for Go: the somaxconn line is what to apply */
    knob: 'net.core.somaxconn',
  },
  postgres: {
    port: 5499,
    /** the listen backlog is 2 × max_connections (pqcomm.c): max_connections is what is set */
    write(backlog) {
      const data = join(directory, 'data')
      if (!existsSync(data)) {
        execFileSync('chown', ['postgres:postgres', directory])
        execFileSync('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', `${PG_BIN}/initdb`, '-D', data, '-A', 'trust', '--no-sync'], {stdio: 'ignore'})
      }
      // The advice prints max_connections = N; a later line in postgresql.conf wins, as a user's edit would.
      // Before: max_connections 4, the least above superuser_reserved_connections 3; PostgreSQL 15
      // then listens with 2 × (4 + 22) = 52.
      const maxConnections = backlog === BACKLOG ? 4 : backlog
      writeFileSync(
        join(data, 'postgresql.auto.conf'),
        `listen_addresses = '127.0.0.1'\nport = 5499\nunix_socket_directories = '${directory}'\nmax_connections = ${maxConnections}\nfsync = off\n`,
      )
    },
    start: () => spawn('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', `${PG_BIN}/postgres`, '-D', join(directory, 'data')], {stdio: 'ignore'}),
    /** the postmaster accepts, then forks a backend per connection */
    acceptor: (server) => server.pid,
    /**
     * The printed number is max_connections; PostgreSQL 15 listens with 2 × MaxBackends: with it the
     * defaults autovacuum_max_workers 3, the launcher 1, max_worker_processes 8, max_wal_senders 10.
     */
    backlogOf: (printed) => 2 * (printed + 22),
  },
  tomcat: {
    port: 8095,
    /** acceptCount is the Connector's listen backlog */
    write(backlog) {
      for (const sub of ['conf', 'logs', 'temp', 'webapps', 'work']) mkdirSync(join(directory, sub), {recursive: true})
      copyFileSync('/etc/tomcat10/web.xml', join(directory, 'conf', 'web.xml'))
      writeFileSync(
        join(directory, 'conf', 'server.xml'),
        `<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="8095" address="127.0.0.1" protocol="HTTP/1.1" acceptCount="${backlog}" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
`,
      )
    },
    // catalina.sh run execs java: the spawned PID is the JVM, whose acceptor thread stops with it.
    start: () =>
      spawn('/usr/share/tomcat10/bin/catalina.sh', ['run'], {
        stdio: 'ignore',
        env: {...process.env, CATALINA_HOME: '/usr/share/tomcat10', CATALINA_BASE: directory, CATALINA_TMPDIR: join(directory, 'temp'), JAVA_OPTS: '-Xshare:auto -XX:TieredStopAtLevel=1'},
      }),
    acceptor: (server) => server.pid,
  },
}

const PG_BIN = '/usr/lib/postgresql/15/bin'

const profile = PROFILES[name]
if (!profile) throw new Error(`no profile for ${name}`)
const port = String(profile.port)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function children(pid, count) {
  const found = execFileSync('pgrep', ['-P', String(pid)], {encoding: 'utf8'}).trim().split('\n').filter(Boolean).map(Number)
  if (found.length !== count) throw new Error(`expected ${count} children of ${pid}, found ${found.length}`)
  return found
}

function onlyChild(pid) {
  const children = execFileSync('pgrep', ['-P', String(pid)], {encoding: 'utf8'}).trim().split('\n').filter(Boolean)
  if (children.length !== 1) throw new Error(`expected one child of ${pid}, found ${children.length}`)
  return Number(children[0])
}

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

/** The listeners' Send-Q (the backlog the kernel uses) on the port, as `connstorm inspect` reads it. */
async function backlogs() {
  const run = await connstorm(['inspect', port, '--json'])
  if (run.code !== 0) throw new Error(`inspect exited ${run.code}: ${run.stderr}`)
  return JSON.parse(run.stdout).listeners.map((listener) => listener.sendQ)
}

/**
 * somaxconn caps a backlog at listen() time (docs/kernel.md §6): nginx asks for backlog=511 under
 * somaxconn 128 and gets 128; the printed sysctl line does not change the listening socket, nor does
 * a reload that leaves backlog= as it was; a restart listens again and gets 511 — each step read
 * back with `connstorm inspect`.
 */
async function somaxconnSequence() {
  const out = {}
  execFileSync('sysctl', ['-q', '-w', 'net.core.somaxconn=128'], {stdio: 'ignore'})
  profile.write(511)
  let server = profile.start()
  try {
    out.atStart = await listening()
    const before = await stalledStorm(server)
    out.before = summary(before)
    const somaxconn = before.recommendations.find((recommendation) => recommendation.knob === 'net.core.somaxconn')
    out.advice = {current: somaxconn.current, proposed: somaxconn.proposed, lines: somaxconn.lines}
    // The printed line, run as printed (in this namespace only: somaxconn is per network namespace).
    execFileSync('sh', ['-c', somaxconn.lines[0]], {stdio: 'ignore'})
    out.afterSysctl = await backlogs()
    profile.reload()
    await sleep(500)
    out.afterReload = await backlogs()
    await stop(server)
    server = profile.start()
    out.afterRestart = await listening(511)
    out.after = summary(await stalledStorm(server))
  } catch (error) {
    out.error = String(error?.stack ?? error)
  } finally {
    await stop(server)
  }
  return out
}

/**
 * The listeners' Send-Q once the server listens (with `backlog`, when given), as inspect reads it.
 * Waited for with ss (a few ms a look), then read once with `connstorm inspect`, whose reading the
 * test judges: an inspect per look (a Node CLI, ~0.5 s of CPU) ran a dozen times while a JVM or a
 * Python server started, and took the CPU that start needed.
 */
async function listening(backlog) {
  await until(() => {
    const seen = queues()
    // Every listener of the port: a reuseport group re-listens each of its sockets.
    return seen.length > 0 && (backlog === undefined || seen.every(({sendQ}) => sendQ === backlog))
  }, backlog === undefined ? 'the listener' : `Send-Q ${backlog}`)
  return backlogs()
}

async function until(condition, what) {
  // A reload's old workers may take their worker_shutdown_timeout to leave, and a JVM can take tens
  // of seconds to listen on a busy machine; the test ends the driver at 80 s in any case.
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    try {
      const value = await condition()
      if (value) return value
    } catch {}
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Each listener's accept queue now and its limit on the port, as `ss` shows them (Recv-Q, Send-Q). */
function queues() {
  const lines = execFileSync('ss', ['-ltnH', `sport = :${port}`], {encoding: 'utf8'}).trim().split('\n').filter(Boolean)
  return lines.map((line) => {
    const [, recvQ, sendQ] = line.trim().split(/\s+/)
    return {recvQ: Number(recvQ), sendQ: Number(sendQ)}
  })
}

/**
 * A storm while the accepting process is stopped: from before the storm starts until its burst has
 * filled the accept queue (Recv-Q = Send-Q + 1, read with ss) or sits in it whole, and STALL_MS longer, so the first
 * retransmitted SYNs meet it too — however long the storm's own start-up took on a loaded machine.
 */
async function stalledStorm(server) {
  const acceptors = [await until(() => profile.acceptor(server), 'the accepting process')].flat()
  for (const acceptor of acceptors) process.kill(acceptor, 'SIGSTOP')
  try {
    const storm = connstorm(['storm', `127.0.0.1:${port}`, '--burst', BURST, '--server', name, '--json'])
    for (let i = 0; i < 400; i++) {
      const seen = queues()
      // Every queue full, or the queues holding the whole burst (after the fix, they have room for all of it).
      if ((seen.length > 0 && seen.every(({recvQ, sendQ}) => recvQ > sendQ)) || seen.reduce((sum, {recvQ}) => sum + recvQ, 0) >= Number(BURST)) break
      await sleep(50)
    }
    await sleep(STALL_MS)
    for (const acceptor of acceptors) process.kill(acceptor, 'SIGCONT')
    const run = await storm
    if (run.code !== 0) throw new Error(`storm exited ${run.code}: ${run.stderr}`)
    return JSON.parse(run.stdout)
  } finally {
    for (const acceptor of acceptors) {
      try {
        process.kill(acceptor, 'SIGCONT')
      } catch {}
    }
  }
}

function summary(result) {
  const steps = Object.fromEntries((result.attribution?.steps ?? []).map((step) => [step.retransmits, step.connects]))
  const group = result.kernel?.listener?.reusePort
  return {
    connected: result.counts.connected,
    failed: result.counts.failed,
    steps,
    listenOverflows: result.kernel?.counterDeltas?.TcpExtListenOverflows ?? null,
    ...(group ? {group: group.effectiveBacklogs} : {}),
  }
}

function stop(server) {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    server.once('exit', resolve)
    server.kill('SIGTERM')
  })
}

execFileSync('ip', ['link', 'set', 'lo', 'up'])
if (MODE === 'somaxconn') {
  process.stdout.write(`${JSON.stringify(await somaxconnSequence())}\n`)
  process.exit(0)
}
profile.write(BACKLOG)
let server = profile.start()
const out = {}
try {
  out.backlogBefore = await listening()
  const before = await stalledStorm(server)
  out.before = summary(before)
  const advice = before.recommendations.find((recommendation) => recommendation.knob === (profile.knob ?? 'backlog'))
  out.advice = {current: advice.current, proposed: advice.proposed, lines: advice.lines, evidence: advice.evidence}
  // The number as printed ("listen 80 backlog=255;", "tcp-backlog 255", "bind :80 backlog 255",
  // "sysctl -w net.core.somaxconn=256"): a user keeps their own address and puts the printed
  // number in the same setting.
  const printed = Number(/(?:backlog[= ]|ListenBacklog |-b |--backlog |somaxconn=|max_connections = |acceptCount=")(\d+)/i.exec(advice.lines.join('\n'))[1])
  out.applied = printed
  const note = advice.lines.at(-1)
  out.applyNote = note
  if (profile.withoutRestart) {
    // Shown, not assumed: the change the advice says needs a restart does not apply without one.
    out.withoutRestart = {said: profile.withoutRestart(printed), backlogs: await backlogs()}
  }
  profile.write(printed)
  // Applied the way the advice says: a reload where it says one suffices, else a restart.
  if (/^# nginx -s reload re-calls listen\(\)/.test(note) && profile.reload) {
    out.appliedBy = 'reload'
    profile.reload()
  } else {
    out.appliedBy = 'restart'
    await stop(server)
    server = profile.start()
  }
  const expected = profile.backlogOf?.(printed) ?? printed
  out.backlogAfter = await listening(expected)
  out.after = summary(await stalledStorm(server))
} catch (error) {
  out.error = String(error?.stack ?? error)
} finally {
  await stop(server)
  try {
    out.log = readFileSync(join(directory, 'error.log'), 'utf8').slice(-2000)
  } catch {
    out.log = ''
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`)
