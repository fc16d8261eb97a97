import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {InvalidOptionError} from '../../src/errors.js'
import {type Threshold, parseThreshold} from '../../src/plan/thresholds.js'
import {parseDurationMs} from '../../src/plan/units.js'
import {assertProperty} from '../helpers/property.js'

/**
 * The --threshold and duration grammars, printed here from their documentation and parsed back.
 * Neither has a formatter in src/ that round-trips (formatMicros rounds for reading), so the
 * property is parse(print(x)) = x with print written from the grammar:
 *
 * - threshold (src/plan/thresholds.ts): `<metric> <op> <number><unit?>`, whitespace around each
 *   token, metric names in any case ('p99.9' for 'p999'), numbers plain decimals; a latency needs
 *   a unit of us, µs, μs, ms, s or m; a share is a whole count or a percentage up to 100 %; a
 *   count metric a whole number; achievedRate a number with optional k and /s.
 * - duration (--timeout, --lab-stall …): a plain decimal with us, µs, ms, s, m or h, or bare
 *   (seconds); kept as whole microseconds of a millisecond value, at most 2^31 − 1 ms (24.8 days).
 *
 * Values are generated as whole numbers of the smallest unit and printed as exact decimals by
 * moving the decimal point in the text, so the expectation is exact.
 */

/** n / 10^places, printed as an exact decimal: decimal(1234567, 3) = '1234.567', decimal(5, 3) = '0.005'. */
function decimal(n: number, places: number): string {
  if (places === 0) return String(n)
  const digits = String(n).padStart(places + 1, '0')
  return `${digits.slice(0, -places)}.${digits.slice(-places)}`
}

/** The decimal with the leading '0' dropped where the grammar allows it ('.5'), sometimes. */
const spelled = (text: string, short: boolean): string => (short && text.startsWith('0.') ? text.slice(1) : text)

const space = fc.constantFrom('', ' ', '  ', '\t')
const anyCase = (name: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), {minLength: name.length, maxLength: name.length}).map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''))
const operator = fc.constantFrom('<', '<=', '>', '>=', '==', '!=') as fc.Arbitrary<Threshold['operator']>

interface Printed {
  text: string
  expected: Omit<Threshold, 'expr'>
}

const LATENCY_NAMES: readonly [written: string, canonical: string][] = [
  ...['min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'].flatMap((key): [string, string][] => [[key, key], [`actual.${key}`, `actual.${key}`]]),
  ['p99.9', 'p999'],
  ['actual.p99.9', 'actual.p999'],
]
const SHARE_NAMES = ['connected', 'timeout', 'refused', 'reset', 'addrNotAvail', 'fileLimit', 'unreachable', 'other', 'failed', 'betweenSteps', 'lateStarts']
const COUNT_NAMES = ['synRetransmits', 'pending', 'listenOverflows']

/** A latency limit: µs as a whole number, printed in a unit where it is an exact decimal. */
const latencyLimit: fc.Arbitrary<{text: string; value: number}> = fc.oneof(
  fc.tuple(fc.nat({max: 1_000_000_000}), fc.constantFrom('us', 'µs', 'μs')).map(([us, unit]) => ({text: `${us}${unit}`, value: us})),
  fc.tuple(fc.nat({max: 1_000_000_000}), fc.boolean()).map(([us, short]) => ({text: `${spelled(decimal(us, 3), short)}ms`, value: us})),
  fc.tuple(fc.nat({max: 1_000_000_000}), fc.boolean()).map(([us, short]) => ({text: `${spelled(decimal(us, 6), short)}s`, value: us})),
  // Thousandths of a minute: 60 000 µs each, exact.
  fc.nat({max: 100_000}).map((milli) => ({text: `${decimal(milli, 3)}m`, value: milli * 60_000})),
)

const printedThreshold: fc.Arbitrary<Printed> = fc.oneof(
  fc.record({name: fc.constantFrom(...LATENCY_NAMES), limit: latencyLimit}).map(({name: [written, metric], limit}) => ({
    parts: [written, limit.text],
    expected: {metric, value: limit.value, unit: 'us' as const},
  })),
  fc.record({name: fc.constantFrom(...SHARE_NAMES), count: fc.nat({max: 10_000_000})}).map(({name, count}) => ({
    parts: [name, String(count)],
    expected: {metric: name, value: count, unit: 'count' as const},
  })),
  // A share in thousandths of a percent, up to 100 %.
  fc.record({name: fc.constantFrom(...SHARE_NAMES), milli: fc.nat({max: 100_000}), gap: space}).map(({name, milli, gap}) => ({
    parts: [name, `${decimal(milli, 3)}${gap}%`],
    expected: {metric: name, value: milli / 1000, unit: 'percent' as const},
  })),
  fc.record({name: fc.constantFrom(...COUNT_NAMES), count: fc.nat({max: 10_000_000})}).map(({name, count}) => ({
    parts: [name, String(count)],
    expected: {metric: name, value: count, unit: 'count' as const},
  })),
  // A rate in thousandths per second, with or without k and /s.
  fc.record({milli: fc.nat({max: 100_000_000}), k: fc.constantFrom('', 'k', 'K', ' k'), per: fc.constantFrom('', '/s', ' / s', '/S')}).map(({milli, k, per}) => ({
    parts: ['achievedRate', `${decimal(milli, 3)}${k}${per}`],
    expected: {metric: 'achievedRate', value: k === '' ? milli / 1000 : milli, unit: 'per-second' as const},
  })),
).chain(({parts: [name, limit], expected}) =>
  fc.record({written: anyCase(name!), op: operator, spaces: fc.array(space, {minLength: 4, maxLength: 4})}).map(({written, op, spaces: [a, b, c, d]}) => ({
    text: `${a}${written}${b}${op}${c}${limit}${d}`,
    expected: {...expected, operator: op},
  })),
)

/** Strings near the grammars: their tokens in any order and number, with junk between. */
const nearThreshold = fc
  .array(fc.oneof(fc.constantFrom('p99', 'P99.9', 'actual.', 'connected', 'synRetransmits', 'achievedRate', 'timeout', '<', '<=', '==', '=', '!', '>', '%', 'ms', 'µs', 's', 'm', 'k', '/s', '.', '-', '1e3', '0', '7', '100', '101', ' ', '\n', '\u0000'), fc.string({maxLength: 3})), {maxLength: 8})
  .map((tokens) => tokens.join(''))
const nearDuration = fc
  .array(fc.oneof(fc.constantFrom('0', '1', '9', '.', '5', 'us', 'µs', 'μs', 'ms', 's', 'm', 'h', ' ', '-', 'e', '+', '2147483', '999999999', 'Infinity', 'NaN'), fc.string({maxLength: 2})), {maxLength: 7})
  .map((tokens) => tokens.join(''))
const anyString = fc.oneof(fc.string({maxLength: 40}), fc.string({unit: 'binary', maxLength: 20}))

/** What `parse` does with `text`: the value, or the error it threw. */
function outcome<T>(parse: () => T): {value: T} | {error: unknown} {
  try {
    return {value: parse()}
  } catch (error) {
    return {error}
  }
}

describe('the --threshold grammar (src/plan/thresholds.ts)', () => {
  it('parses back every expression printed from the documented grammar, to the canonical metric, operator, value and unit', () => {
    assertProperty(
      fc.property(printedThreshold, ({text, expected}) => {
        expect(parseThreshold(text)).toEqual({expr: text.trim(), ...expected})
      }),
      {runs: 1000},
    )
  })

  it('on any string either parses or throws InvalidOptionError naming --threshold on one line, never anything else', () => {
    assertProperty(
      fc.property(fc.oneof(anyString, nearThreshold), (text) => {
        const result = outcome(() => parseThreshold(text))
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(InvalidOptionError)
          const message = (result.error as Error).message
          expect(message.startsWith('--threshold: invalid value ')).toBe(true)
          expect(message).not.toMatch(/[\n\r]/)
        } else {
          // A parsed limit is a finite non-negative number.
          expect(Number.isFinite(result.value.value) && result.value.value >= 0).toBe(true)
        }
      }),
      {runs: 1500},
    )
  })
})

/** A duration: whole µs printed in a unit where they are an exact decimal, ms = µs / 1000. */
const printedDuration: fc.Arbitrary<{text: string; ms: number}> = fc
  .oneof(
    fc.tuple(fc.nat({max: 2 ** 42}), fc.constantFrom('us', 'µs')).map(([us, unit]) => ({number: String(us), unit, us})),
    fc.tuple(fc.nat({max: 2 ** 42}), fc.boolean()).map(([us, short]) => ({number: spelled(decimal(us, 3), short), unit: 'ms', us})),
    fc.tuple(fc.nat({max: 2 ** 42}), fc.boolean(), fc.constantFrom('s', '')).map(([us, short, unit]) => ({number: spelled(decimal(us, 6), short), unit, us})),
    // Thousandths of a minute (60 000 µs) and of an hour (3 600 000 µs): exact.
    fc.nat({max: 40_000_000}).map((milli) => ({number: decimal(milli, 3), unit: 'm', us: milli * 60_000})),
    fc.nat({max: 700_000}).map((milli) => ({number: decimal(milli, 3), unit: 'h', us: milli * 3_600_000})),
    // Within 2 s of the timer limit, where a wrong bound shows.
    fc.integer({min: -2_000_000, max: 2_000_000}).map((offset) => ({number: decimal(2_147_483_647_000 + offset, 3), unit: 'ms', us: 2_147_483_647_000 + offset})),
  )
  .chain(({number, unit, us}) =>
    fc.tuple(space, space, space).map(([a, b, c]) => ({text: `${a}${number}${b}${unit}${c}`, ms: us / 1000})),
  )

describe('the duration grammar (src/plan/units.ts parseDurationMs)', () => {
  it('parses back every duration printed from the grammar up to 2^31 − 1 ms, and refuses longer ones and zero with InvalidOptionError', () => {
    assertProperty(
      fc.property(printedDuration, fc.boolean(), ({text, ms}, allowZero) => {
        const result = outcome(() => parseDurationMs('--timeout', text, {allowZero}))
        if (ms > 2_147_483_647 || (ms === 0 && !allowZero)) expect('error' in result && result.error instanceof InvalidOptionError).toBe(true)
        else expect(result).toEqual({value: ms})
      }),
      {runs: 1000},
    )
  })

  it('on any string either gives a duration from 0 to 2^31 − 1 ms or throws InvalidOptionError naming the option, never anything else', () => {
    assertProperty(
      fc.property(fc.oneof(anyString, nearDuration), fc.boolean(), (text, allowZero) => {
        const result = outcome(() => parseDurationMs('--timeout', text, {allowZero}))
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(InvalidOptionError)
          expect((result.error as Error).message.startsWith('--timeout: invalid value ')).toBe(true)
        } else {
          expect(Number.isFinite(result.value) && result.value >= (allowZero ? 0 : 0.001) && result.value <= 2_147_483_647).toBe(true)
        }
      }),
      {runs: 1500},
    )
  })
})
