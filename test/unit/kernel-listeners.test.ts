import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {decodeProcAddress, findListeners, listenerMatches, parseProcNetTcpListeners, parseSsListening, readProcListeners} from '../../src/kernel/listeners.js'

const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/proc', import.meta.url))
const fixture = (name: string): string => readFileSync(join(FIXTURE_DIR, name), 'utf8')
const NO_SS = 'connstorm-test-no-such-ss'

// What test/fixtures/proc/README.md says was listening when the fixtures were captured.
const SS_LISTENERS = [
  {host: '127.0.0.1', port: 48_763, family: 4, recvQ: 3, sendQ: 5},
  {host: '0.0.0.0', port: 2024, family: 4, recvQ: 0, sendQ: 128},
  {host: '127.0.0.1', port: 53_373, family: 4, recvQ: 3, sendQ: 2},
  {host: '0.0.0.0', port: 56_125, family: 4, recvQ: 0, sendQ: 11},
  {host: '::1', port: 58_241, family: 6, recvQ: 2, sendQ: 7},
  {host: '::ffff:127.0.0.1', port: 58_761, family: 6, recvQ: 1, sendQ: 9},
  {host: '*', port: 40_107, family: 6, recvQ: 1, sendQ: 13},
]

describe('parseSsListening', () => {
  it('reads Recv-Q as the accept-queue length and Send-Q as the effective backlog', () => {
    expect(parseSsListening(fixture('ss-ltnH.txt'))).toEqual(SS_LISTENERS)
  })

  it('shows a full queue as backlog + 1 (listen(2), 5 connects: Recv-Q 3)', () => {
    const full = parseSsListening(fixture('ss-ltnH.txt')).find((listener) => listener.port === 53_373)
    expect(full).toMatchObject({recvQ: 3, sendQ: 2})
  })

  it('skips the header line of ss -ltn', () => {
    expect(parseSsListening(fixture('ss-ltn.txt'))).toEqual(SS_LISTENERS)
  })

  it('unbrackets IPv6, keeps * for a dual-stack ::, and drops a %iface suffix', () => {
    const text = [
      'LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*',
      'LISTEN 0      128    [fe80::1]%eth0:22          [::]:*',
      'LISTEN 0      511             [::]:80           [::]:*',
      'LISTEN 4      511                *:8080            *:*',
      'tcp   LISTEN 0 5 0.0.0.0:9000 0.0.0.0:*',
      'ESTAB  0      0          127.0.0.1:80   127.0.0.1:5000',
      '',
    ].join('\n')
    expect(parseSsListening(text)).toEqual([
      {host: '127.0.0.53', port: 53, family: 4, recvQ: 0, sendQ: 4096},
      {host: 'fe80::1', port: 22, family: 6, recvQ: 0, sendQ: 128},
      {host: '::', port: 80, family: 6, recvQ: 0, sendQ: 511},
      {host: '*', port: 8080, family: 6, recvQ: 4, sendQ: 511},
      {host: '0.0.0.0', port: 9000, family: 4, recvQ: 0, sendQ: 5},
    ])
  })
})

describe('parseProcNetTcpListeners', () => {
  it('decodes the LISTEN rows of /proc/net/tcp, rx_queue as the queue length', () => {
    expect(parseProcNetTcpListeners(fixture('tcp'), 4)).toEqual([
      {host: '127.0.0.1', port: 48_763, family: 4, queueLength: 3},
      {host: '0.0.0.0', port: 2024, family: 4, queueLength: 0},
      {host: '127.0.0.1', port: 53_373, family: 4, queueLength: 3},
      {host: '0.0.0.0', port: 56_125, family: 4, queueLength: 0},
    ])
  })

  it('decodes /proc/net/tcp6 word by word: ::1, ::ffff:127.0.0.1 and ::', () => {
    expect(parseProcNetTcpListeners(fixture('tcp6'), 6)).toEqual([
      {host: '::1', port: 58_241, family: 6, queueLength: 2},
      {host: '::ffff:127.0.0.1', port: 58_761, family: 6, queueLength: 1},
      {host: '::', port: 40_107, family: 6, queueLength: 1},
    ])
  })

  it('agrees with ss on every queue length', () => {
    const fromProc = [...parseProcNetTcpListeners(fixture('tcp'), 4), ...parseProcNetTcpListeners(fixture('tcp6'), 6)]
    for (const listener of SS_LISTENERS) {
      expect(fromProc.find((row) => row.port === listener.port)?.queueLength).toBe(listener.recvQ)
    }
  })

  it('reads the words in host byte order', () => {
    expect(decodeProcAddress('0100007F', 4, true)).toBe('127.0.0.1')
    expect(decodeProcAddress('7F000001', 4, false)).toBe('127.0.0.1')
    expect(decodeProcAddress('B80D0120000000000000000001000000', 6, true)).toBe('2001:db8::1')
    expect(decodeProcAddress('20010DB8000000000000000000000001', 6, false)).toBe('2001:db8::1')
    expect(decodeProcAddress('0100007', 4, true)).toBeNull()
  })
})

describe('listenerMatches', () => {
  const at = (host: string) => ({host, port: 80})

  it('matches a specific address only to itself, on the same port', () => {
    expect(listenerMatches(at('127.0.0.1'), 80, '127.0.0.1')).toBe(true)
    expect(listenerMatches(at('127.0.0.1'), 81, '127.0.0.1')).toBe(false)
    expect(listenerMatches(at('127.0.0.1'), 80, '127.0.0.2')).toBe(false)
    expect(listenerMatches(at('::1'), 80, '0:0:0:0:0:0:0:1')).toBe(true)
    expect(listenerMatches(at('::1'), 80, '127.0.0.1')).toBe(false)
  })

  it('matches every listener on the port when no host is given', () => {
    expect(listenerMatches(at('::1'), 80)).toBe(true)
    expect(listenerMatches(at('198.18.0.1'), 80)).toBe(true)
  })

  it('lets 0.0.0.0 serve any IPv4 host and [::] any IPv6 host', () => {
    expect(listenerMatches(at('0.0.0.0'), 80, '127.0.0.1')).toBe(true)
    expect(listenerMatches(at('0.0.0.0'), 80, '::ffff:127.0.0.1')).toBe(true)
    expect(listenerMatches(at('0.0.0.0'), 80, '::1')).toBe(false)
    expect(listenerMatches(at('::'), 80, '::1')).toBe(true)
    expect(listenerMatches(at('::'), 80, '127.0.0.1')).toBe(false)
  })

  it('lets * (dual-stack ::) serve any host, and :: from /proc serve IPv4 as well', () => {
    expect(listenerMatches(at('*'), 80, '127.0.0.1')).toBe(true)
    expect(listenerMatches(at('*'), 80, '::1')).toBe(true)
    expect(listenerMatches(at('::'), 80, '127.0.0.1', true)).toBe(true)
  })

  it('treats ::ffff:a.b.c.d as a.b.c.d, both ways', () => {
    expect(listenerMatches(at('::ffff:127.0.0.1'), 80, '127.0.0.1')).toBe(true)
    expect(listenerMatches(at('127.0.0.1'), 80, '::ffff:127.0.0.1')).toBe(true)
    expect(listenerMatches(at('127.0.0.1'), 80, '::ffff:7f00:1')).toBe(true)
    expect(listenerMatches(at('::ffff:127.0.0.1'), 80, '127.0.0.2')).toBe(false)
  })
})

describe('readProcListeners', () => {
  it('reads /proc/net/tcp and tcp6 together', () => {
    expect(readProcListeners(FIXTURE_DIR)?.map((listener) => `${listener.host} ${listener.port} ${listener.queueLength}`)).toEqual([
      '127.0.0.1 48763 3',
      '0.0.0.0 2024 0',
      '127.0.0.1 53373 3',
      '0.0.0.0 56125 0',
      '::1 58241 2',
      '::ffff:127.0.0.1 58761 1',
      ':: 40107 1',
    ])
  })

  it('is null when neither file can be read', () => {
    expect(readProcListeners(join(FIXTURE_DIR, 'no-such-dir'))).toBeNull()
  })

  it('stops at the first connection row, since the kernel prints every listener first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'connstorm-proc-'))
    try {
      const lines = fixture('tcp').split('\n')
      const header = lines[0]!
      const listening = lines.filter((line) => / 0A /.test(line))
      const established = lines.find((line) => / 01 /.test(line))!
      // 200k connection rows (~30 MB) after the listeners, then a LISTEN row that cannot really be there
      const storm = Array.from({length: 200_000}, () => established).join('\n')
      writeFileSync(join(dir, 'tcp'), [header, ...listening, storm, '9999: 0100007F:0050 00000000:0000 0A 00000000:00000009', ''].join('\n'))
      const ports = readProcListeners(dir)?.map((listener) => listener.port)
      expect(ports).toEqual([48_763, 2024, 53_373, 56_125])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('findListeners without the addon or ss', () => {
  it('falls back to /proc/net/tcp{,6}, where the backlog is unknown (sendQ null)', async () => {
    expect(await findListeners(48_763, '127.0.0.1', {netlink: false, ssCommand: NO_SS, procNet: FIXTURE_DIR})).toEqual({
      listeners: [{host: '127.0.0.1', port: 48_763, family: 4, recvQ: 3, sendQ: null}],
      source: 'proc',
    })
  })

  it('counts a :: listener from /proc as serving IPv4 too (Linux binds dual-stack by default)', async () => {
    const {listeners} = await findListeners(40_107, '127.0.0.1', {netlink: false, ssCommand: NO_SS, procNet: FIXTURE_DIR})
    expect(listeners).toEqual([{host: '::', port: 40_107, family: 6, recvQ: 1, sendQ: null}])
  })

  it('rejects, rather than report no listener, when neither ss nor /proc can be read', async () => {
    await expect(findListeners(80, undefined, {netlink: false, ssCommand: NO_SS, procNet: join(FIXTURE_DIR, 'no-such-dir')})).rejects.toThrow(/cannot list TCP listeners/)
  })
})
