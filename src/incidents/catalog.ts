import {GUNICORN, NGINX, REDIS, TOMCAT, type RealServer} from './real-servers.js'
import type {AdviceSignature} from './signature.js'

/**
 * The incident gallery: each classic connection-timeout incident as users report it, the lab and
 * namespace settings that cause it, and the diagnosis it is known for, in words. `connstorm
 * reproduce` runs one with --isolate and prints connstorm's own diagnosis beside those words; the
 * pass/fail expectations of each live run are kept apart from the tool, in
 * test/e2e/incident-expectations.ts.
 *
 * The lab's stall starts with the storm's first connect (the storm sends the lab "go" right
 * before it), so every burst meets a stalled server whatever the storm's own set-up took. Which
 * retransmit step gets through once a stall ends can still move by one: the lab drains its queue
 * while the retransmitted SYNs of a large burst arrive, and a SYN that meets the queue still full
 * waits for the next step.
 */
export interface Incident {
  name: string
  /** what users report, in their words */
  symptom: string
  /** what really happens in the kernel and the server */
  cause: string
  /** storm flags (the command adds --isolate and --json) */
  args: string[]
  /** the diagnosis, in words, as --list and the README show it */
  expected: string
  /** why it takes longer than 30 s, when it does */
  longer?: string
  /** the advice the run must give for `reproduce` to call it reproduced (exit 3 otherwise) */
  signature: readonly AdviceSignature[]
}

export const INCIDENTS: readonly Incident[] = [
  {
    name: 'java-default-backlog',
    symptom: 'After a deploy, the first 300 clients all connect at once; about 50 get in instantly and the rest hang 3 s, some time out at 1 s.',
    cause: 'new ServerSocket(port) listens with backlog 50, and a 2.5 s GC pause at start-up accepts nothing: 51 fit the queue, the other SYNs are dropped and retransmitted until the pause ends.',
    args: ['--lab-backlog', '50', '--lab-stall', '2.5s', '--burst', '300'],
    expected: '51 connects at once (50 + 1), the other 249 on the first SYN retransmit after the pause (3 s in); advice: backlog 511',
    signature: [{knob: 'backlog', current: '50', proposed: 'higher'}],
  },
  {
    name: 'tomcat-accept-count',
    symptom: 'Under a steady 200 requests/s, Spring Boot clients see connect timeouts although CPU is fine; raising acceptCount did not help for long.',
    cause: 'acceptCount 100 is the backlog, but the connector accepts only 100 connections/s: the queue grows by 100/s, fills in a second, and SYNs are dropped from then on.',
    args: ['--lab-backlog', '100', '--lab-stall', '0', '--lab-accept-rate', '100', '--rate', '200', '--duration', '3s', '--timeout', '8s'],
    expected: 'the first second’s 200 connect at once (101 queued + 100 accepted), later ones only as accepts free a slot, the rest on retransmit steps; all 600 connect; advice: a bigger queue is not the fix (accepts 100/s < arrivals 200/s)',
    signature: [{knob: 'backlog', current: '100', proposed: null}],
  },
  {
    name: 'legacy-somaxconn-128',
    symptom: 'We set backlog 511 everywhere, yet ss shows 128 and bursts still time out on the old kernel.',
    cause: 'net.core.somaxconn was 128 (the default before Linux 5.4): listen(511) is silently capped to 128.',
    args: ['--sysctl', 'net.core.somaxconn=128', '--lab-backlog', '511', '--lab-stall', '2.5s', '--burst', '300'],
    expected: 'effective backlog 128 (Send-Q), 129 connects at once, the other 171 on a retransmit step; advice: raise net.core.somaxconn to 512, then restart',
    signature: [{knob: 'net.core.somaxconn', current: '128', proposed: 'higher'}, {knob: 'backlog', current: '128', proposed: 'higher'}],
  },
  {
    name: 'somaxconn-raised-without-restart',
    symptom: 'We raised net.core.somaxconn to 4096 an hour ago, but the service still drops connects in bursts.',
    cause: 'somaxconn is read at listen() time: the service listened while it was 128 and keeps that cap until it listens again.',
    args: ['--sysctl', 'net.core.somaxconn=128', '--sysctl-after-listen', 'net.core.somaxconn=4096', '--lab-backlog', '511', '--lab-stall', '2.5s', '--burst', '300'],
    expected: 'somaxconn reads 4096 but the listener still shows Send-Q 128: 129 connects at once, the other 171 on a retransmit step; advice: restart or re-listen, not a higher somaxconn',
    signature: [{knob: 'net.core.somaxconn', current: '4096', proposed: null}, {knob: 'backlog', current: '128', proposed: 'higher'}],
  },
  {
    name: 'node-event-loop-block',
    symptom: 'Our Node API sometimes freezes for a few seconds; during a freeze, clients connect after exactly 3 s or time out.',
    cause: 'A synchronous 2.5 s task blocks the event loop, so nothing is accepted: 512 connects fit the default backlog 511 + 1, the rest wait for the SYN retransmit after the block.',
    args: ['--lab-backlog', '511', '--lab-stall', '2.5s', '--burst', '700'],
    expected: '512 at once, the other 188 together on the first SYN retransmit after the block (3 s in); advice: backlog 1023',
    signature: [{knob: 'backlog', current: '511', proposed: 'higher'}],
  },
  {
    name: 'classic-ladder',
    symptom: 'On our older kernels clients wait 1, 3 or 7 s, never 2 or 4 s like on the new hosts.',
    cause: 'Before Linux 6.5 there is no tcp_syn_linear_timeouts: the SYN RTO doubles from the start (1, 3, 7, 15 s).',
    args: ['--sysctl', 'net.ipv4.tcp_syn_linear_timeouts=0', '--lab-backlog', '8', '--lab-stall', '6s', '--burst', '50'],
    expected: 'ladder 1, 3, 7, 15 … s; 9 at once, the other 41 on the 7 s step (3 retransmits), none at 4 or 5 s',
    signature: [{knob: 'backlog', current: '8', proposed: 'higher'}],
  },
  {
    name: 'syncookies-off',
    symptom: 'With SYN cookies disabled (a hardening guide said so), a reconnect wave trickles in a few clients per second.',
    cause: 'Without cookies a wave of retransmitted SYNs gets only as many request socks as the queue (backlog + 1); the rest are dropped again, one staircase step per retransmit.',
    args: ['--sysctl', 'net.ipv4.tcp_syncookies=0', '--lab-backlog', '4', '--lab-stall', '2.5s', '--burst', '20', '--timeout', '8s'],
    expected: 'a staircase: 5 at once (4 + 1), then the other 15 over two or three retransmit steps in a row, 5 (backlog + 1) of each wave of SYNs that arrive together; TcpExtTCPReqQFullDrop moves; advice: syncookies 1',
    signature: [{knob: 'net.ipv4.tcp_syncookies', current: '0', proposed: '1'}],
  },
  {
    name: 'abort-on-overflow',
    symptom: "Clients get 'connection reset by peer' right after connecting, during traffic spikes, instead of slow responses.",
    cause: 'tcp_abort_on_overflow=1 answers a handshake ACK that finds the accept queue full with RST, where the default would drop it and let the client retry. The client has already seen connect() succeed: the reset comes on its first read or write.',
    args: [
      '--sysctl', 'net.ipv4.tcp_abort_on_overflow=1', '--link-rate', '64kbit', '--lab-backlog', '5', '--lab-stall', '5s',
      '--lab-on-accept', 'echo', '--waves', '2', '--burst', '4', '--interval', '1s', '--probe', 'send:x', '--probe-timeout', '6s',
    ],
    expected:
      'all 8 connect; the second wave’s SYNs were admitted while the queue had room, but 2 of their ACKs (paced as on a real link) met a full queue: 2 reset right after connecting (resetAfterConnect), the other 6 answered once the stall ends; verdict and advice name tcp_abort_on_overflow',
    signature: [{knob: 'net.ipv4.tcp_abort_on_overflow', current: '1', proposed: '0'}],
  },
  {
    name: 'cookie-hang',
    symptom: 'SSH/SMTP-style clients connect fine during a spike but then hang with no banner until they give up.',
    cause: 'A wave of SYNs got SYN cookies; their ACKs overflowed the full accept queue and were dropped, and with cookies the server keeps no state and never retransmits: the connection exists only on the client, silent until the client speaks.',
    args: ['--lab-backlog', '4', '--lab-stall', '1.5s', '--lab-on-accept', 'banner', '--lab-handler-delay', '300ms', '--burst', '30', '--probe', 'banner', '--probe-timeout', '3s'],
    expected: 'all connect, many never get the banner (probeTimeout); SyncookiesRecv and ListenOverflows moved; verdict: ACKs dropped at a full accept queue',
    signature: [{knob: 'backlog', current: '4', proposed: 'higher'}],
  },
  {
    name: 'ephemeral-port-exhaustion',
    symptom: "Our load-test client starts failing with 'Cannot assign requested address' after a few seconds.",
    cause: 'Each connection the client closes first sits in TIME_WAIT for 60 s holding its source port; with tcp_tw_reuse=0 and a 1000-port range, 1000 connects use them all up.',
    args: [
      '--sysctl', 'net.ipv4.ip_local_port_range=40000 40999', '--sysctl', 'net.ipv4.tcp_tw_reuse=0', '--lab-backlog', '4096', '--lab-stall', '0',
      '--lab-on-accept', 'hold', '--close', 'fin', '--rate', '1000', '--duration', '2s',
      // The pre-flight sees it coming and would refuse; the incident is what happens when nobody checked.
      '--force',
    ],
    expected: '999 connect (the range’s 1000 ports less the one the lab listens on), the other 1001 fail addrNotAvail (EADDRNOTAVAIL); advice: widen ip_local_port_range, with the TIME_WAIT arithmetic',
    signature: [{knob: 'net.ipv4.ip_local_port_range', current: '40000 40999', proposed: '1024 65535'}],
  },
  {
    name: 'client-gives-up',
    symptom: 'Connects to a stuck service fail after exactly 7 s, although our client timeout is 15 s.',
    cause: 'tcp_syn_retries=2 on the client host: connect() gives up at the first RTO expiry after (2^3 − 1) = 7 s, before the application timeout.',
    args: ['--sysctl', 'net.ipv4.tcp_syn_retries=2', '--lab-backlog', '1', '--lab-stall', '60s', '--burst', '10', '--timeout', '15s'],
    expected: "2 connect (backlog 1 + 1); 8 fail with the kernel's ETIMEDOUT at the ladder's give-up (~7 s), not at connstorm's 15 s",
    signature: [{knob: 'backlog', current: '1', proposed: 'higher'}],
  },
]

/**
 * An incident reproduced with a real server (a Debian package) instead of the lab: the server runs
 * in a network namespace of its own and the storm in another, two hosts on one machine
 * (incidents/real-run.ts); its watch on the server's host gives the diagnosis the server's real
 * effective backlog. Its numbers are checked by test/e2e/real-incidents.test.ts.
 */
export interface RealServerIncident extends Incident {
  server: RealServer
  /** storm flags (the command adds the server's address and port, --server, --start-at and --json) */
  args: string[]
  /** sysctls set in the server's namespace before it starts, e.g. net.core.somaxconn=128 */
  serverSysctls: readonly string[]
  /** how long the server stops accepting (real-servers.ts Stall), from 0.2 s before the burst */
  stallMs: number
  /** the server version, Debian release and kernel the incident was reproduced with */
  reproducedWith: string
}

export const REAL_SERVER_INCIDENTS: readonly RealServerIncident[] = [
  {
    name: 'nginx-default-backlog',
    symptom: 'After a load-balancer failover 2,000 clients reconnect to nginx at once, just as its worker hangs for 2.5 s on a slow disk: about a quarter get in at once, the rest wait 3 s or more. Nobody ever set a backlog.',
    cause: 'A listen line without backlog= listens with NGX_LISTEN_BACKLOG, 511 on Linux (src/os/unix/ngx_linux_config.h). While the one worker accepts nothing the queue holds 511 + 1; the SYNs of the other 1,488 are dropped and retransmitted until it accepts again.',
    server: NGINX,
    args: ['--burst', '2000'],
    serverSysctls: [],
    stallMs: 2500,
    expected: "the server's listener: Send-Q 511; 512 connects at once (511 + 1), the other 1,488 on SYN retransmit steps after the stall (the 3 s step; the 2 s one for connects that left late on a loaded machine), none on the 1 s step; the server's watch: peak queue 512/511+1, the listener dropped SYNs; advice: backlog 511 → 4095 (listen … backlog=4095; nginx re-listens on reload)",
    signature: [{knob: 'backlog', current: '511', proposed: 'higher'}],
    reproducedWith: 'nginx 1.22.1 (Debian 12, nginx-light), Linux 6.18',
  },
  {
    name: 'redis-somaxconn-128',
    symptom: 'Redis has tcp-backlog 511, yet when a slow command blocks it for 2.5 s, clients reconnecting in a wave of 300 wait 3 s or time out; ss shows a backlog of 128.',
    cause: "net.core.somaxconn is 128 (the default before Linux 5.4, and in containers' network namespaces on those kernels): listen(511) is silently capped to 128, and Redis only logs a warning at start (checkTcpBacklogSettings, server.c). While its one event loop is blocked (DEBUG SLEEP here, a KEYS * or a slow Lua script in production) 129 connects fit the queue; the others' SYNs are dropped and retransmitted.",
    server: REDIS,
    args: ['--burst', '300'],
    serverSysctls: ['net.core.somaxconn=128'],
    stallMs: 2500,
    expected: "the server's listener: Send-Q 128 although tcp-backlog is 511 (Redis's log warns); 129 connects at once (128 + 1), the other 171 on SYN retransmit steps after the sleep (3 s, or 2 s for connects that left late), none on the 1 s step; advice: raise net.core.somaxconn to 512, then restart Redis (tcp-backlog is read only at start)",
    signature: [
      {knob: 'net.core.somaxconn', current: '128', proposed: 'higher'},
      {knob: 'backlog', current: '128', proposed: 'higher'},
    ],
    reproducedWith: 'Redis 7.0.15 (Debian 12, redis-server), Linux 6.18',
  },
  {
    name: 'gunicorn-busy-workers',
    symptom: 'When the payment provider is slow, clients of our Flask app behind gunicorn cannot even connect: connects take 3 s or time out, while the CPU is idle.',
    cause: 'A sync worker accepts one connection and serves it to the end before it accepts again (workers/sync.py). Both workers wait 2.5 s on the slow upstream, so nothing is accepted: --backlog 64 queues 65 connects, the SYNs of the others are dropped and retransmitted.',
    server: GUNICORN,
    args: ['--burst', '200'],
    serverSysctls: [],
    stallMs: 2500,
    expected: "the server's listener: Send-Q 64; 65 connects at once (64 + 1), the other 135 on SYN retransmit steps once a worker is free (3 s, or 2 s for connects that left late), none on the 1 s step; the server's watch: peak queue 65/64+1; advice: backlog 64 → 255 (gunicorn --backlog 255)",
    signature: [{knob: 'backlog', current: '64', proposed: 'higher'}],
    reproducedWith: 'gunicorn 20.1.0 (Debian 12, python3 3.11), Linux 6.18',
  },
  {
    name: 'tomcat-gc-pause',
    symptom: 'Our Spring Boot service on Tomcat stalls for 2.5 s in a full GC; the 300 clients that reconnect meanwhile get in 3 s late or time out, though the thread pool has room.',
    cause: "The HTTP connector's acceptCount is its listen backlog, 100 unless set (AbstractEndpoint; Spring Boot's server.tomcat.accept-count keeps it). A stop-the-world pause stops the acceptor thread with the rest of the JVM: 101 connects fit the queue, the SYNs of the other 199 are dropped and retransmitted until the pause ends.",
    server: TOMCAT,
    args: ['--burst', '300'],
    serverSysctls: [],
    stallMs: 2500,
    expected: "the server's listener: Send-Q 100; 101 connects at once (100 + 1), the other 199 on SYN retransmit steps after the pause (3 s, or 2 s for connects that left late), none on the 1 s step; the server's watch: peak queue 101/100+1; advice: backlog 100 → 511 (server.tomcat.accept-count=511, acceptCount on the Connector), then restart",
    signature: [{knob: 'backlog', current: '100', proposed: 'higher'}],
    reproducedWith: 'Apache Tomcat 10.1.60 (Debian 12, tomcat10, OpenJDK 17), Linux 6.18',
  },
]

export type AnyIncident = Incident | RealServerIncident

export function isRealServerIncident(incident: AnyIncident): incident is RealServerIncident {
  return 'server' in incident
}

/** The lab's incidents, then the real servers'. */
export const ALL_INCIDENTS: readonly AnyIncident[] = [...INCIDENTS, ...REAL_SERVER_INCIDENTS]

export function findIncident(name: string): AnyIncident | undefined {
  return ALL_INCIDENTS.find((incident) => incident.name === name)
}
