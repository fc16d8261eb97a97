import {describe, expect, it} from 'vitest'

import {adviceOptionsFor, recommend} from '../../src/analysis/recommend.js'
import {type ServerProfile, findServer} from '../../src/analysis/servers.js'
import {renderAdvice} from '../../src/report/advice-text.js'
import {burstOf200AgainstBacklog8} from '../helpers/synthetic-result.js'

/**
 * The advice section as printed with --server NAME, for situation 1 of recommend.test.ts: a burst
 * of 200 connects against a listener with backlog 8 (9 in at once, 191 on the 2-retransmit step,
 * ss Recv-Q 9 / Send-Q 8, ListenOverflows +563), somaxconn 4096.
 *
 * These are specifications, reviewed line by line, not recorded output:
 *  - the queue must hold 200 + 25 % = 250, so backlog 255 (queue 256; 127 would hold only 128);
 *  - somaxconn 4096 ≥ 255 does not cap it, so it is kept and nothing is printed to apply;
 *  - the backlog is set in the server's own syntax, and the note after it is that server's own
 *    account of what makes the new value take effect (src/analysis/servers.ts cites each);
 *  - syncookies 1, abort_on_overflow 0 and tcp_max_syn_backlog 2048 ≥ 256 need nothing: no line.
 */

function printed(id: string): string[] {
  const server = findServer(id)
  if (server === undefined) throw new Error(`no server profile ${id}`)
  return renderAdvice(recommend(burstOf200AgainstBacklog8(), adviceOptionsFor(server, null)), server.name)
}

function profile(id: string): ServerProfile {
  const server = findServer(id)
  if (server === undefined) throw new Error(`no server profile ${id}`)
  return server
}

const MODEL =
  '  model: the accept queue (backlog + 1) must hold every connect that arrives while the application is not accepting — here a burst of 200 connects arrives at once; with 25 % headroom, rounded up to 2^n − 1 because the kernel admits backlog + 1'

const BACKLOG_8_TO_255 = [
  '  backlog                        8 → 255',
  '      evidence: 9 connects were admitted at once (= backlog 8 + 1 when the application is not accepting)',
  '      evidence: peak accept queue 9/8+1 (full)',
  '      evidence: 191 connects waited 2 SYN retransmits (~2.05 s)',
  '      evidence: TcpExtListenOverflows +563',
]

const SOMAXCONN_KEPT = ['  net.core.somaxconn             4096 (keep)', '      evidence: 4096 ≥ backlog 255: it does not cap it']

describe('renderAdvice(recommend(…)) for a 200-connect burst against backlog 8, per --server', () => {
  it('nginx: backlog=255 on the listen directive; a reload re-listens only listeners whose backlog= changed', () => {
    expect(printed('nginx')).toEqual([
      'advice (for nginx)',
      MODEL,
      ...BACKLOG_8_TO_255,
      '      listen 80 backlog=255;  # on each listen directive that takes the storm',
      '      # nginx -s reload re-calls listen() with the new value on every listener whose backlog= changed (ngx_init_cycle marks it, ngx_configure_listening_sockets calls listen()), so the change applies at once without dropping the socket. A reload does NOT re-listen a socket whose backlog= is unchanged, so after raising net.core.somaxconn either change backlog= as well and reload, or restart nginx',
      ...SOMAXCONN_KEPT,
    ])
  })

  it('redis: tcp-backlog 255, and a restart, since CONFIG SET refuses an immutable setting', () => {
    expect(printed('redis')).toEqual([
      'advice (for Redis)',
      MODEL,
      ...BACKLOG_8_TO_255,
      '      tcp-backlog 255',
      '      # restart redis-server: tcp-backlog is an IMMUTABLE_CONFIG (CONFIG SET refuses it), and the socket keeps the somaxconn in force when Redis started',
      ...SOMAXCONN_KEPT,
    ])
  })

  it('node: the backlog option of server.listen(), and a restart, since a listening server cannot listen() again', () => {
    expect(printed('node')).toEqual([
      'advice (for Node.js (net / http))',
      MODEL,
      ...BACKLOG_8_TO_255,
      '      server.listen({port: 8080, backlog: 255})',
      '      # restart the process: a listening server cannot listen() again (ERR_SERVER_ALREADY_LISTEN) unless it is closed first, which drops the socket',
      ...SOMAXCONN_KEPT,
    ])
  })

  it('java: the backlog argument of ServerSocket and of ServerSocketChannel.bind(), and a JVM restart', () => {
    expect(printed('java')).toEqual([
      'advice (for Java (ServerSocket / NIO ServerSocketChannel))',
      MODEL,
      ...BACKLOG_8_TO_255,
      '      new ServerSocket(port, 255)',
      '      serverSocketChannel.bind(address, 255)',
      '      # restart the JVM (or close and re-open the server socket, which drops it); the backlog is fixed when bind() calls listen()',
      ...SOMAXCONN_KEPT,
    ])
  })

  it('go: no backlog setting, so no line to set 255; it says so and gives Go\'s own way round it (somaxconn + restart, or listen() again through SyscallConn)', () => {
    expect(printed('go')).toEqual([
      'advice (for Go (net.Listen, net/http))',
      MODEL,
      ...BACKLOG_8_TO_255,
      "      # Go has no backlog setting: raise net.core.somaxconn and restart the process, since Go passes somaxconn itself (read once, at the first Listen). For a smaller or per-listener value, call syscall.Listen(fd, N) on the listener's descriptor through (*net.TCPListener).SyscallConn().Control after net.Listen: a second listen() changes the backlog at once (docs/kernel.md §6)",
      '      # raise net.core.somaxconn, then restart the process: Go reads the sysctl once per process and listeners that already exist keep their backlog',
      ...SOMAXCONN_KEPT,
    ])
  })
})

describe('what the printed lines rest on', () => {
  it.each(['nginx', 'redis', 'node', 'java'])('%s: the lines are exactly the profile\'s backlogLines(255), then its applyNote', (id) => {
    const server = profile(id)
    const lines = printed(id)
    const start = lines.indexOf(BACKLOG_8_TO_255.at(-1)!) + 1
    expect(lines.slice(start, start + server.backlogLines(255)!.length + 1)).toEqual([...server.backlogLines(255)!.map((line) => `      ${line}`), `      # ${server.applyNote}`])
  })

  it('go: no line of the backlog recommendation sets a backlog, and the withoutKnob advice is printed in full', () => {
    const go = profile('go')
    expect(go.backlogLines(255)).toBeNull()
    const advice = recommend(burstOf200AgainstBacklog8(), adviceOptionsFor(go, null))
    const backlog = advice.recommendations.find((recommendation) => recommendation.knob === 'backlog')!
    expect(backlog.lines.every((line) => line.startsWith('#'))).toBe(true)
    expect(backlog.lines.join('\n')).toContain(go.withoutKnob!)
    expect(backlog.lines.join('\n')).not.toMatch(/listen\(fd, 255\)/)
  })

  it('without --server the line is the generic listen(fd, 255) and points at --server', () => {
    const lines = renderAdvice(recommend(burstOf200AgainstBacklog8(), adviceOptionsFor(undefined, null)))
    expect(lines[0]).toBe('advice')
    expect(lines).toContain("      listen(fd, 255)   # your server's backlog setting; --server NAME prints it in that server's syntax")
  })
})
