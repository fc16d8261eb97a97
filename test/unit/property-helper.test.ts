import fc from 'fast-check'
import {afterEach, describe, expect, it} from 'vitest'

import {DEFAULT_SEED, assertProperty, propertyRuns, propertySeed} from '../helpers/property.js'
import {thrown} from '../helpers/thrown.js'

/** The seed and run count every property file uses, and what a failure says (test/helpers/property.ts). */

const saved = {seed: process.env.CONNSTORM_PROPERTY_SEED, runs: process.env.CONNSTORM_PROPERTY_RUNS}
afterEach(() => {
  for (const [name, value] of [['CONNSTORM_PROPERTY_SEED', saved.seed], ['CONNSTORM_PROPERTY_RUNS', saved.runs]] as const) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

/** A property that fails for every n above 1000: fast-check shrinks any failure to n = 1001. */
const failing = fc.property(fc.nat({max: 1_000_000}), (n) => {
  expect(n).toBeLessThanOrEqual(1000)
})

describe('the property helper', () => {
  it('uses the fixed seed 20251125 unless CONNSTORM_PROPERTY_SEED gives an integer, and refuses anything else', () => {
    expect(DEFAULT_SEED).toBe(20_251_125)
    expect(propertySeed({})).toBe(20_251_125)
    expect(propertySeed({CONNSTORM_PROPERTY_SEED: ''})).toBe(20_251_125)
    expect(propertySeed({CONNSTORM_PROPERTY_SEED: '42'})).toBe(42)
    expect(propertySeed({CONNSTORM_PROPERTY_SEED: '-7'})).toBe(-7)
    for (const bad of ['x', '1.5', '1e3x', '4294967296']) expect(() => propertySeed({CONNSTORM_PROPERTY_SEED: bad})).toThrow(/CONNSTORM_PROPERTY_SEED/)
    expect(propertyRuns(150, {})).toBe(150)
    expect(propertyRuns(150, {CONNSTORM_PROPERTY_RUNS: '5000'})).toBe(5000)
    expect(() => propertyRuns(150, {CONNSTORM_PROPERTY_RUNS: '0'})).toThrow(/CONNSTORM_PROPERTY_RUNS/)
  })

  it('a failure names the seed it ran with, as the variable to set and in fast-check own replay line, and the shrunk counterexample', () => {
    process.env.CONNSTORM_PROPERTY_SEED = '42'
    const message = (thrown(() => assertProperty(failing, {runs: 100})) as Error).message
    expect(message.split('\n')[0]).toBe('property failed with CONNSTORM_PROPERTY_SEED=42 (100 runs); set it to replay this run')
    expect(message).toContain('{ seed: 42, path: ')
    expect(message).toContain('Counterexample: [1001]')
  })

  it('the same seed replays the same run: the same failing path, whatever ran before', () => {
    process.env.CONNSTORM_PROPERTY_SEED = '42'
    const path = (): string => /path: "([^"]*)"/.exec((thrown(() => assertProperty(failing, {runs: 100})) as Error).message)![1]!
    const first = path()
    assertProperty(fc.property(fc.string(), () => true), {runs: 50})
    expect(path()).toBe(first)
  })
})
