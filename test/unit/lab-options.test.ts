import {describe, expect, it} from 'vitest'

import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {LAB_DEFAULTS, LAB_FLAG_NAMES, type LabFlags, type LabOptions, parseLabOptions, pickPrefixedLabFlags} from '../../src/plan/lab-options.js'
import {thrown} from '../helpers/thrown.js'


function expectInvalidOption(fn: () => unknown, option: string, value: string): InvalidOptionError {
  const error = thrown(fn)
  expect(error).toBeInstanceOf(InvalidOptionError)
  expect((error as InvalidOptionError).option).toBe(option)
  expect((error as InvalidOptionError).value).toBe(value)
  expect((error as InvalidOptionError).message).toMatch(new RegExp(`^${option}: invalid value '`))
  return error as InvalidOptionError
}

/** A UsageError that is not an InvalidOptionError: a rule about the flags, not a malformed value. */
function expectPlainUsageError(fn: () => unknown): UsageError {
  const error = thrown(fn)
  expect(error).toBeInstanceOf(UsageError)
  expect(error).not.toBeInstanceOf(InvalidOptionError)
  return error as UsageError
}

const DEFAULT_OPTIONS: LabOptions = {
  host: '127.0.0.1',
  port: 0,
  backlog: 511,
  stallMs: 0,
  stallEveryMs: null,
  stallForMs: null,
  acceptRate: null,
  onAccept: 'close',
  handlerDelayMs: 0,
  maxDurationMs: 600_000,
}

describe('parseLabOptions', () => {
  it('defaults to loopback, a free port, backlog 511, no stall, close on accept, exit after 10 min', () => {
    expect(parseLabOptions({})).toStrictEqual(DEFAULT_OPTIONS)
    expect(LAB_DEFAULTS).toMatchObject({host: '127.0.0.1', port: 0, backlog: 511, stallMs: 0, onAccept: 'close', maxDurationMs: 600_000})
  })

  it("takes the caller's defaults for backlog, stall and max duration when those flags are absent", () => {
    const options = parseLabOptions({}, '--lab-', {backlog: 8, stallMs: 3000, maxDurationMs: 45_000})
    expect(options).toStrictEqual({...DEFAULT_OPTIONS, backlog: 8, stallMs: 3000, maxDurationMs: 45_000})
  })

  it("prefers the flags over the caller's defaults", () => {
    const options = parseLabOptions({backlog: '16', stall: '0', 'max-duration': '1m'}, '--lab-', {backlog: 8, stallMs: 3000, maxDurationMs: 45_000})
    expect(options).toMatchObject({backlog: 16, stallMs: 0, maxDurationMs: 60_000})
  })

  it('reads every flag', () => {
    const options = parseLabOptions({
      host: '::1',
      port: '9000',
      backlog: '128',
      stall: '2.5s',
      'stall-every': '5s',
      'stall-for': '300ms',
      'accept-rate': '2.5k',
      'on-accept': 'hold',
      'handler-delay': '200ms',
      'max-duration': '30s',
    })
    expect(options).toStrictEqual({
      host: '::1',
      port: 9000,
      backlog: 128,
      stallMs: 2500,
      stallEveryMs: 5000,
      stallForMs: 300,
      acceptRate: 2500,
      onAccept: 'hold',
      handlerDelayMs: 200,
      maxDurationMs: 30_000,
    })
  })

  it('accepts a zero stall and port 0, and the on-accept modes close, rst and hold', () => {
    expect(parseLabOptions({stall: '0s', port: '0'})).toMatchObject({stallMs: 0, port: 0})
    expect(['close', 'rst', 'hold'].map((mode) => parseLabOptions({'on-accept': mode}).onAccept)).toEqual(['close', 'rst', 'hold'])
  })

  describe.each([
    ['--', 'connstorm lab'],
    ['--lab-', 'connstorm storm'],
  ])('with the %s prefix (%s)', (prefix) => {
    it('names the prefixed flag in the error for a malformed value', () => {
      expectInvalidOption(() => parseLabOptions({host: 'localhost'}, prefix), `${prefix}host`, 'localhost')
      expectInvalidOption(() => parseLabOptions({port: '65536'}, prefix), `${prefix}port`, '65536')
      expectInvalidOption(() => parseLabOptions({backlog: '-1'}, prefix), `${prefix}backlog`, '-1')
      expectInvalidOption(() => parseLabOptions({stall: 'long'}, prefix), `${prefix}stall`, 'long')
      expectInvalidOption(() => parseLabOptions({'accept-rate': '0'}, prefix), `${prefix}accept-rate`, '0')
      expectInvalidOption(() => parseLabOptions({'max-duration': '0'}, prefix), `${prefix}max-duration`, '0')
      expectInvalidOption(() => parseLabOptions({'stall-every': 'x', 'stall-for': '1s'}, prefix), `${prefix}stall-every`, 'x')
      expectInvalidOption(() => parseLabOptions({'stall-every': '5s', 'stall-for': '0'}, prefix), `${prefix}stall-for`, '0')
    })

    it('lists the on-accept modes when given an unknown one', () => {
      const error = expectInvalidOption(() => parseLabOptions({'on-accept': 'drop'}, prefix), `${prefix}on-accept`, 'drop')
      expect(error.accepted).toBe('close, rst, hold, echo, banner, http')
    })

    it('refuses backlog 0 with a UsageError explaining that Node would silently listen with 511', () => {
      for (const text of ['0', '00', ' 0 ']) {
        const error = expectPlainUsageError(() => parseLabOptions({backlog: text}, prefix))
        expect(error.message.startsWith(`${prefix}backlog: 0 is not possible`)).toBe(true)
        expect(error.message).toMatch(/511/)
        expect(error.message).toContain(`use ${prefix}backlog 1`)
      }
    })

    it('refuses stall-every without stall-for, and stall-for without stall-every, naming both', () => {
      for (const flags of [{'stall-every': '5s'}, {'stall-for': '300ms'}]) {
        const error = expectPlainUsageError(() => parseLabOptions(flags, prefix))
        expect(error.message).toMatch(new RegExp(`^${prefix}stall-every and ${prefix}stall-for go together`))
      }
    })

    it('refuses a periodic stall as long as or longer than its period', () => {
      for (const flags of [
        {'stall-every': '1s', 'stall-for': '1s'},
        {'stall-every': '1s', 'stall-for': '1000ms'},
        {'stall-every': '300ms', 'stall-for': '5s'},
      ]) {
        const error = expectPlainUsageError(() => parseLabOptions(flags, prefix))
        expect(error.message).toBe(`${prefix}stall-for must be shorter than ${prefix}stall-every (the lab must accept between stalls)`)
      }
    })
  })

  it('names flags with -- when no prefix is given, and states the accepted forms', () => {
    expect(expectInvalidOption(() => parseLabOptions({host: 'localhost'}), '--host', 'localhost').accepted).toBe('an IP address to listen on, e.g. 127.0.0.1 or ::1')
    expect(expectPlainUsageError(() => parseLabOptions({'stall-every': '5s'})).message).toBe('--stall-every and --stall-for go together (e.g. --stall-every 5s --stall-for 300ms)')
  })

  it('accepts a periodic stall just shorter than its period', () => {
    expect(parseLabOptions({'stall-every': '1s', 'stall-for': '999ms'})).toMatchObject({stallEveryMs: 1000, stallForMs: 999})
  })

  it('accepts the smallest backlog, 1', () => {
    expect(parseLabOptions({backlog: '1'}).backlog).toBe(1)
  })

  it('takes a backlog that merely contains or begins with a zero as a number (only all-zero is refused)', () => {
    expect(parseLabOptions({backlog: '10'}).backlog).toBe(10)
    expect(parseLabOptions({backlog: '01'}).backlog).toBe(1)
    expect(parseLabOptions({backlog: '2147483647'}).backlog).toBe(2_147_483_647)
    expectInvalidOption(() => parseLabOptions({backlog: '2147483648'}), '--backlog', '2147483648')
  })

  it('accepts every on-accept mode, echo, banner and http included', () => {
    expect(['echo', 'banner', 'http'].map((mode) => parseLabOptions({'on-accept': mode}).onAccept)).toEqual(['echo', 'banner', 'http'])
  })

  it('reads a handler delay, zero included', () => {
    expect(parseLabOptions({'handler-delay': '0'}).handlerDelayMs).toBe(0)
    expect(parseLabOptions({'handler-delay': '15ms'}).handlerDelayMs).toBe(15)
    expectInvalidOption(() => parseLabOptions({'handler-delay': 'slow'}, '--lab-'), '--lab-handler-delay', 'slow')
  })
})

describe('pickPrefixedLabFlags', () => {
  it('takes the lab- flags given to storm, without their prefix, and nothing else', () => {
    const flags = {'lab-backlog': '4', 'lab-stall-every': '5s', 'lab-stall-for': '1s', 'lab-handler-delay': '2ms', burst: '10', 'lab-port': '9', 'lab-max-duration': '1s'}
    expect(pickPrefixedLabFlags(flags)).toStrictEqual({backlog: '4', 'stall-every': '5s', 'stall-for': '1s', 'handler-delay': '2ms'})
  })

  it('skips flags that are absent or not text (oclif gives undefined for an absent flag)', () => {
    expect(pickPrefixedLabFlags({'lab-host': undefined, 'lab-stall': 3, 'lab-on-accept': 'rst'})).toStrictEqual({'on-accept': 'rst'})
    expect(pickPrefixedLabFlags({})).toStrictEqual({})
  })

  it('knows every lab flag storm offers (the port and max duration are chosen by storm itself)', () => {
    expect(LAB_FLAG_NAMES).toEqual(['host', 'backlog', 'stall', 'stall-every', 'stall-for', 'accept-rate', 'on-accept', 'handler-delay'])
    const all = Object.fromEntries(LAB_FLAG_NAMES.map((name) => [`lab-${name}`, 'x']))
    expect(Object.keys(pickPrefixedLabFlags(all))).toEqual(['host', 'backlog', 'stall', 'stall-every', 'stall-for', 'accept-rate', 'on-accept', 'handler-delay'])
  })
})
