import {describe, expect, it} from 'vitest'

import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {MAX_SOURCES, SOURCE_FORM, parseSources} from '../../src/plan/source.js'
import {isLocalAddress} from '../../src/plan/target.js'
import {thrown} from '../helpers/thrown.js'

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

  it('tolerates spaces around the whole value and around the ends of a range', () => {
    expect(parseSources(' 127.0.0.0/30 ', anyLocal)).toEqual(['127.0.0.1', '127.0.0.2'])
    expect(parseSources('127.0.0.1 - 127.0.0.2', anyLocal)).toEqual(['127.0.0.1', '127.0.0.2'])
  })

  it('takes a range of one address', () => {
    expect(parseSources('127.0.0.7-127.0.0.7', anyLocal)).toEqual(['127.0.0.7'])
  })

  it('takes the block an address is in, whichever of its addresses is written', () => {
    expect(parseSources('127.0.0.9/30', anyLocal)).toEqual(['127.0.0.9', '127.0.0.10'])
    expect(parseSources('127.0.0.11/31', anyLocal)).toEqual(['127.0.0.10', '127.0.0.11'])
  })

  it('takes up to 1024 addresses: a 1024-address range, or a /22 (1022 hosts)', () => {
    expect(MAX_SOURCES).toBe(1024)
    const range = parseSources('127.0.0.1-127.0.4.0', anyLocal)
    expect([range.length, range[0], range.at(-1)]).toEqual([1024, '127.0.0.1', '127.0.4.0'])
    const block = parseSources('127.0.0.0/22', anyLocal)
    expect([block.length, block[0], block.at(-1)]).toEqual([1022, '127.0.0.1', '127.0.3.254'])
  })

  it('refuses more than 1024 addresses, counting them in the message', () => {
    const list = Array.from({length: 1025}, (_, index) => `127.0.${Math.floor(index / 256)}.${index % 256}`).join(',')
    expect(() => parseSources(list, anyLocal)).toThrow(/^--source: '127\.0\.0\.0,.*,127\.0\.4\.0' holds 1025 addresses; at most 1024$/)
    expect(() => parseSources('127.0.0.1-127.0.4.1', anyLocal)).toThrow("--source: '127.0.0.1-127.0.4.1' holds 1025 addresses; at most 1024")
    expect(() => parseSources('127.0.0.0/21', anyLocal)).toThrow("--source: '127.0.0.0/21' holds 2046 addresses; at most 1024")
    expect(() => parseSources('0.0.0.0-255.255.255.255', anyLocal)).toThrow("--source: '0.0.0.0-255.255.255.255' holds 4294967296 addresses; at most 1024")
    expect(() => parseSources('0.0.0.0/0', anyLocal)).toThrow("--source: '0.0.0.0/0' holds 4294967294 addresses; at most 1024")
  })

  it.each(['127.0.0.1,127.0.0.300', 'nope/30', 'x127.0.0.0/30', '127.0.0.0/30x', '127.0.0.300/30', '127.0.0.0/', '127.0.0.0/123'])(
    'refuses %s as malformed, with the accepted forms',
    (text) => {
      const error = thrown(() => parseSources(text, anyLocal))
      expect(error).toBeInstanceOf(InvalidOptionError)
      expect((error as InvalidOptionError).message).toBe(`--source: invalid value '${text}': expected ${SOURCE_FORM}`)
    },
  )

  it('states the accepted forms', () => {
    expect(SOURCE_FORM).toBe(
      'local addresses as a range (127.0.0.1-127.0.0.8), a CIDR block (127.0.0.0/29) or a comma-separated list (127.0.0.1,127.0.0.2)',
    )
  })

  it('checks every address, not only the first, for being this machine\'s', () => {
    const error = thrown(() => parseSources('127.0.0.1,127.0.0.2', (address) => address === '127.0.0.1'))
    expect(error).toBeInstanceOf(UsageError)
    expect((error as Error).message).toBe(
      '--source: 127.0.0.2 is not an address of this machine (loopback 127.0.0.0/8, ::1, or an address of one of its interfaces)',
    )
  })

  it('takes a list, IPv6 included, without duplicates', () => {
    expect(parseSources('127.0.0.1, 127.0.0.2,127.0.0.1', anyLocal)).toEqual(['127.0.0.1', '127.0.0.2'])
    expect(parseSources('::1', anyLocal)).toEqual(['::1'])
  })

  it.for([
    ['abc-127.0.0.1', /--source: invalid value 'abc-127\.0\.0\.1': expected local addresses as a range/],
    ['127.0.0.1-abc', /--source: invalid value '127\.0\.0\.1-abc': expected local addresses as a range/],
    ['127.0.0.1-127.0.0.2-127.0.0.3', /expected local addresses as a range/],
    ['127.0.0.300', /expected local addresses as a range/],
    ['127.0.0.0/33', /expected local addresses as a range/],
    ['::1-::2', /expected local addresses as a range/],
    ['127.0.0.5-127.0.0.1', /the range '127\.0\.0\.5-127\.0\.0\.1' ends before it starts/],
    ['127.0.0.0/16', /holds 65534 addresses; at most 1024/],
    ['127.0.0.1,::1', /^--source: '127\.0\.0\.1,::1' mixes IPv4 and IPv6 addresses; a connect needs a source of its target's family$/],
  ])('refuses %s', ([text, message]) => {
    expect(() => parseSources(text as string, anyLocal)).toThrow(message as RegExp)
  })

  it('refuses an address that is not this machine’s (a connect cannot be bound to it)', () => {
    expect(() => parseSources('127.0.0.1,192.0.2.7', isLocalAddress)).toThrow(/--source: 192\.0\.2\.7 is not an address of this machine/)
    expect(parseSources('127.0.0.1-127.0.0.8', isLocalAddress)).toHaveLength(8) // all of 127.0.0.0/8 is loopback
  })
})
