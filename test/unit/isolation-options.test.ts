import {describe, expect, it} from 'vitest'

import {UsageError} from '../../src/errors.js'
import {parseLinkRate, parseSysctlOverrides} from '../../src/plan/isolation-options.js'
import {thrown} from '../helpers/thrown.js'

const ALLOWED =
  'net.core.somaxconn, net.ipv4.tcp_max_syn_backlog, net.ipv4.tcp_syncookies, net.ipv4.tcp_abort_on_overflow, net.ipv4.tcp_syn_retries, ' +
  'net.ipv4.tcp_syn_linear_timeouts, net.ipv4.tcp_synack_retries, net.ipv4.ip_local_port_range, net.ipv4.tcp_tw_reuse, net.ipv4.tcp_max_tw_buckets'

function refusedMessage(fn: () => unknown): string {
  const error = thrown(fn)
  expect(error).toBeInstanceOf(UsageError)
  return (error as Error).message
}

describe('parseSysctlOverrides (--sysctl key=value)', () => {
  it('reads each key=value, in order, and none when none is given', () => {
    expect(parseSysctlOverrides([])).toEqual([])
    expect(parseSysctlOverrides(['net.core.somaxconn=128', 'net.ipv4.tcp_syncookies=0'])).toStrictEqual([
      {key: 'net.core.somaxconn', value: '128'},
      {key: 'net.ipv4.tcp_syncookies', value: '0'},
    ])
  })

  it('keeps spaces inside the value and trims them around it', () => {
    expect(parseSysctlOverrides([' net.ipv4.ip_local_port_range= 1024 65535 '])).toStrictEqual([{key: 'net.ipv4.ip_local_port_range', value: '1024 65535'}])
  })

  it.each(['somaxconn', 'net.core.somaxconn', 'net.core.somaxconn=', '=128', 'net.core.somaxconn =128', 'Xnet.core.somaxconn=128', 'net.core.somaxconn=1\n2'])(
    'refuses %j: not key=value',
    (text) => {
      expect(refusedMessage(() => parseSysctlOverrides([text]))).toBe(`--sysctl: invalid value '${text}': expected key=value, e.g. net.core.somaxconn=128`)
    },
  )

  it('refuses a sysctl connstorm does not set (it could change the host), listing the ones it sets', () => {
    expect(refusedMessage(() => parseSysctlOverrides(['net.core.somaxconn=128', 'net.core.rmem_max=1']))).toBe(
      `--sysctl: 'net.core.rmem_max' is not one connstorm sets; allowed: ${ALLOWED}`,
    )
  })
})

describe('parseLinkRate', () => {
  it('returns the rate without surrounding spaces, and takes fractions', () => {
    expect(parseLinkRate(' 64kbit ')).toBe('64kbit')
    expect(parseLinkRate('0.5mbit')).toBe('0.5mbit')
  })

  it.each(['0bit', '0.0mbit', 'x64kbit', '64kbitx', '64.kbit'])('refuses %s', (text) => {
    expect(refusedMessage(() => parseLinkRate(text))).toBe(`--link-rate: invalid rate '${text}': expected a number with bit, kbit, mbit or gbit, e.g. 64kbit`)
  })
})
