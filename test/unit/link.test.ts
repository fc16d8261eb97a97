import {describe, expect, it} from 'vitest'

import {linkPacingCommands} from '../../src/netns/link.js'
import {parseLinkRate} from '../../src/plan/isolation-options.js'

describe('--link-rate', () => {
  it.for(['64kbit', '1mbit', '2.5mbit', '800bit', '1gbit'])('accepts %s in tc units', (rate) => {
    expect(parseLinkRate(rate)).toBe(rate)
  })

  it.for(['64k', 'fast', '0kbit', '-1kbit', 'kbit', '64 kbit/s'])('refuses %s with the accepted form', (rate) => {
    expect(() => parseLinkRate(rate)).toThrow(/^--link-rate: invalid rate .*expected a number with bit, kbit, mbit or gbit, e\.g\. 64kbit$/)
  })

  it('paces only the packets sent to the lab port, one small packet per bucket, on the namespace loopback', () => {
    const commands = linkPacingCommands(40181, '64kbit').map((command) => command.join(' '))
    expect(commands).toEqual([
      'ip link set lo mtu 1500',
      'tc qdisc add dev lo root handle 1: htb default 10',
      'tc class add dev lo parent 1: classid 1:10 htb rate 10gbit',
      'tc class add dev lo parent 1: classid 1:30 htb rate 64kbit burst 100 cburst 100',
      'tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip dport 40181 0xffff flowid 1:30',
      'tc filter add dev lo parent 1: protocol ipv6 prio 2 u32 match ip6 dport 40181 0xffff flowid 1:30',
    ])
  })
})
