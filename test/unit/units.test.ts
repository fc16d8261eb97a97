import {describe, expect, it} from 'vitest'

import {InvalidOptionError} from '../../src/errors.js'
import {formatMicros, formatMs, parseCount, parseDurationMs, parseRatePerSecond} from '../../src/plan/units.js'
import {thrown} from '../helpers/thrown.js'

/** Runs `fn`, which must throw, and returns what it threw. */

function expectInvalidOption(fn: () => unknown, option: string, value: string): InvalidOptionError {
  const error = thrown(fn)
  expect(error).toBeInstanceOf(InvalidOptionError)
  const invalid = error as InvalidOptionError
  expect(invalid.option).toBe(option)
  expect(invalid.value).toBe(value)
  expect(invalid.message.startsWith(`${option}: invalid value '${value}': expected `)).toBe(true)
  expect(invalid.exitCode).toBe(2)
  return invalid
}

describe('parseDurationMs', () => {
  it.each([
    ['250ms', 250],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['500us', 0.5],
    ['500µs', 0.5],
    ['500μs', 0.5], // the Greek mu (U+03BC), as --threshold takes it
    ['.5s', 500],
    ['.25s', 250], // a leading-dot fraction of several digits
    ['0.25m', 15_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDurationMs('--timeout', text)).toBe(ms)
  })

  it('reads a bare number as seconds', () => {
    expect(parseDurationMs('--timeout', '15')).toBe(15_000)
    expect(parseDurationMs('--timeout', '0.1')).toBe(100)
  })

  it('tolerates spaces around the number and between number and unit', () => {
    expect(parseDurationMs('--timeout', ' 2s ')).toBe(2000)
    expect(parseDurationMs('--timeout', '3 ms')).toBe(3)
  })

  it.each(['-1s', 'abc', '', '1e3', '1_000ms', '1.5.2s', '10 sec', '5d', 's', 'NaN', 'Infinity', '1,5s'])(
    "refuses '%s' with an InvalidOptionError naming the flag and the accepted form",
    (text) => {
      const error = expectInvalidOption(() => parseDurationMs('--interval', text), '--interval', text)
      expect(error.accepted).toMatch(/duration like 250ms, 1\.5s, 2m/)
    },
  )

  it('refuses zero unless allowZero is set', () => {
    const error = expectInvalidOption(() => parseDurationMs('--timeout', '0'), '--timeout', '0')
    expect(error.accepted).toMatch(/^a positive duration/)
    expectInvalidOption(() => parseDurationMs('--timeout', '0ms'), '--timeout', '0ms')
    expect(parseDurationMs('--stall', '0', {allowZero: true})).toBe(0)
    expect(parseDurationMs('--stall', '0ms', {allowZero: true})).toBe(0)
  })

  it('refuses durations past the longest timer Node can set (2^31−1 ms), which would otherwise fire at once', () => {
    const huge = '9'.repeat(400)
    expect(expectInvalidOption(() => parseDurationMs('--timeout', huge), '--timeout', huge).accepted).toMatch(/at most 24 days/)
    expect(expectInvalidOption(() => parseDurationMs('--max-duration', '600h'), '--max-duration', '600h').accepted).toMatch(/at most 24 days/)
    expect(parseDurationMs('--max-duration', '2147483647ms')).toBe(2_147_483_647)
  })
})

describe('parseCount', () => {
  it('reads whole numbers, with surrounding spaces', () => {
    expect(parseCount('--burst', '1')).toBe(1)
    expect(parseCount('--burst', '200')).toBe(200)
    expect(parseCount('--burst', ' 7 ')).toBe(7)
  })

  it.each(['1e3', '1_000', '1,000', '1.5', '-1', '+3', '0x10', 'ten', ''])("refuses '%s' so that typos do not pass", (text) => {
    const error = expectInvalidOption(() => parseCount('--burst', text), '--burst', text)
    expect(error.accepted).toBe('a whole number ≥ 1')
  })

  it('refuses a count below the minimum, stating the allowed range', () => {
    const error = expectInvalidOption(() => parseCount('--burst', '0'), '--burst', '0')
    expect(error.accepted).toBe(`a whole number from 1 to ${Number.MAX_SAFE_INTEGER}`)
  })

  it('honours a custom minimum and maximum', () => {
    expect(parseCount('--port', '0', {min: 0, max: 65_535})).toBe(0)
    expect(parseCount('--port', '65535', {min: 0, max: 65_535})).toBe(65_535)
    const error = expectInvalidOption(() => parseCount('--port', '65536', {min: 0, max: 65_535}), '--port', '65536')
    expect(error.accepted).toBe('a whole number from 0 to 65535')
  })

  it('refuses a count beyond the largest safe integer by default', () => {
    expectInvalidOption(() => parseCount('--burst', '99999999999999999999'), '--burst', '99999999999999999999')
  })
})

describe('parseRatePerSecond', () => {
  it.each([
    ['2000', 2000],
    ['2000/s', 2000],
    ['2.5k', 2500],
    ['2.5K', 2500],
    ['3k/s', 3000],
    ['0.5', 0.5],
    ['2.25k', 2250],
    ['0.0000001', 0.0000001],
    [' 40 /s ', 40],
    ['1000000000', 1_000_000_000],
  ])('reads %s as %d per second', (text, rate) => {
    expect(parseRatePerSecond('--rate', text)).toBe(rate)
  })

  it.each(['0', '0k', '0/s', '-5', 'fast', '', '2000/m', '2M', '1e3'])("refuses '%s' with an InvalidOptionError naming the flag", (text) => {
    const error = expectInvalidOption(() => parseRatePerSecond('--rate', text), '--rate', text)
    expect(error.accepted).toBe('a positive rate per second like 2000 or 2.5k')
  })

  it('refuses a rate above a billion per second (the result schema stops there too)', () => {
    const error = expectInvalidOption(() => parseRatePerSecond('--rate', '1000000001'), '--rate', '1000000001')
    expect(error.accepted).toBe('a rate of at most 1e9 per second')
  })
})

describe('formatMicros', () => {
  it.each([
    [0, '0 µs'],
    [87, '87 µs'],
    [87.4, '87 µs'],
    [999, '999 µs'],
    // each threshold itself already prints in the larger unit (it would round to 1000 in the smaller one)
    [999.5, '1.0 ms'],
    [9995, '10 ms'],
    [999_500, '1.00 s'],
    [9_995_000, '10.0 s'],
    [1000, '1.0 ms'],
    [1500, '1.5 ms'],
    [9940, '9.9 ms'],
    [10_000, '10 ms'],
    [250_000, '250 ms'],
    [1_000_000, '1.00 s'],
    [1_030_000, '1.03 s'],
    [2_050_000, '2.05 s'],
    [10_000_000, '10.0 s'],
    [134_000_000, '134.0 s'],
  ])('writes %d µs as "%s"', (us, text) => {
    expect(formatMicros(us)).toBe(text)
  })

  it('writes a dash for a value that is not finite', () => {
    expect(formatMicros(Number.NaN)).toBe('—')
    expect(formatMicros(Number.POSITIVE_INFINITY)).toBe('—')
  })

  it('formats milliseconds through the same rules (formatMs)', () => {
    expect(formatMs(15_000)).toBe('15.0 s')
    expect(formatMs(250)).toBe('250 ms')
    expect(formatMs(0.087)).toBe('87 µs')
  })
})
