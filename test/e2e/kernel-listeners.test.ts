import type {ChildProcess} from 'node:child_process'
import {type Server, type Socket, connect, createServer} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'

import {findListeners, type ListenerLookup, readDiagListeners, readProcListeners} from '../../src/kernel/listeners.js'
import {nativeAddon} from '../../src/native/addon.js'
import {startQueueSampler} from '../../src/kernel/queue-sampler.js'
import {effectiveBacklog, readSysctlInt} from '../../src/kernel/sysctl.js'
import {startScript} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'

// A listener that never accepts: it listens on 127.0.0.1 (backlog 7) and ::1 (backlog 5), prints
// its ports, then blocks its own event loop. Atomics.wait ends after 60 s in case nobody kills it.
const NEVER_ACCEPTS = `
const net = require('node:net')
const v4 = net.createServer(), v6 = net.createServer()
let listening = 0
function blockWhenBothListen() {
  if (++listening < 2) return
  process.stdout.write(JSON.stringify({v4: v4.address().port, v6: v6.address().port}) + '\\n')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000)
  process.exit(0)
}
v4.listen({port: 0, host: '127.0.0.1', backlog: 7}, blockWhenBothListen)
v6.listen({port: 0, host: '::1', backlog: 5}, blockWhenBothListen)
`

let target: ChildProcess | undefined
const clients: Socket[] = []

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy()
  if (target?.pid !== undefined && target.exitCode === null && target.signalCode === null) process.kill(target.pid, 'SIGKILL')
  target = undefined
})

async function startNeverAccepting(): Promise<{v4: number; v6: number}> {
  const {child, firstLine} = await startScript(NEVER_ACCEPTS)
  target = child
  return JSON.parse(firstLine) as {v4: number; v6: number}
}

/** Opens `count` connections; they complete the handshake into the accept queue and stay there. */
async function queueConnects(host: string, port: number, count: number): Promise<void> {
  await Promise.all(
    Array.from({length: count}, () =>
      new Promise<void>((resolve, reject) => {
        const client = connect({host, port}, () => resolve())
        client.once('error', reject)
        clients.push(client)
      }),
    ),
  )
}

/** The server side of a handshake can trail the client's 'connect' by a moment: poll briefly. */
async function listenersOnceQueued(port: number, host: string, queued: number, options?: {netlink?: boolean; ssCommand?: string}): Promise<ListenerLookup> {
  const deadline = Date.now() + 5000
  for (;;) {
    const lookup = await findListeners(port, host, options)
    if (lookup.listeners[0]?.recvQ === queued || Date.now() > deadline) return lookup
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// iproute2's ss is the second way to read listeners (the first is netlink, through the addon).
const noSs = skipUnless({tools: ['ss']}, 'reading listeners over ss')

describe('listener introspection against a real listener that never accepts', () => {
  const somaxconn = readSysctlInt('net.core.somaxconn')

  it.for([
    ['netlink', {}],
    ['ss', {netlink: false}],
  ] as const)('reads Send-Q 7 (the backlog) and Recv-Q 3 (the queued connects) over %s', async ([source, options], {skip}) => {
    if (source === 'ss' && noSs) skip()
    const ports = await startNeverAccepting()
    await queueConnects('127.0.0.1', ports.v4, 3)
    const lookup = await listenersOnceQueued(ports.v4, '127.0.0.1', 3, options)
    expect(lookup).toEqual({
      listeners: [{host: '127.0.0.1', port: ports.v4, family: 4, recvQ: 3, sendQ: effectiveBacklog(7, somaxconn)}],
      source,
    })
  })

  it('reads the ::1 listener as well, and only the one asked for', async () => {
    const ports = await startNeverAccepting()
    await queueConnects('::1', ports.v6, 2)
    const lookup = await listenersOnceQueued(ports.v6, '::1', 2)
    expect(lookup.listeners).toEqual([{host: '::1', port: ports.v6, family: 6, recvQ: 2, sendQ: effectiveBacklog(5, somaxconn)}])
    expect((await findListeners(ports.v6, '127.0.0.1')).listeners).toEqual([])
  })

  it('falls back to /proc/net/tcp without the addon and ss: same queue, backlog unknown', async () => {
    const ports = await startNeverAccepting()
    await queueConnects('127.0.0.1', ports.v4, 3)
    const lookup = await listenersOnceQueued(ports.v4, '127.0.0.1', 3, {netlink: false, ssCommand: 'connstorm-test-no-such-ss'})
    expect(lookup).toEqual({listeners: [{host: '127.0.0.1', port: ports.v4, family: 4, recvQ: 3, sendQ: null}], source: 'proc'})
  })

  it('reads the same queues over netlink (the native addon) as from /proc, and the backlog as ss does', async () => {
    const ports = await startNeverAccepting()
    await queueConnects('127.0.0.1', ports.v4, 3)
    await queueConnects('::1', ports.v6, 2)
    await listenersOnceQueued(ports.v4, '127.0.0.1', 3)
    const ours = (listeners: {port: number}[] | null) => (listeners ?? []).filter((listener) => listener.port === ports.v4 || listener.port === ports.v6)
    const overNetlink = ours(readDiagListeners([4, 6]))
    expect(overNetlink).toEqual([
      {host: '127.0.0.1', port: ports.v4, family: 4, queueLength: 3},
      {host: '::1', port: ports.v6, family: 6, queueLength: 2},
    ])
    expect(overNetlink).toEqual(ours(readProcListeners('/proc/net', [4, 6])))
    const withBacklog = nativeAddon!.listenQueues(4).find((listener) => listener.port === ports.v4)
    expect(withBacklog).toEqual({host: '127.0.0.1', port: ports.v4, queueLength: 3, backlog: effectiveBacklog(7, somaxconn), v6only: false, drops: 0})
  })

  it.skipIf(noSs)('names listeners on :: as ss does over netlink too: * when dual-stack, :: when IPV6_V6ONLY', async () => {
    const listen = (options: {host: string; ipv6Only?: boolean; backlog: number}) =>
      new Promise<Server>((resolve, reject) => {
        const server = createServer().once('error', reject)
        server.listen({port: 0, ...options}, () => resolve(server))
      })
    const servers = [await listen({host: '::', backlog: 11}), await listen({host: '::', ipv6Only: true, backlog: 12}), await listen({host: '0.0.0.0', backlog: 13})]
    try {
      const ports = servers.map((server) => (server.address() as {port: number}).port)
      for (const port of ports) {
        const overNetlink = await findListeners(port)
        const fromSs = await findListeners(port, undefined, {netlink: false})
        expect(overNetlink.source).toBe('netlink')
        expect(overNetlink.listeners).toEqual(fromSs.listeners)
      }
      // An IPV6_V6ONLY :: and 0.0.0.0 may share a port number (they do not conflict): look at IPv6 rows.
      const ipv6 = (lookup: ListenerLookup) => lookup.listeners.filter((listener) => listener.family === 6)
      expect(ipv6(await findListeners(ports[0]!))).toMatchObject([{host: '*', family: 6, sendQ: effectiveBacklog(11, somaxconn)}])
      expect(ipv6(await findListeners(ports[1]!))).toMatchObject([{host: '::', family: 6, sendQ: effectiveBacklog(12, somaxconn)}])
      // The dual-stack one serves an IPv4 client, the IPV6_V6ONLY one does not.
      expect(ipv6(await findListeners(ports[0]!, '127.0.0.1'))).toHaveLength(1)
      expect(ipv6(await findListeners(ports[1]!, '127.0.0.1'))).toHaveLength(0)
    } finally {
      for (const server of servers) server.close()
    }
  })

  it('samples a peak accept queue of 3 while 3 connects wait', async () => {
    const ports = await startNeverAccepting()
    const sampler = startQueueSampler({port: ports.v4, host: '127.0.0.1'})
    await sampler.ready
    await queueConnects('127.0.0.1', ports.v4, 3)
    await listenersOnceQueued(ports.v4, '127.0.0.1', 3)
    // Over netlink every 40 ms tick reads the queue; from /proc (no addon) a queue that fills
    // without overflowing is read within the idle interval (200 ms), then on every tick while it
    // stays at least half full (queue-sampling-policy.ts).
    const queuedAt = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 400))
    const result = await sampler.stop()
    const stoppedAt = performance.now()
    expect(result.peakQueue).toBe(3)
    // 25 reads a second while the queue is full (from /proc, after up to one 200 ms idle interval),
    // less what late wake-ups cost on a busy machine: ≥ 15 a second allows 26 ms of lateness per
    // 40 ms tick, and fails a sampler that reads only on the idle interval (5 a second).
    const busyMs = stoppedAt - queuedAt - (nativeAddon ? 0 : 200)
    expect(result.samples).toBeGreaterThanOrEqual(Math.floor((busyMs * 15) / 1000))
  })

  it('samples null when no listener serves the host asked for', async () => {
    const ports = await startNeverAccepting()
    const sampler = startQueueSampler({port: ports.v4, host: '::1'})
    await sampler.ready
    expect((await sampler.stop()).peakQueue).toBeNull()
  })
})
