import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

/**
 * The real servers the gallery's real-server incidents run (Debian packages): how each is started
 * in the server's network namespace with a small config written to a temporary directory, how its
 * version is read, and how it really stops accepting. Each config line is the server's own syntax,
 * read in its source (cited beside it); docs/kernel.md §6 says why the effective backlog is
 * min(backlog, somaxconn), read at listen() time.
 */

/** How a server stops accepting, the way it does in production. */
export type Stall =
  /** its accepting processes (the children of the started one) are stopped with SIGSTOP, then SIGCONT */
  | {kind: 'sigstop-workers'; what: string}
  /** the server process itself is stopped (all its threads), as a stop-the-world GC pause stops a JVM */
  | {kind: 'sigstop-server'; what: string}
  /** `DEBUG SLEEP S` from a client on its host blocks Redis's one event loop (debug.c: nanosleep in the command) */
  | {kind: 'redis-debug-sleep'; what: string}
  /** every worker of the pool takes a request whose handler sleeps S: none is left to accept */
  | {kind: 'busy-handlers'; requests: number; what: string}

export interface RealServer {
  /** the server's name as users say it */
  name: string
  /** connstorm's --server id: the advice's lines in its syntax */
  adviceId: string
  /** the Debian package that has it */
  debianPackage: string
  /** the command looked up on PATH, or its absolute path */
  binary: string
  /** argv that prints its version, and how to find the version in what it prints (stdout + stderr) */
  version: {argv: readonly string[]; pattern: RegExp}
  /** the TCP port it listens on in the server's namespace */
  port: number
  /** what the listener asks listen() for, as the config says it (the kernel may cap it) */
  askedBacklog: string
  /** writes its config into `directory` (the address it listens on is the server's) and returns the argv that starts it there, in the foreground */
  configure(directory: string, address: string): {argv: string[]; config: string; env?: Record<string, string>}
  /** the file its log goes to, inside the directory, if it keeps one there */
  logFile?: string
  /** the signal that stops it quickly (its workers with it) */
  stopSignal: NodeJS.Signals
  stall: Stall
}

export const NGINX: RealServer = {
  name: 'nginx',
  adviceId: 'nginx',
  debianPackage: 'nginx-light',
  binary: 'nginx',
  version: {argv: ['nginx', '-v'], pattern: /nginx\/(\S+)/},
  port: 8080,
  // No backlog= on the listen line: nginx listens with NGX_LISTEN_BACKLOG, 511 on Linux
  // (src/os/unix/ngx_linux_config.h), the default every stock config gets.
  askedBacklog: '511 (no backlog= on the listen line: NGX_LISTEN_BACKLOG)',
  configure(directory, address) {
    const config = `daemon off;
master_process on;
worker_processes 1;
pid ${directory}/nginx.pid;
error_log ${directory}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${directory};
  proxy_temp_path ${directory};
  fastcgi_temp_path ${directory};
  uwsgi_temp_path ${directory};
  scgi_temp_path ${directory};
  server {
    listen ${address}:8080;
    return 200 "ok\\n";
  }
}
`
    const file = join(directory, 'nginx.conf')
    writeFileSync(file, config)
    return {argv: ['nginx', '-c', file, '-p', directory], config: `listen ${address}:8080;`}
  },
  logFile: 'error.log',
  // TERM: nginx's fast shutdown; the master ends its workers.
  stopSignal: 'SIGTERM',
  stall: {kind: 'sigstop-workers', what: 'its worker process stopped (SIGSTOP), as a worker blocked on a slow disk or a long regex is'},
}

export const REDIS: RealServer = {
  name: 'Redis',
  adviceId: 'redis',
  debianPackage: 'redis-server',
  binary: 'redis-server',
  version: {argv: ['redis-server', '--version'], pattern: /v=(\S+)/},
  port: 6379,
  // tcp-backlog 511 is Redis's default (config.c); it is passed to listen() as it is, and
  // checkTcpBacklogSettings() (server.c) only logs a warning when somaxconn is lower.
  askedBacklog: '511 (tcp-backlog, its default)',
  configure(directory, address) {
    // enable-debug-command local: DEBUG is off by default since Redis 7; local allows it from the
    // server's own host only (a client on 127.0.0.1 in the server's namespace).
    const config = `port 6379
bind ${address} 127.0.0.1
tcp-backlog 511
protected-mode no
enable-debug-command local
save ""
appendonly no
daemonize no
dir ${directory}
logfile ${directory}/redis.log
`
    const file = join(directory, 'redis.conf')
    writeFileSync(file, config)
    return {argv: ['redis-server', file], config: 'tcp-backlog 511'}
  },
  logFile: 'redis.log',
  stopSignal: 'SIGTERM',
  stall: {kind: 'redis-debug-sleep', what: 'its event loop blocked by DEBUG SLEEP, as by a slow KEYS * or Lua script'},
}

export const GUNICORN: RealServer = {
  name: 'gunicorn',
  adviceId: 'gunicorn',
  debianPackage: 'gunicorn',
  binary: 'gunicorn',
  version: {argv: ['gunicorn', '--version'], pattern: /version (\S+?)\)/},
  port: 8000,
  // --backlog 64: the low end of the range gunicorn's own documentation gives ("Generally set in
  // the 64-2048 range", config.py Backlog); the default is 2048.
  askedBacklog: '64 (--backlog 64)',
  configure(directory, address) {
    // A WSGI app whose handler waits on a slow upstream, as long as the request asks (?sleep=S).
    writeFileSync(
      join(directory, 'app.py'),
      `import time
from urllib.parse import parse_qs


def app(environ, start_response):
    time.sleep(float(parse_qs(environ.get('QUERY_STRING', '')).get('sleep', ['0'])[0]))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok\\n']
`,
    )
    // Two sync workers: each accepts one connection and serves it to the end before it accepts
    // again (workers/sync.py SyncWorker.accept → handle), so two slow requests stop all accepts.
    const argv = ['gunicorn', '--workers', '2', '--backlog', '64', '--bind', `${address}:8000`, '--chdir', directory, '--log-file', join(directory, 'gunicorn.log'), 'app:app']
    return {argv, config: 'gunicorn --workers 2 --backlog 64 app:app'}
  },
  logFile: 'gunicorn.log',
  // INT: gunicorn's quick shutdown (TERM waits up to graceful_timeout for busy workers).
  stopSignal: 'SIGINT',
  stall: {kind: 'busy-handlers', requests: 2, what: 'both sync workers busy in a handler waiting on a slow upstream (time.sleep)'},
}

const TOMCAT_HOME = '/usr/share/tomcat10'

export const TOMCAT: RealServer = {
  name: 'Tomcat',
  adviceId: 'tomcat',
  debianPackage: 'tomcat10',
  binary: `${TOMCAT_HOME}/bin/catalina.sh`,
  version: {argv: [`${TOMCAT_HOME}/bin/version.sh`], pattern: /Apache Tomcat\/(\S+)/},
  port: 8080,
  // The HTTP connector's acceptCount is its listen backlog, 100 unless set (AbstractEndpoint
  // acceptCount = 100; NioEndpoint binds with bind(addr, getAcceptCount())); Spring Boot's
  // server.tomcat.accept-count keeps that default.
  askedBacklog: '100 (acceptCount, the connector’s default)',
  configure(directory, address) {
    for (const sub of ['conf', 'logs', 'temp', 'webapps', 'work']) mkdirSync(join(directory, sub), {recursive: true})
    // Debian keeps the default web.xml (servlet and MIME defaults) in /etc/tomcat10.
    copyFileSync('/etc/tomcat10/web.xml', join(directory, 'conf', 'web.xml'))
    writeFileSync(
      join(directory, 'conf', 'server.xml'),
      `<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="8080" address="${address}" protocol="HTTP/1.1" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
`,
    )
    return {
      // catalina.sh run execs java in the foreground: the started PID is the JVM's.
      argv: [`${TOMCAT_HOME}/bin/catalina.sh`, 'run'],
      config: `<Connector port="8080" address="${address}" protocol="HTTP/1.1" />`,
      // A JVM that starts in ~1 s of CPU: class data sharing, and no optimising compiler for a short run.
      env: {CATALINA_HOME: TOMCAT_HOME, CATALINA_BASE: directory, CATALINA_TMPDIR: join(directory, 'temp'), JAVA_OPTS: '-Xshare:auto -XX:TieredStopAtLevel=1'},
    }
  },
  // TERM: the JVM's shutdown hook stops Tomcat.
  stopSignal: 'SIGTERM',
  stall: {kind: 'sigstop-server', what: 'the whole JVM stopped (SIGSTOP), as in a stop-the-world full GC of a large heap'},
}
