import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {type AddressInfo, type Socket, connect, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {STORM_COUNTERS, counterDeltas, parseProcNetCounters, readCounters} from '../../src/kernel/counters.js'
import {skipUnless} from '../helpers/requirements.js'

const FIXTURES = new URL('../fixtures/proc/', import.meta.url)
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8')
const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/proc', import.meta.url))

describe('parseProcNetCounters', () => {
  it('names TcpExt fields the way nstat does', () => {
    const counters = parseProcNetCounters(fixture('netstat'))
    expect(counters.TcpExtSyncookiesSent).toBe(844)
    expect(counters.TcpExtListenOverflows).toBe(3580)
    expect(counters.TcpExtListenDrops).toBe(3580)
    expect(counters.TcpExtTCPSynRetrans).toBe(2301)
    expect(counters.TcpExtTCPTimeouts).toBe(2303)
  })

  it('reads every section of /proc/net/netstat: TcpExt, IpExt and MPTcpExt', () => {
    const counters = parseProcNetCounters(fixture('netstat'))
    const inSection = (prefix: string) => Object.keys(counters).filter((name) => name.startsWith(prefix))
    expect(inSection('TcpExt')).toHaveLength(135)
    expect(inSection('IpExt')).toHaveLength(18)
    expect(inSection('MPTcpExt')).toHaveLength(76)
    expect(Object.keys(counters)).toHaveLength(229)
    expect(counters.IpExtInOctets).toBe(242_891_239)
    expect(counters.IpExtInNoECTPkts).toBe(183_540)
    expect(counters.MPTcpExtMPCapableSYNRX).toBe(0)
  })

  it('names /proc/net/snmp fields Ip…, Icmp…, IcmpMsg…, Tcp…, Udp…, UdpLite…', () => {
    const counters = parseProcNetCounters(fixture('snmp'))
    expect(counters.IpForwarding).toBe(2)
    expect(counters.IpInReceives).toBe(183_540)
    expect(counters.IcmpInDestUnreachs).toBe(1)
    expect(counters.IcmpMsgInType3).toBe(1)
    expect(counters.TcpActiveOpens).toBe(42_660)
    expect(counters.TcpPassiveOpens).toBe(41_225)
    expect(counters.TcpAttemptFails).toBe(79)
    expect(counters.TcpEstabResets).toBe(77_396)
    expect(counters.TcpRetransSegs).toBe(2301)
    expect(counters.TcpOutRsts).toBe(42_469)
    expect(counters.UdpInDatagrams).toBe(101)
    expect(counters.UdpLiteInDatagrams).toBe(0)
    expect(Object.keys(counters)).toHaveLength(83)
  })

  it('keeps the signed constant TcpMaxConn = -1 that the kernel prints', () => {
    expect(parseProcNetCounters(fixture('snmp')).TcpMaxConn).toBe(-1)
  })

  it('finds every storm counter in this kernel', () => {
    const counters = {...parseProcNetCounters(fixture('netstat')), ...parseProcNetCounters(fixture('snmp'))}
    expect(STORM_COUNTERS.filter((name) => counters[name] === undefined)).toEqual([])
    expect(STORM_COUNTERS).toHaveLength(17)
  })

  it('parses a value beyond 2^53 as the nearest Number (the kernel keeps u64)', () => {
    const counters = parseProcNetCounters('IpExt: InOctets OutOctets\nIpExt: 18446744073709551615 9007199254740993\n')
    expect(counters.IpExtInOctets).toBe(18_446_744_073_709_552_000)
    expect(counters.IpExtOutOctets).toBe(2 ** 53) // 2^53 + 1 has no Number of its own
  })

  it('ignores lines that are not a header/value pair, and a missing final newline', () => {
    const text = 'garbage\nTcp: ActiveOpens PassiveOpens\nTcp: 5 6\nTcpExt: ListenDrops\nTcpExt: x\nUdp: InDatagrams\nUdp: 7'
    expect(parseProcNetCounters(text)).toEqual({TcpActiveOpens: 5, TcpPassiveOpens: 6, UdpInDatagrams: 7})
    expect(parseProcNetCounters('')).toEqual({})
  })
})

describe('readCounters', () => {
  it('merges /proc/net/netstat and /proc/net/snmp', () => {
    const counters = readCounters(FIXTURE_DIR)
    expect(counters).not.toBeNull()
    expect(Object.keys(counters!)).toHaveLength(229 + 83)
    expect(counters!.TcpExtListenOverflows).toBe(3580)
    expect(counters!.TcpActiveOpens).toBe(42_660)
  })

  it('returns what it can when one file is missing, and null when both are', () => {
    const dir = mkdtempSync(join(tmpdir(), 'connstorm-counters-'))
    try {
      expect(readCounters(dir)).toBeNull()
      writeFileSync(join(dir, 'snmp'), fixture('snmp'))
      const counters = readCounters(dir)
      expect(counters?.TcpActiveOpens).toBe(42_660)
      expect(counters?.TcpExtListenOverflows).toBeUndefined()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it("reads this machine's counters, which move by at least the 3 loopback connects this test makes", async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const sockets: Socket[] = []
    try {
      const before = readCounters()!
      const {port} = server.address() as AddressInfo
      const accepted = new Promise<void>((resolve) => {
        let n = 0
        server.on('connection', (socket) => {
          sockets.push(socket)
          if (++n === 3) resolve()
        })
      })
      for (let i = 0; i < 3; i++) sockets.push(await new Promise<Socket>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => resolve(socket))
      }))
      await accepted
      const after = readCounters()!
      // Shared with everything else on this machine: other traffic can only add.
      expect(after.TcpActiveOpens! - before.TcpActiveOpens!).toBeGreaterThanOrEqual(3)
      expect(after.TcpPassiveOpens! - before.TcpPassiveOpens!).toBeGreaterThanOrEqual(3)
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  // /proc/PID/net is PID's network namespace: a child alone in a namespace of its own makes a known
  // set of connects, and the deltas read from here are exactly those.
  it.skipIf(skipUnless({root: true, tools: ['unshare', 'ip']}, 'the namespace counter test'))(
    'reads another namespace through /proc/PID/net: exactly 5 connects accepted and 2 refused there',
    async () => {
      const script = `
        const net = require('node:net')
        const server = net.createServer().listen(0, '127.0.0.1', () => console.log('ready'))
        const held = []
        server.on('connection', (socket) => held.push(socket))
        const closed = net.createServer().listen(0, '127.0.0.1', () => {
          const closedPort = closed.address().port
          closed.close() // a port nobody listens on: its SYNs are answered by RST
          process.stdin.once('data', async () => {
            const {port} = server.address()
            for (let i = 0; i < 5; i++) await new Promise((resolve) => held.push(net.connect(port, '127.0.0.1', resolve)))
            for (let i = 0; i < 2; i++) await new Promise((resolve) => net.connect(closedPort, '127.0.0.1').on('error', resolve))
            while (held.length < 10) await new Promise((resolve) => setTimeout(resolve, 10))
            console.log('done')
          })
        })`
      const child = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" -e "$1"', process.execPath, script], {stdio: ['pipe', 'pipe', 'inherit']})
      try {
        const lines: string[] = []
        const line = (text: string): Promise<void> =>
          new Promise((resolve, reject) => {
            const check = (): void => void (lines.includes(text) ? resolve() : undefined)
            child.stdout!.on('data', (chunk: Buffer) => {
              lines.push(...chunk.toString().split('\n'))
              check()
            })
            child.once('exit', (code) => reject(new Error(`namespace child exited ${code} before '${text}'`)))
            check()
          })
        await line('ready')
        const before = readCounters(`/proc/${child.pid}/net`)!
        child.stdin!.write('go\n')
        await line('done')
        const after = readCounters(`/proc/${child.pid}/net`)!
        expect(counterDeltas(before, after, ['TcpActiveOpens', 'TcpPassiveOpens', 'TcpAttemptFails', 'TcpOutRsts', 'TcpEstabResets', 'TcpExtListenOverflows', 'TcpExtTCPSynRetrans'])).toEqual({
          TcpActiveOpens: 7, // 5 accepted + 2 refused: every SYN sent
          TcpPassiveOpens: 5,
          TcpAttemptFails: 2, // SYN_SENT → CLOSED on the RST
          TcpOutRsts: 2, // the RSTs answering the SYNs to the closed port
          TcpEstabResets: 0,
          TcpExtListenOverflows: 0,
          TcpExtTCPSynRetrans: 0,
        })
      } finally {
        child.kill('SIGKILL')
      }
    },
  )
})

describe('counterDeltas', () => {
  const before = {...parseProcNetCounters(fixture('netstat.before')), ...parseProcNetCounters(fixture('snmp.before'))}
  const after = {...parseProcNetCounters(fixture('netstat')), ...parseProcNetCounters(fixture('snmp'))}

  it('shows what 12 loopback connects moved, 2 of them blocked by a full queue for ~1.5 s', () => {
    expect(counterDeltas(before, after, STORM_COUNTERS)).toEqual({
      TcpExtTCPSynRetrans: 2,
      TcpExtListenOverflows: 4, // 2 original SYNs + 2 retransmits, dropped at the full queue
      TcpExtListenDrops: 4,
      TcpExtTCPReqQFullDrop: 0,
      TcpExtTCPReqQFullDoCookies: 0,
      TcpExtSyncookiesSent: 0,
      TcpExtSyncookiesRecv: 0,
      TcpExtSyncookiesFailed: 0,
      TcpActiveOpens: 12,
      TcpPassiveOpens: 10,
      TcpAttemptFails: 0,
      TcpEstabResets: 0,
      TcpExtTCPAbortOnTimeout: 0,
      TcpExtTCPTimeouts: 2,
      TcpRetransSegs: 2,
      TcpExtEmbryonicRsts: 0,
      TcpOutRsts: 0,
    })
  })

  it('leaves out names missing from either snapshot rather than report 0', () => {
    expect(counterDeltas({TcpActiveOpens: 1, TcpOutRsts: 5}, {TcpActiveOpens: 4, TcpExtListenDrops: 2}, ['TcpActiveOpens', 'TcpOutRsts', 'TcpExtListenDrops', 'constructor'])).toEqual({
      TcpActiveOpens: 3,
    })
  })
})
