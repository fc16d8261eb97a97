import {lookup} from 'node:dns/promises'
import type {networkInterfaces} from 'node:os'

import {afterEach, describe, expect, it, vi} from 'vitest'

import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {formatAddress, isLocalAddress, isLoopbackAddress, parseTarget, resolveTarget} from '../../src/plan/target.js'
import {thrown} from '../helpers/thrown.js'

// The real lookup stays in place (only 'localhost' and address literals are ever given to it);
// wrapping it lets a test see whether it was called and simulate a failed lookup offline.
vi.mock('node:dns/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:dns/promises')>()
  return {...real, lookup: vi.fn(real.lookup)}
})

afterEach(() => {
  vi.mocked(lookup).mockClear()
})


function expectTargetError(text: string): InvalidOptionError {
  const error = thrown(() => parseTarget(text))
  expect(error).toBeInstanceOf(InvalidOptionError)
  const invalid = error as InvalidOptionError
  expect(invalid.option).toBe('TARGET')
  expect(invalid.value).toBe(text)
  expect(invalid.message).toMatch(new RegExp(`^TARGET: invalid value '${text.replaceAll(/[[\]().*+?^$|\\]/g, '\\$&')}'`))
  return invalid
}

describe('parseTarget', () => {
  it('splits host:port', () => {
    expect(parseTarget('127.0.0.1:8080')).toEqual({host: '127.0.0.1', port: 8080})
    expect(parseTarget('localhost:80')).toEqual({host: 'localhost', port: 80})
    expect(parseTarget('db.internal.example:5432')).toEqual({host: 'db.internal.example', port: 5432})
  })

  it('takes an IPv6 address in brackets', () => {
    expect(parseTarget('[::1]:8080')).toEqual({host: '::1', port: 8080})
    expect(parseTarget('[2001:db8::7]:443')).toEqual({host: '2001:db8::7', port: 443})
  })

  it('accepts ports 1 and 65535 and refuses 0 and 65536', () => {
    expect(parseTarget('127.0.0.1:1').port).toBe(1)
    expect(parseTarget('127.0.0.1:65535').port).toBe(65_535)
    expectTargetError('127.0.0.1:0')
    expectTargetError('127.0.0.1:65536')
    expectTargetError('[::1]:0')
  })

  it.each(['127.0.0.1', 'localhost', '127.0.0.1:', ':8080', '127.0.0.1:http', '127.0.0.1:80x', ' 127.0.0.1:80', 'a b:80', 'tcp://127.0.0.1:80', ''])(
    "refuses '%s' with the accepted form in the message",
    (text) => {
      const error = expectTargetError(text)
      expect(error.accepted).toMatch(/^host:port or \[v6addr\]:port/)
    },
  )

  it('asks for brackets when given a bare IPv6 address, with or without a port', () => {
    expect(expectTargetError('::1:8080').message).toMatch(/put an IPv6 address in brackets/)
    expect(expectTargetError('2001:db8::7').message).toMatch(/put an IPv6 address in brackets/)
  })

  it('asks for brackets when the address is IPv6 only once the port is taken off (eight groups and a port)', () => {
    // 'fe80:1a:0:0:0:0:0:1' is a full IPv6 address; with ':8080' appended it is not one
    expect(expectTargetError('fe80:1a:0:0:0:0:0:1:8080').message).toBe(
      "TARGET: invalid value 'fe80:1a:0:0:0:0:0:1:8080': expected host:port or [v6addr]:port with a port from 1 to 65535, e.g. 127.0.0.1:8080 or [::1]:8080 (put an IPv6 address in brackets)",
    )
  })

  it('refuses anything before or after a bracketed address and its port', () => {
    expect(expectTargetError('x[::1]:80').message).not.toMatch(/brackets/)
    expect(expectTargetError('[::1]:80x').message).not.toMatch(/brackets/)
  })

  it('does not hint at brackets for input that is not IPv6', () => {
    expect(expectTargetError('a:b:80').accepted).toBe('host:port or [v6addr]:port with a port from 1 to 65535, e.g. 127.0.0.1:8080 or [::1]:8080')
  })

  it('refuses brackets around anything but an IPv6 address', () => {
    expect(expectTargetError('[127.0.0.1]:80').message).toMatch(/only IPv6 addresses go in brackets/)
    expect(expectTargetError('[localhost]:80').message).toMatch(/only IPv6 addresses go in brackets/)
  })
})

describe('resolveTarget', () => {
  it('uses an IPv4 literal as is, without a lookup', async () => {
    await expect(resolveTarget({host: '127.0.0.1', port: 8080})).resolves.toEqual({
      requested: '127.0.0.1:8080',
      host: '127.0.0.1',
      port: 8080,
      family: 4,
    })
    expect(lookup).not.toHaveBeenCalled()
  })

  it('uses an IPv6 literal as is and writes it back in brackets', async () => {
    await expect(resolveTarget({host: '::1', port: 9000})).resolves.toEqual({requested: '[::1]:9000', host: '::1', port: 9000, family: 6})
    expect(lookup).not.toHaveBeenCalled()
  })

  it("resolves 'localhost' once to a loopback address and keeps the name as requested", async () => {
    const target = await resolveTarget({host: 'localhost', port: 7000})
    expect(lookup).toHaveBeenCalledTimes(1)
    expect(target.requested).toBe('localhost:7000')
    expect(target.port).toBe(7000)
    expect(['127.0.0.1', '::1']).toContain(target.host)
    expect(target.family).toBe(target.host === '::1' ? 6 : 4)
  })

  it('reports family 6 when the lookup answers with an IPv6 address', async () => {
    vi.mocked(lookup).mockResolvedValueOnce({address: '::1', family: 6} as never)
    await expect(resolveTarget({host: 'localhost', port: 7000})).resolves.toEqual({
      requested: 'localhost:7000',
      host: '::1',
      port: 7000,
      family: 6,
    })
  })

  it('turns a failed lookup into a UsageError naming TARGET, the host and the errno code', async () => {
    vi.mocked(lookup).mockRejectedValueOnce(Object.assign(new Error('getaddrinfo ENOTFOUND localhost'), {code: 'ENOTFOUND'}))
    const error = await resolveTarget({host: 'localhost', port: 80}).then(
      () => undefined,
      (error_: unknown) => error_,
    )
    expect(error).toBeInstanceOf(UsageError)
    expect(error).not.toBeInstanceOf(InvalidOptionError)
    expect((error as UsageError).message).toBe("TARGET: cannot resolve host 'localhost' (ENOTFOUND): give a resolvable name or an IP address")
  })

  it("says 'unknown error' when a failed lookup carries no errno code", async () => {
    vi.mocked(lookup).mockRejectedValueOnce(new Error('boom'))
    await expect(resolveTarget({host: 'localhost', port: 80})).rejects.toThrow(/cannot resolve host 'localhost' \(unknown error\)/)
  })
})

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['128.0.0.1', false],
    ['198.18.127.1', false], // a 127 that is not the first octet
    ['127.example', false], // a name that starts like loopback is not an address
    ['::2', false],
  ])('%s is loopback: %s', (host, loopback) => {
    expect(isLoopbackAddress(host)).toBe(loopback)
  })
})

describe('isLocalAddress', () => {
  // The machine's interfaces differ from host to host: the tests give a fixed list (benchmarking
  // and documentation addresses). An interface without addresses is listed as undefined; it must be
  // skipped, not crash the check.
  const interfaces = {tun0: undefined, eth0: [{address: '198.18.2.3'}, {address: 'fe80::1'}]} as unknown as ReturnType<typeof networkInterfaces>

  it("takes any loopback address, assigned to an interface or not (all of 127.0.0.0/8 is this machine's)", () => {
    expect(isLocalAddress('127.0.0.2', interfaces)).toBe(true)
    expect(isLocalAddress('::1', interfaces)).toBe(true)
  })

  it('takes an address of one of the interfaces, whatever its place in the list', () => {
    expect(isLocalAddress('198.18.2.3', interfaces)).toBe(true)
    expect(isLocalAddress('fe80::1', interfaces)).toBe(true)
  })

  it("refuses an address no interface has", () => {
    expect(isLocalAddress('198.18.2.4', interfaces)).toBe(false)
    expect(isLocalAddress('192.0.2.7', interfaces)).toBe(false)
  })

  it("reads this machine's interfaces when given none: each of their addresses is local", async () => {
    const {networkInterfaces: machineInterfaces} = await import('node:os')
    const addresses = Object.values(machineInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address))
    expect(addresses.length).toBeGreaterThan(0) // lo at least
    for (const address of addresses) expect(isLocalAddress(address), address).toBe(true)
  })
})

describe('formatAddress', () => {
  it('brackets IPv6 addresses only', () => {
    expect(formatAddress('127.0.0.1', 80)).toBe('127.0.0.1:80')
    expect(formatAddress('::1', 80)).toBe('[::1]:80')
  })
})
