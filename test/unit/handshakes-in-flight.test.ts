import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {readHandshakesInFlight} from '../../src/kernel/handshakes.js'

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'
// Lines in the kernel's own layout (net/ipv4/tcp_ipv4.c, get_tcp4_sock / get_openreq4): state 0A LISTEN,
// 02 SYN_SENT, 03 SYN_RECV (a request sock), 01 ESTABLISHED, 06 TIME_WAIT.
const TCP = [
  HEADER,
  '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0000000000000000 100 0 0 10 0',
  '   1: 0100007F:9C40 0100007F:1F90 02 00000001:00000000 01:00000064 00000000     0        0 102 1 0000000000000000 100 0 0 10 0',
  '   2: 0100007F:9C41 0100007F:1F90 02 00000001:00000000 01:00000064 00000001     0        0 103 1 0000000000000000 100 0 0 10 0',
  '   3: 0100007F:1F90 0100007F:9C42 03 00000000:00000000 01:00000064 00000000     0        0 0 0 0000000000000000',
  '   4: 0100007F:1F90 0100007F:9C43 01 00000000:00000000 00:00000000 00000000     0        0 104 1 0000000000000000 20 4 30 10 -1',
  '   5: 0100007F:9C44 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000',
].join('\n')
const TCP6 = [
  HEADER,
  '   0: 00000000000000000000000001000000:9C45 00000000000000000000000001000000:1F90 02 00000001:00000000 01:00000064 00000000     0        0 105 1 0000000000000000 100 0 0 10 0',
].join('\n')

let directory: string | undefined
afterEach(() => {
  if (directory) rmSync(directory, {recursive: true, force: true})
  directory = undefined
})

describe('readHandshakesInFlight', () => {
  it('counts SYN_SENT connects and SYN_RECV request socks over tcp and tcp6, and nothing in another state', () => {
    directory = mkdtempSync(join(tmpdir(), 'connstorm-handshakes-'))
    writeFileSync(join(directory, 'tcp'), `${TCP}\n`)
    writeFileSync(join(directory, 'tcp6'), `${TCP6}\n`)
    expect(readHandshakesInFlight(directory)).toEqual({synSent: 3, synRecv: 1})
  })

  it('reads the file it has when the other is missing (a kernel without IPv6)', () => {
    directory = mkdtempSync(join(tmpdir(), 'connstorm-handshakes-'))
    writeFileSync(join(directory, 'tcp'), `${TCP}\n`)
    expect(readHandshakesInFlight(directory)).toEqual({synSent: 2, synRecv: 1})
  })

  it('is null when neither file can be read', () => {
    directory = mkdtempSync(join(tmpdir(), 'connstorm-handshakes-'))
    expect(readHandshakesInFlight(directory)).toBeNull()
  })
})
