import {describe, expect, it} from 'vitest'

import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {DEADLINE_SLACK_MS, DEFAULT_BURST, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS, type PlanFlags, buildPlan, intendedOffsetMs, scheduleSpanMs} from '../../src/plan/plan.js'
import {thrown} from '../helpers/thrown.js'


/** A plain UsageError (a combination of flags that does not make sense), not a malformed value. */
function expectPlainUsageError(flags: PlanFlags, message: RegExp): UsageError {
  const error = thrown(() => buildPlan(flags))
  expect(error).toBeInstanceOf(UsageError)
  expect(error).not.toBeInstanceOf(InvalidOptionError)
  expect((error as UsageError).message).toMatch(message)
  return error as UsageError
}

function expectInvalidOption(flags: PlanFlags, option: string, value: string): InvalidOptionError {
  const error = thrown(() => buildPlan(flags))
  expect(error).toBeInstanceOf(InvalidOptionError)
  expect((error as InvalidOptionError).option).toBe(option)
  expect((error as InvalidOptionError).value).toBe(value)
  expect((error as InvalidOptionError).message).toMatch(new RegExp(`^${option}: `))
  return error as InvalidOptionError
}

describe('buildPlan defaults', () => {
  it('defaults to one burst of 100 connects, 10 000 in flight, 15 s timeout, RST close, deadline timeout + 5 s', () => {
    expect(buildPlan({})).toStrictEqual({
      mode: 'burst',
      connects: 100,
      burst: 100,
      concurrency: 10_000,
      timeoutMs: 15_000,
      close: 'rst',
      maxDurationMs: 20_000,
    })
    expect([DEFAULT_BURST, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS, DEADLINE_SLACK_MS]).toEqual([100, 10_000, 15_000, 5000])
  })

  it('makes a burst of the given size', () => {
    expect(buildPlan({burst: '20'})).toMatchObject({mode: 'burst', connects: 20, burst: 20})
  })

  it('takes timeout, concurrency and close as given', () => {
    expect(buildPlan({timeout: '2s', concurrency: '50', close: 'hold'})).toMatchObject({timeoutMs: 2000, concurrency: 50, close: 'hold', maxDurationMs: 7000})
    expect(buildPlan({close: 'fin'}).close).toBe('fin')
  })

  it('uses --max-duration instead of the natural deadline when given', () => {
    expect(buildPlan({'max-duration': '1m'}).maxDurationMs).toBe(60_000)
    expect(buildPlan({rate: '100', duration: '10s', 'max-duration': '3s'}).maxDurationMs).toBe(3000)
  })
})

describe('buildPlan rate mode', () => {
  it('starts rate × duration connects, open loop', () => {
    expect(buildPlan({rate: '2000', duration: '10s'})).toStrictEqual({
      mode: 'rate',
      connects: 20_000,
      rate: 2000,
      durationMs: 10_000,
      concurrency: 10_000,
      timeoutMs: 15_000,
      close: 'rst',
      maxDurationMs: 10_000 + 15_000 + 5000,
    })
  })

  it('rounds the connect count to the nearest whole connect', () => {
    expect(buildPlan({rate: '2.5k', duration: '1.5s'}).connects).toBe(3750)
    expect(buildPlan({rate: '3', duration: '500ms'}).connects).toBe(2)
  })

  it('refuses a rate and duration that start no connect', () => {
    expectPlainUsageError({rate: '1', duration: '100ms'}, /^--rate: 1\/s for 100ms starts no connect/)
  })

  it('needs --duration with --rate, and --rate with --duration', () => {
    expectPlainUsageError({rate: '2000'}, /^--rate: needs --duration/)
    expectPlainUsageError({duration: '10s'}, /^--duration: only applies with --rate/)
  })

  it.each<PlanFlags>([
    {rate: '100', duration: '1s', burst: '10'},
    {rate: '100', duration: '1s', waves: '3'},
    {rate: '100', duration: '1s', interval: '1s'},
  ])('refuses --rate combined with a burst or waves flag (%o)', (flags) => {
    expectPlainUsageError(flags, /^--rate: cannot be combined with --burst, --waves or --interval/)
  })

  it('names the flag whose value is malformed', () => {
    expectInvalidOption({rate: 'fast', duration: '1s'}, '--rate', 'fast')
    expectInvalidOption({rate: '100', duration: '0s'}, '--duration', '0s')
  })
})

describe('buildPlan waves mode', () => {
  it('repeats the burst once per wave, interval apart', () => {
    expect(buildPlan({waves: '5', burst: '200', interval: '2s'})).toStrictEqual({
      mode: 'waves',
      connects: 1000,
      burst: 200,
      waves: 5,
      intervalMs: 2000,
      concurrency: 10_000,
      timeoutMs: 15_000,
      close: 'rst',
      maxDurationMs: 4 * 2000 + 15_000 + 5000,
    })
  })

  it('uses the default burst size for each wave when --burst is absent', () => {
    expect(buildPlan({waves: '3', interval: '1s'})).toMatchObject({mode: 'waves', connects: 300, burst: 100})
  })

  it('needs --interval with --waves, and --waves with --interval', () => {
    expectPlainUsageError({waves: '5'}, /^--waves: needs --interval/)
    expectPlainUsageError({interval: '2s'}, /^--interval: only applies with --waves/)
  })

  it('names the flag whose value is malformed', () => {
    expectInvalidOption({waves: '0', interval: '1s'}, '--waves', '0')
    expectInvalidOption({waves: '2', interval: 'soon'}, '--interval', 'soon')
  })
})

describe('buildPlan malformed common flags', () => {
  it.each<[PlanFlags, string, string]>([
    [{burst: '0'}, '--burst', '0'],
    [{burst: '1e3'}, '--burst', '1e3'],
    [{concurrency: 'many'}, '--concurrency', 'many'],
    [{concurrency: '0'}, '--concurrency', '0'],
    [{timeout: '0'}, '--timeout', '0'],
    [{timeout: '-2s'}, '--timeout', '-2s'],
    [{'max-duration': 'forever'}, '--max-duration', 'forever'],
  ])('refuses %o with an InvalidOptionError for %s', (flags, option, value) => {
    expectInvalidOption(flags, option, value)
  })

  it('refuses an unknown close mode and lists the known ones', () => {
    const error = expectInvalidOption({close: 'rest'}, '--close', 'rest')
    expect(error.accepted).toBe('rst, fin, hold')
  })
})

describe('scheduleSpanMs', () => {
  it('is 0 for a burst', () => {
    expect(scheduleSpanMs({mode: 'burst', connects: 100, burst: 100})).toBe(0)
  })

  it('is the duration for a rate run', () => {
    expect(scheduleSpanMs({mode: 'rate', connects: 20_000, rate: 2000, durationMs: 10_000})).toBe(10_000)
  })

  it('is (waves − 1) intervals for waves', () => {
    expect(scheduleSpanMs({mode: 'waves', connects: 1000, burst: 200, waves: 5, intervalMs: 2000})).toBe(8000)
    expect(scheduleSpanMs({mode: 'waves', connects: 200, burst: 200, waves: 1, intervalMs: 2000})).toBe(0)
  })
})

describe('intendedOffsetMs', () => {
  it('starts every connect of a burst at once', () => {
    const plan = {mode: 'burst', burst: 100} as const
    expect([0, 1, 50, 99].map((index) => intendedOffsetMs(plan, index))).toEqual([0, 0, 0, 0])
  })

  it('spaces rate-mode starts evenly at 1/rate', () => {
    const plan = {mode: 'rate', rate: 2000} as const
    expect([0, 1, 2, 2000, 19_999].map((index) => intendedOffsetMs(plan, index))).toEqual([0, 0.5, 1, 1000, 9999.5])
  })

  it('starts wave n at n × interval, the whole burst together', () => {
    const plan = {mode: 'waves', burst: 200, intervalMs: 2000} as const
    expect([0, 199, 200, 399, 400, 999].map((index) => intendedOffsetMs(plan, index))).toEqual([0, 0, 2000, 2000, 4000, 8000])
  })

  it('agrees with the plan buildPlan makes: the last start of a waves run is at scheduleSpanMs', () => {
    const plan = buildPlan({waves: '4', burst: '3', interval: '250ms'})
    expect(intendedOffsetMs(plan, plan.connects - 1)).toBe(scheduleSpanMs(plan))
    expect(intendedOffsetMs(plan, plan.connects - 1)).toBe(750)
  })
})
