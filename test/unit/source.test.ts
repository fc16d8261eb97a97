import {describe, expect, it} from 'vitest'

import {parseSources} from '../../src/plan/source.js'
import {isLocalAddress} from '../../src/plan/target.js'

const anyLocal = () => true

describe('--source', () => {
  it('expands a range, in order', () => {
    expect(parseSources('127.0.0.1-127.0.0.4', anyLocal)).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'])
    expect(parseSources('127.0.0.255-127.0.1.1', anyLocal)).toEqual(['127.0.0.255', '127.0.1.0', '127.0.1.1'])
  })

  it('expands a CIDR block to its host addresses (not the network and broadcast addresses)', () => {
    expect(parseSources('127.0.0.0/29', anyLocal)).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'])
    expect(parseSources('127.0.0.9/32', anyLocal)).toEqual(['127.0.0.9'])
    expect(parseSources('127.0.0.8/31', anyLocal)).toEqual(['127.0.0.8', '127.0.0.9'])
  })

  it('takes a list, IPv6 included, without duplicates', () => {
    expect(parseSources('127.0.0.1, 127.0.0.2,127.0.0.1', anyLocal)).toEqual(['127.0.0.1', '127.0.0.2'])
    expect(parseSources('::1', anyLocal)).toEqual(['::1'])
  })

  it.for([
    ['127.0.0.1-abc', /--source: invalid value '127\.0\.0\.1-abc': expected local addresses as a range/],
    ['127.0.0.1-127.0.0.2-127.0.0.3', /expected local addresses as a range/],
    ['127.0.0.300', /expected local addresses as a range/],
    ['127.0.0.0/33', /expected local addresses as a range/],
    ['::1-::2', /expected local addresses as a range/],
    ['127.0.0.5-127.0.0.1', /the range '127\.0\.0\.5-127\.0\.0\.1' ends before it starts/],
    ['127.0.0.0/16', /holds 65534 addresses; at most 1024/],
    ['127.0.0.1,::1', /mixes IPv4 and IPv6/],
  ])('refuses %s', ([text, message]) => {
    expect(() => parseSources(text as string, anyLocal)).toThrow(message as RegExp)
  })

  it('refuses an address that is not this machine’s (a connect cannot be bound to it)', () => {
    expect(() => parseSources('127.0.0.1,192.0.2.7', isLocalAddress)).toThrow(/--source: 192\.0\.2\.7 is not an address of this machine/)
    expect(parseSources('127.0.0.1-127.0.0.8', isLocalAddress)).toHaveLength(8) // all of 127.0.0.0/8 is loopback
  })
})
