/**
 * The server catalog the advice engine prints: for each server or runtime, where its listen()
 * backlog is set, the lines that set it, its default, what caps it, and what makes a new value
 * take effect.
 *
 * Every entry was checked against the server's own source or documentation (the comment beside
 * each entry names the file or page and quotes the line). The kernel facts that every entry
 * relies on come from docs/kernel.md §6, §7, measured on this project's lab kernel:
 *   - the effective backlog is min(backlog, net.core.somaxconn), taken when listen() is called;
 *   - a new somaxconn does not change listeners that already exist, only later listen() calls;
 *   - calling listen() again on a listening socket changes its backlog at once (larger or
 *     smaller), clamped to the somaxconn in force at that call;
 *   - Node turns backlog 0 into 511 (a falsy backlog means "use the default").
 * So "does a reload re-call listen()?" decides whether a reload is enough, and the entries say so.
 */

export interface ServerProfile {
  id: string
  aliases: readonly string[]
  name: string
  /** where/how the backlog is set, one phrase */
  setting: string
  /** the exact lines that set backlog N in the server's own syntax; null when the server has no knob */
  backlogLines(backlog: number): string[] | null
  /** its default, as the source says it */
  defaultBacklog: string
  /** what caps it (always mentions net.core.somaxconn) */
  cap: string
  /** what makes a new backlog (or a new somaxconn) take effect for this server */
  applyNote: string
  /** for servers without a knob: what the user can do instead */
  withoutKnob?: string
  /** primary citation (repository + path, or URL) */
  source: string
  /** false when the entry could not be confirmed against the server's own source or docs */
  verified: boolean
}

/**
 * Refuses backlogs that no entry can print honestly: listen() takes an int, and 0 or a negative
 * value means something else on some servers (Node: 0 → 511, docs/kernel.md §7; nginx: −1 → somaxconn).
 */
export function assertBacklog(backlog: number): void {
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 2 ** 31 - 1) {
    throw new RangeError(`backlog must be an integer from 1 to ${2 ** 31 - 1}, got ${backlog}`)
  }
}

/** Wraps a line builder so that every profile validates its argument the same way. */
function lines(build: (backlog: number) => string[]): (backlog: number) => string[] {
  return (backlog: number) => {
    assertBacklog(backlog)
    return build(backlog)
  }
}

/** For the servers that have no knob: still validates, then answers null. */
function noKnob(backlog: number): null {
  assertBacklog(backlog)
  return null
}

const SOMAXCONN = 'net.core.somaxconn (the kernel takes min(backlog, somaxconn) at listen() time)'

export const SERVER_PROFILES: readonly ServerProfile[] = [
  {
    // Confirmed:
    //  - nginx/nginx src/os/unix/ngx_linux_config.h (commit 5c17030): `#define NGX_LISTEN_BACKLOG        511`.
    //    (Another stored, older revision of that file, 02025fd, has no such line.) The FreeBSD header
    //    (ngx_freebsd_config.h) has `#define NGX_LISTEN_BACKLOG        -1`; the macOS value was not checked.
    //  - Reload: src/core/ngx_cycle.c (ngx_init_cycle, when it inherits a socket from the old cycle):
    //    `if (ls[i].backlog != nls[n].backlog) { nls[n].listen = 1; }`, and src/core/ngx_connection.c
    //    (ngx_configure_listening_sockets): `if (ls[i].listen) { /* change backlog via listen() */
    //    if (listen(ls[i].fd, ls[i].backlog) == -1) …`. So a reload re-calls listen() only on the
    //    listeners whose backlog= value changed.
    id: 'nginx',
    aliases: [],
    name: 'nginx',
    setting: 'the backlog= parameter of the listen directive',
    backlogLines: lines((backlog) => [`listen 80 backlog=${backlog};  # on each listen directive that takes the storm`]),
    defaultBacklog:
      '511 on Linux (NGX_LISTEN_BACKLOG in src/os/unix/ngx_linux_config.h), −1 on FreeBSD (ngx_freebsd_config.h, i.e. the system maximum); some distribution builds patch the Linux value to −1, which Linux turns into somaxconn',
    cap: `${SOMAXCONN}`,
    applyNote:
      'nginx -s reload re-calls listen() with the new value on every listener whose backlog= changed (ngx_init_cycle marks it, ngx_configure_listening_sockets calls listen()), so the change applies at once without dropping the socket. A reload does NOT re-listen a socket whose backlog= is unchanged, so after raising net.core.somaxconn either change backlog= as well and reload, or restart nginx',
    source: 'nginx/nginx src/os/unix/ngx_linux_config.h; src/core/ngx_cycle.c; src/core/ngx_connection.c',
    verified: true,
  },
  {
    // Confirmed:
    //  - haproxy/haproxy src/listener.c: "Returns a suitable value for a listener's backlog. It uses the
    //    listener's, otherwise the frontend's backlog, otherwise the listener's maxconn, otherwise the
    //    frontend's maxconn, otherwise 1024." (listener_backlog(): bind_conf->backlog, frontend->backlog,
    //    bind_conf->maxconn, frontend->maxconn, 1024).
    //  - haproxy/haproxy doc/configuration.txt, keyword `backlog <conns>` (defaults | frontend | listen):
    //    "By default, HAProxy passes the frontend's maxconn value to the listen() syscall."
    //  - src/proto_tcp.c (tcp_bind_listener): `ready = sock_accepting_conn(&listener->rx) > 0;
    //    if (!ready && /* only listen if not already done by external process */
    //    listen(fd, listener_backlog(listener)) == -1)`: a socket that is already listening (one handed
    //    over on a seamless reload) is not listen()ed again. Whether a given reload hands sockets over
    //    depends on how HAProxy is run (-x / expose-fd listeners / master-worker); not checked further.
    id: 'haproxy',
    aliases: [],
    name: 'HAProxy',
    setting: 'the backlog keyword in a defaults/frontend/listen section, or the backlog option of a bind line',
    backlogLines: lines((backlog) => [
      `backlog ${backlog}   # in the frontend (or listen/defaults) section that takes the storm`,
      `bind :80 backlog ${backlog}   # or per bind line`,
    ]),
    defaultBacklog:
      'the maxconn of the bind line, else the frontend\'s maxconn ("By default, HAProxy passes the frontend\'s maxconn value to the listen() syscall"), else 1024 (listener_backlog() in src/listener.c)',
    cap: `${SOMAXCONN}; when no backlog is set, maxconn is the value passed, so raising maxconn also raises the backlog`,
    applyNote:
      'restart HAProxy to be sure. A reload that hands the old listening sockets to the new process skips listen() on them ("only listen if not already done by external process" in tcp_bind_listener), so neither a new backlog nor a new somaxconn reaches those sockets; a reload that binds fresh sockets does apply both. Check Send-Q in ss -lnt after a reload',
    source: 'haproxy/haproxy src/listener.c (listener_backlog); doc/configuration.txt (backlog); src/proto_tcp.c',
    verified: true,
  },
  {
    // Confirmed: envoyproxy/envoy api/envoy/config/listener/v3/listener.proto (commit 00e5a41):
    //   "// The maximum length a tcp listener's pending connections queue can grow to. If no value is
    //    // provided net.core.somaxconn will be used on Linux and 128 otherwise.
    //    google.protobuf.UInt32Value tcp_backlog_size = 24;"
    // Not confirmed: whether an LDS update that changes tcp_backlog_size re-calls listen() on the
    // existing socket, and whether hot restart does; the applyNote says restart for that reason.
    id: 'envoy',
    aliases: [],
    name: 'Envoy',
    setting: 'the tcp_backlog_size field of the Listener (envoy.config.listener.v3.Listener)',
    backlogLines: lines((backlog) => [`tcp_backlog_size: ${backlog}   # in the Listener resource that takes the storm`]),
    defaultBacklog: 'net.core.somaxconn on Linux, 128 on other platforms ("If no value is provided net.core.somaxconn will be used on Linux and 128 otherwise")',
    cap: `${SOMAXCONN}; with tcp_backlog_size unset the listener gets the somaxconn in force when it was created`,
    applyNote:
      'restart Envoy (not confirmed whether a listener update through LDS or a hot restart re-calls listen() on the existing socket, so a restart is the safe answer); with tcp_backlog_size unset, a new somaxconn also needs a restart',
    source: 'envoyproxy/envoy api/envoy/config/listener/v3/listener.proto (tcp_backlog_size = 24)',
    verified: true,
  },
  {
    // Confirmed:
    //  - DEFAULT_LISTENBACKLOG, apache/httpd include/httpd.h: "It defaults to 511 instead of 512 because
    //    some systems store it as an 8-bit datatype …" `#ifndef DEFAULT_LISTENBACKLOG
    //    #define DEFAULT_LISTENBACKLOG 511`; the mpm_common docs: "ListenBackLog Directive … Default:
    //    ListenBackLog 511".
    //  - server/listen.c: listen() is only called in make_sock(), for a socket it has just opened:
    //    `if ((stat = apr_socket_listen(s, ap_listenbacklog)) != APR_SUCCESS)`; and on a restart
    //    alloc_listener() keeps the old socket: "see if we've got an old listener for this address:port
    //    … we will re-use the existing record". So a graceful or plain restart (the parent keeps its
    //    listeners) does not re-call listen() on sockets it keeps.
    id: 'apache',
    aliases: ['httpd', 'apache2'],
    name: 'Apache httpd',
    setting: 'the ListenBacklog directive (server config)',
    backlogLines: lines((backlog) => [`ListenBacklog ${backlog}`]),
    defaultBacklog: '511 (DEFAULT_LISTENBACKLOG; docs: "Default: ListenBackLog 511")',
    cap: `${SOMAXCONN}`,
    applyNote:
      'stop and start httpd (apachectl -k stop, then start). apachectl graceful and restart keep the existing listening sockets (alloc_listener re-uses the old listener; listen() runs only in make_sock for a new socket), so they apply neither a new ListenBacklog nor a new somaxconn to a port that stays configured',
    source: 'apache/httpd include/httpd.h (DEFAULT_LISTENBACKLOG 511); server/listen.c; docs/manual/mod/mpm_common.xml (ListenBacklog)',
    verified: true,
  },
  {
    // Confirmed:
    //  - redis/redis redis.conf (commit 001730c): "# TCP listen() backlog. … Note that the Linux kernel
    //    will silently truncate it to the value of /proc/sys/net/core/somaxconn so make sure to raise both
    //    the value of somaxconn and tcp_max_syn_backlog in order to get the desired effect.
    //    tcp-backlog 511"
    //  - src/config.c: `createIntConfig("tcp-backlog", NULL, IMMUTABLE_CONFIG, 0, INT_MAX,
    //    server.tcp_backlog, 511, …)`: immutable, so CONFIG SET cannot change it.
    id: 'redis',
    aliases: ['redis-server'],
    name: 'Redis',
    setting: 'tcp-backlog in redis.conf (or --tcp-backlog on the command line)',
    backlogLines: lines((backlog) => [`tcp-backlog ${backlog}`]),
    defaultBacklog: '511 (redis.conf "tcp-backlog 511"; src/config.c default 511)',
    cap: `${SOMAXCONN}; redis.conf: "the Linux kernel will silently truncate it to the value of /proc/sys/net/core/somaxconn"`,
    applyNote:
      'restart redis-server: tcp-backlog is an IMMUTABLE_CONFIG (CONFIG SET refuses it), and the socket keeps the somaxconn in force when Redis started',
    source: 'redis/redis redis.conf (tcp-backlog 511); src/config.c (IMMUTABLE_CONFIG)',
    verified: true,
  },
  {
    // Confirmed: nodejs/node doc/api/net.md (server.listen): "All listen() methods can take a backlog
    //   parameter to specify the maximum length of the queue of pending connections. The actual length
    //   will be determined by the OS through sysctl settings such as tcp_max_syn_backlog and somaxconn on
    //   Linux. The default value of this parameter is 511 (not 512)." and "The server.listen() method can
    //   be called again if and only if there was an error during the first server.listen() call or
    //   server.close() has been called. Otherwise, an ERR_SERVER_ALREADY_LISTEN error will be thrown."
    // Measured (docs/kernel.md §7): backlog 0 listens with 511 (ss Send-Q 511); 1 and 4 pass through.
    id: 'node',
    aliases: ['nodejs', 'node.js'],
    name: 'Node.js (net / http)',
    setting: 'the backlog option of server.listen()',
    backlogLines: lines((backlog) => [`server.listen({port: 8080, backlog: ${backlog}})`]),
    defaultBacklog: '511 ("The default value of this parameter is 511 (not 512)"); backlog 0 also gives 511 (docs/kernel.md §7)',
    cap: `${SOMAXCONN}`,
    applyNote:
      'restart the process: a listening server cannot listen() again (ERR_SERVER_ALREADY_LISTEN) unless it is closed first, which drops the socket',
    source: 'nodejs/node doc/api/net.md (server.listen, backlog)',
    verified: true,
  },
  {
    // Confirmed:
    //  - golang/go src/net/sock_linux.go (commit 250fccb): maxListenerBacklog() opens
    //    "/proc/sys/net/core/somaxconn", returns syscall.SOMAXCONN if it cannot read it or reads 0, and
    //    above 1<<16-1 truncates via maxAckBacklog ("uint16 in kernel version < 4.1, uint32 in kernel
    //    version >= 4.1").
    //  - src/net/net.go: `var listenerBacklogCache struct { sync.Once; val int }` and "listenerBacklog is
    //    a caching wrapper around maxListenerBacklog": the file is read once per process, at the first
    //    Listen, and every later Listen reuses that value.
    //  - The route in withoutKnob: src/net/tcpsock.go `func (l *TCPListener) SyscallConn() (syscall.RawConn,
    //    error)` (Go 1.10+), "The returned RawConn only supports calling Control"; a second listen() on
    //    the descriptor takes effect at once (docs/kernel.md §6).
    id: 'go',
    aliases: ['golang', 'net/http'],
    name: 'Go (net.Listen, net/http)',
    setting: 'no setting: net.Listen passes the somaxconn it read from /proc/sys/net/core/somaxconn',
    backlogLines: noKnob,
    defaultBacklog:
      'net.core.somaxconn, read once per process from /proc/sys/net/core/somaxconn (maxListenerBacklog, cached by listenerBacklogCache); syscall.SOMAXCONN (128) if the file cannot be read; values above 65535 are truncated to 65535 on kernels older than 4.1',
    cap: `${SOMAXCONN}; Go asks for exactly somaxconn, so the sysctl is both the default and the cap`,
    applyNote:
      'raise net.core.somaxconn, then restart the process: Go reads the sysctl once per process and listeners that already exist keep their backlog',
    withoutKnob:
      'Go has no backlog setting: raise net.core.somaxconn and restart the process, since Go passes somaxconn itself (read once, at the first Listen). For a smaller or per-listener value, call syscall.Listen(fd, N) on the listener\'s descriptor through (*net.TCPListener).SyscallConn().Control after net.Listen: a second listen() changes the backlog at once (docs/kernel.md §6)',
    source: 'golang/go src/net/sock_linux.go (maxListenerBacklog); src/net/net.go (listenerBacklogCache)',
    verified: true,
  },
  {
    // Confirmed:
    //  - java.net.ServerSocket javadoc (openjdk/jdk src/java.base/share/classes/java/net/ServerSocket.java),
    //    ServerSocket(int port): "The maximum queue length for incoming connection indications (a request to
    //    connect) is set to 50. If a connection indication arrives when the queue is full, the connection is
    //    refused." ServerSocket(int port) calls `this(port, 50, null)`, and bind(endpoint) calls
    //    `bind(endpoint, 50)`; both constructors and bind() turn `backlog < 1` into 50.
    //  - NIO: sun.nio.ch.ServerSocketChannelImpl.bind: `Net.listen(fd, backlog < 1 ? 50 : backlog);`
    //    (so bind(address) and bind(address, 0) both give 50).
    id: 'java',
    aliases: ['jdk', 'serversocket', 'nio'],
    name: 'Java (ServerSocket / NIO ServerSocketChannel)',
    setting: 'the backlog argument of the ServerSocket constructor or of ServerSocketChannel.bind()',
    backlogLines: lines((backlog) => [`new ServerSocket(port, ${backlog})`, `serverSocketChannel.bind(address, ${backlog})`]),
    defaultBacklog: '50 ("The maximum queue length for incoming connection indications … is set to 50"; NIO bind: backlog < 1 ? 50 : backlog)',
    cap: `${SOMAXCONN}`,
    applyNote: 'restart the JVM (or close and re-open the server socket, which drops it); the backlog is fixed when bind() calls listen()',
    source: 'openjdk/jdk src/java.base/share/classes/java/net/ServerSocket.java (javadoc); src/java.base/share/classes/sun/nio/ch/ServerSocketChannelImpl.java',
    verified: true,
  },
  {
    // Confirmed:
    //  - Tomcat connector docs (apache/tomcat webapps/docs/config/http.xml), acceptCount: "The maximum queue
    //    length for incoming connection requests when all possible request processing threads are in use.
    //    Any requests received when the queue is full will be refused. The default value is 100."
    //  - It is the listen() backlog: NioEndpoint.initServerSocket / Nio2Endpoint.bind:
    //    `serverSock.bind(addr, getAcceptCount());`
    //  - Spring Boot: server.tomcat.accept-count, "Maximum queue length for incoming connection requests
    //    when all possible request processing threads are in use." default 100 (ServerProperties
    //    `private int acceptCount = 100;`).
    id: 'tomcat',
    aliases: ['spring', 'spring-boot', 'springboot'],
    name: 'Tomcat / Spring Boot (embedded Tomcat)',
    setting: 'the acceptCount attribute of the Connector (server.tomcat.accept-count in Spring Boot)',
    backlogLines: lines((backlog) => [
      `server.tomcat.accept-count=${backlog}   # Spring Boot application.properties`,
      `<Connector … acceptCount="${backlog}" />   # Tomcat server.xml`,
    ]),
    defaultBacklog: '100 ("The default value is 100"; Spring Boot server.tomcat.accept-count default 100)',
    cap: `${SOMAXCONN}`,
    applyNote: 'restart Tomcat / the Spring Boot application: the endpoint passes acceptCount to bind() when it opens the server socket',
    source: 'apache/tomcat webapps/docs/config/http.xml (acceptCount); java/org/apache/tomcat/util/net/NioEndpoint.java (serverSock.bind(addr, getAcceptCount()))',
    verified: true,
  },
  {
    // Confirmed: dotnet/aspnetcore src/Servers/Kestrel/Transport.Sockets/src/SocketTransportOptions.cs:
    //   "The maximum length of the pending connection queue. … Defaults to 512 pending connections."
    //   `public int Backlog { get; set; } = 512;` (also learn.microsoft.com, SocketTransportOptions.Backlog).
    // The setter: src/Servers/Kestrel/Transport.Sockets/src/WebHostBuilderSocketExtensions.cs,
    //   `UseSockets(this IWebHostBuilder hostBuilder, Action<SocketTransportOptions> configureOptions)`.
    id: 'kestrel',
    aliases: ['dotnet', 'aspnetcore', 'asp.net'],
    name: 'Kestrel (ASP.NET Core, socket transport)',
    setting: 'SocketTransportOptions.Backlog',
    backlogLines: lines((backlog) => [`builder.WebHost.UseSockets(options => options.Backlog = ${backlog});`]),
    defaultBacklog: '512 ("Defaults to 512 pending connections")',
    cap: `${SOMAXCONN}`,
    applyNote: 'restart the application: the transport passes Backlog to listen() when it binds',
    source: 'https://learn.microsoft.com/dotnet/api/microsoft.aspnetcore.server.kestrel.transport.sockets.sockettransportoptions.backlog',
    verified: true,
  },
  {
    // Confirmed: memcached/memcached memcached.c (2d51e3647): `settings.backlog = 1024;` in
    //   settings_init; `{"listen-backlog", required_argument, 0, 'b'}` → `settings.backlog =
    //   atoi(optarg)`; `listen(sfd, settings.backlog)` when a socket is opened (server_socket). At its
    //   connection limit do_accept_new_conns(false) calls `listen(next->sfd, 0)` to stop accepting
    //   and `listen(next->sfd, settings.backlog)` when connections free up.
    id: 'memcached',
    aliases: [],
    name: 'memcached',
    setting: 'the -b / --listen-backlog option',
    backlogLines: lines((backlog) => [`memcached -b ${backlog} …   # or --listen-backlog=${backlog}`]),
    defaultBacklog: '1024 (memcached.c: settings.backlog = 1024)',
    cap: `${SOMAXCONN}`,
    applyNote:
      'restart memcached: the backlog is a command-line option, passed to listen() when it opens its sockets. At its connection limit (-c) memcached itself calls listen(fd, 0) to stop accepting (a queue of 1) and listen(fd, backlog) again once connections free up',
    source: 'memcached/memcached memcached.c (settings.backlog = 1024; -b/--listen-backlog; do_accept_new_conns)',
    verified: true,
  },
  {
    // Confirmed: benoitc/gunicorn gunicorn/config.py `class Backlog(Setting): name = "backlog"
    //   cli = ["--backlog"] … default = 2048` and docs/source/settings.rst: "**Command line:** --backlog INT
    //   **Default:** 2048 The maximum number of pending connections. … Must be a positive integer.
    //   Generally set in the 64-2048 range."
    // Not confirmed: whether a HUP reload rebinds (and so re-listens) when only the backlog changes.
    id: 'gunicorn',
    aliases: [],
    name: 'Gunicorn',
    setting: 'the --backlog option (backlog in gunicorn.conf.py)',
    backlogLines: lines((backlog) => [`gunicorn --backlog ${backlog} …`]),
    defaultBacklog: '2048 (gunicorn settings: "Default: 2048 … Generally set in the 64-2048 range")',
    cap: `${SOMAXCONN}`,
    applyNote:
      'restart the gunicorn master process: the arbiter creates the listening sockets and the workers inherit them (not confirmed whether a HUP reload re-listens a socket whose address is unchanged)',
    source: 'benoitc/gunicorn gunicorn/config.py (class Backlog); docs/source/settings.rst (backlog)',
    verified: true,
  },
  {
    // Confirmed: uvicorn Config.__init__ `backlog: int = 2048`; the CLI option
    //   `@click.option("--backlog", type=int, default=2048, help="Maximum number of connections to hold in
    //   backlog")`; the settings docs: "--backlog <int> - Maximum number of connections to hold in backlog.
    //   Relevant for heavy incoming traffic. Default: 2048"; uvicorn/server.py passes it on:
    //   `loop.create_server(create_protocol, sock=sock, ssl=config.ssl, backlog=config.backlog)`.
    //   (encode/uvicorn uvicorn/config.py, uvicorn/main.py, uvicorn/server.py, docs/settings.md.)
    id: 'uvicorn',
    aliases: [],
    name: 'Uvicorn',
    setting: 'the --backlog option (backlog= in uvicorn.run / uvicorn.Config)',
    backlogLines: lines((backlog) => [`uvicorn --backlog ${backlog} …`, `uvicorn.run(app, backlog=${backlog})`]),
    defaultBacklog: '2048 ("Maximum number of connections to hold in backlog. … Default: 2048")',
    cap: `${SOMAXCONN}`,
    applyNote: 'restart the uvicorn process (its --reload mode restarts the worker, not the socket the parent holds)',
    source: 'encode/uvicorn uvicorn/config.py (backlog: int = 2048); uvicorn/main.py (--backlog); uvicorn/server.py',
    verified: true,
  },
  {
    // Confirmed: postgres/postgres src/backend/libpq/pqcomm.c: "Select appropriate accept-queue length
    //   limit.  It seems reasonable to use a value similar to the maximum number of child processes that
    //   the postmaster will permit.  maxconn = MaxConnections * 2;  err = listen(fd, maxconn);"
    // max_connections: "This parameter can only be set at server start." (postgresql.org/docs, Connection
    // Settings, GUC-MAX-CONNECTIONS; context postmaster). Older releases also capped the backlog at a
    // PG_SOMAXCONN constant; not confirmed, so not claimed here.
    id: 'postgres',
    aliases: ['postgresql', 'pg'],
    name: 'PostgreSQL',
    setting: 'no setting of its own: the postmaster listens with 2 × max_connections (16+), 2 × all backends (up to 15)',
    // The backlog follows max_connections: half the advised backlog, rounded up, gives at least it
    // on every version (up to 15 the other backends add to it). Measured on Debian 12's 15:
    // max_connections 16 listens with 76 = 2 × (16 + 3 + 1 + 8 + 10).
    backlogLines: lines((backlog) => [
      `max_connections = ${Math.ceil(backlog / 2)}   # postgresql.conf: PostgreSQL 16+ listens with 2 × max_connections = ${2 * Math.ceil(backlog / 2)}; up to 15 with 2 × (max_connections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders), more`,
    ]),
    defaultBacklog:
      '2 × max_connections on 16+ (pqcomm.c: "maxconn = MaxConnections * 2"); up to 15, 2 × MaxBackends (max_connections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders: 244 with the defaults)',
    cap: `${SOMAXCONN}`,
    applyNote: 'restart PostgreSQL: the postmaster calls listen() once, when it opens its sockets at startup (max_connections itself needs a restart too)',
    withoutKnob:
      'PostgreSQL has no backlog setting: its listen backlog is 2 × max_connections, so raising max_connections raises it (restart required; each connection costs a backend process and memory), or put a connection pooler in front of it and size that pooler\'s backlog',
    source: 'postgres/postgres src/backend/libpq/pqcomm.c (maxconn = MaxConnections * 2; up to 15: MaxBackends * 2, clamped to PG_SOMAXCONN 10000)',
    verified: true,
  },
  {
    // Confirmed: rust-lang/rust library/std/src/sys/net/connection/socket.rs (TcpListener::bind):
    //   "// The default for all other platforms  let backlog = 128;" (20 on horizon, 32 on haiku), then
    //   `cvt(unsafe { c::listen(sock.as_raw(), backlog) })?;`
    // socket2: `pub fn listen(&self, backlog: c_int) -> io::Result<()>` "Mark a socket as ready to accept
    //   incoming connection requests using Socket::accept() … directly corresponds to the listen(2)
    //   function". tokio (tokio/src/net/tcp/socket.rs): TcpSocket "Converts the socket into a TcpListener.
    //   backlog defines the maximum number of pending connections are queued by the operating system" —
    //   `pub fn listen(self, backlog: u32) -> io::Result<TcpListener>`.
    id: 'rust',
    aliases: ['rust-std'],
    name: 'Rust std::net::TcpListener',
    setting: 'no setting: std::net::TcpListener::bind always listens with 128',
    backlogLines: noKnob,
    defaultBacklog: '128 (library/std: "The default for all other platforms … let backlog = 128;")',
    cap: `${SOMAXCONN}; std asks for 128, so raising somaxconn above 128 does not raise it`,
    applyNote: 'change the code to set the backlog (see withoutKnob) and restart the process',
    withoutKnob:
      'std has no backlog knob (always 128): create the socket with socket2 and call Socket::listen(backlog) before converting it into a std::net::TcpListener, or with tokio use TcpSocket::listen(backlog), which returns a tokio::net::TcpListener',
    source: 'rust-lang/rust library/std/src/sys/net/connection/socket.rs (let backlog = 128)',
    verified: true,
  },
  {
    // Confirmed: defunkt/unicorn commit 4ae3f3e, lib/unicorn/configurator.rb (listen options, :backlog):
    //   "Default: 1024  Note: with the Linux kernel, the net.core.somaxconn sysctl defaults to 128, capping
    //   this value to 128. Raising the sysctl allows a larger backlog (which may not be desirable with
    //   multiple, load-balanced machines)."
    // Not confirmed: whether a HUP (config reload) or USR2 (re-exec) re-listens an inherited socket.
    id: 'unicorn',
    aliases: [],
    name: 'Unicorn (Ruby)',
    setting: 'the :backlog option of the listen directive in the unicorn config file',
    backlogLines: lines((backlog) => [`listen 8080, :backlog => ${backlog}   # unicorn config file`]),
    defaultBacklog: '1024 (configurator.rb: "Default: 1024")',
    cap: `${SOMAXCONN}; configurator.rb: "the net.core.somaxconn sysctl … capping this value"`,
    applyNote: 'restart the unicorn master (not confirmed whether a HUP reload or a USR2 re-exec re-calls listen() on an inherited socket)',
    source: 'defunkt/unicorn lib/unicorn/configurator.rb (commit 4ae3f3e)',
    verified: true,
  },
]

export const SERVER_IDS: readonly string[] = SERVER_PROFILES.map((profile) => profile.id)

/** The profile whose id or alias matches name, ignoring case and surrounding space. */
export function findServer(name: string): ServerProfile | undefined {
  const wanted = name.trim().toLowerCase()
  // an empty name finds nothing, since no id or alias is empty (servers.test.ts checks both)
  return SERVER_PROFILES.find((profile) => profile.id === wanted || profile.aliases.some((alias) => alias.toLowerCase() === wanted))
}
