import {describe, expect, it, vi} from 'vitest'

import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {
  DEADLINE_SLACK_MS,
  DEFAULT_BURST,
  DEFAULT_CONCURRENCY,
  DEFAULT_TIMEOUT_MS,
  MAX_START_DELAY_MS,
  type PlanFlags,
  buildPlan,
  globalIndex,
  intendedOffsetMs,
  scheduleSpanMs,
} from '../../src/plan/plan.js'
import {thrown} from '../helpers/thrown.js'

// --workers auto asks the machine how many threads it can run; a fixed answer keeps the test
// independent of the machine it runs on. Everything else of node:os stays real.
vi.mock('node:os', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:os')>()
  return {...real, availableParallelism: () => 6}
})


/** A plain UsageError (a combination of flags that does not make sense), not a malformed value. */
function expectPlainUsageError(flags: PlanFlags, message: RegExp | string, now?: number): UsageError {
  const error = thrown(() => buildPlan(flags, now))
  expect(error).toBeInstanceOf(UsageError)
  expect(error).not.toBeInstanceOf(InvalidOptionError)
  if (typeof message === 'string') expect((error as UsageError).message).toBe(message)
  else expect((error as UsageError).message).toMatch(message)
  return error as UsageError
}

function expectInvalidOption(flags: PlanFlags, option: string, value: string, now?: number): InvalidOptionError {
  const error = thrown(() => buildPlan(flags, now))
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

describe('buildPlan --rate boundary', () => {
  it('accepts a rate and duration that start exactly one connect', () => {
    expect(buildPlan({rate: '1', duration: '1s'}).connects).toBe(1)
  })
})

describe('buildPlan --workers', () => {
  it('leaves workers out of the plan for 1 (the storm runs on the main thread), the default', () => {
    expect(buildPlan({})).not.toHaveProperty('workers')
    expect(buildPlan({workers: '1'})).not.toHaveProperty('workers')
  })

  it('takes 2 to 64 threads as given', () => {
    expect(buildPlan({workers: '2'}).workers).toBe(2)
    expect(buildPlan({workers: '64'}).workers).toBe(64)
  })

  it('takes "auto" as the number of threads the machine can run (6 on the mocked machine)', () => {
    expect(buildPlan({workers: 'auto'}).workers).toBe(6)
  })

  it.each(['0', '65', 'Auto', 'two'])('refuses --workers %s, naming the flag', (text) => {
    expectInvalidOption({workers: text}, '--workers', text)
  })

  it('states the allowed range 1 to 64', () => {
    expect(expectInvalidOption({workers: '65'}, '--workers', '65').accepted).toBe('a whole number from 1 to 64')
  })
})

describe('buildPlan --shard i/n', () => {
  const SHARD_FORM = 'i/n with 1 ≤ i ≤ n ≤ 1000, e.g. 2/3 (this run fires every n-th connect, starting with the i-th)'

  it.each<[string, number]>([
    // 10 connects numbered 0..9; shard i/3 fires those j with j mod 3 = i − 1
    ['1/3', 4], // 0, 3, 6, 9
    ['2/3', 3], // 1, 4, 7
    ['3/3', 3], // 2, 5, 8
    ['1/1', 10],
    ['10/12', 1], // 9 only
  ])('shard %s of a 10-connect burst fires %d connects', (text, connects) => {
    const plan = buildPlan({burst: '10', shard: text})
    expect(plan.connects).toBe(connects)
    expect(plan.burst).toBe(10)
  })

  it('records which shard this is and the whole plan\'s connect count', () => {
    expect(buildPlan({burst: '10', shard: '2/3'}).shard).toStrictEqual({index: 2, count: 3, totalConnects: 10})
    expect(buildPlan({burst: '10'})).not.toHaveProperty('shard')
  })

  it('reads numbers of several digits and tolerates surrounding spaces', () => {
    expect(buildPlan({burst: '100', shard: ' 12/34 '}).shard).toStrictEqual({index: 12, count: 34, totalConnects: 100})
    expect(buildPlan({burst: '2000', shard: '1000/1000'}).shard).toStrictEqual({index: 1000, count: 1000, totalConnects: 2000})
  })

  it.each(['0/3', '4/3', '1/1001', '2', '2/', '/3', 'a2/3', '2/3x', '2/3/4', '-1/3', '1.5/3', 'two/three', ''])(
    'refuses --shard %s with the accepted form',
    (text) => {
      expect(expectInvalidOption({burst: '10', shard: text}, '--shard', text).accepted).toBe(SHARD_FORM)
    },
  )

  it('refuses a shard whose first connect is past the end of the plan', () => {
    expectPlainUsageError({burst: '10', shard: '11/12'}, '--shard: shard 11 of 12 gets no connect out of 10; use fewer shards or more connects')
  })

  it('numbers a shard\'s connects as the whole plan does, so rate-mode starts interleave', () => {
    // shard 2/3 of a 1000/s run: its connects 0, 1, 2 are the plan's 1, 4, 7, due at 1, 4 and 7 ms
    const plan = buildPlan({rate: '1000', duration: '1s', shard: '2/3'})
    expect([0, 1, 2].map((index) => globalIndex(plan, index))).toEqual([1, 4, 7])
    expect([0, 1, 2].map((index) => intendedOffsetMs(plan, index))).toEqual([1, 4, 7])
    expect(globalIndex({}, 5)).toBe(5)
  })
})

describe('buildPlan --start-at', () => {
  const now = Date.parse('2026-11-25T16:00:00.000Z')

  it('leaves startAt out of the plan when not given', () => {
    expect(buildPlan({}, now)).not.toHaveProperty('startAt')
  })

  it('takes +D as that long from now, +0s included', () => {
    expect(buildPlan({'start-at': '+5s'}, now).startAt).toBe(now + 5000)
    expect(buildPlan({'start-at': '+0s'}, now).startAt).toBe(now)
  })

  it('takes an ISO-8601 instant', () => {
    expect(buildPlan({'start-at': '2026-11-25T16:00:30.000Z'}, now).startAt).toBe(now + 30_000)
  })

  it.each(['soon', '5s', 'tomorrow'])('refuses --start-at %s, naming both accepted forms', (text) => {
    expect(expectInvalidOption({'start-at': text}, '--start-at', text, now).accepted).toBe('an ISO-8601 instant (2026-11-25T16:00:00.000Z) or +D (e.g. +5s)')
  })

  it('refuses a malformed +D as a malformed duration', () => {
    expectInvalidOption({'start-at': '+soon'}, '--start-at', 'soon', now)
  })

  it('accepts an instant up to one minute in the past (a late shard still runs) and refuses one earlier', () => {
    expect(buildPlan({'start-at': '2026-11-25T15:59:00.000Z'}, now).startAt).toBe(now - 60_000)
    expectPlainUsageError({'start-at': '2026-11-25T15:58:59.999Z'}, '--start-at: 2026-11-25T15:58:59.999Z is in the past', now)
  })

  it('accepts an instant up to one hour ahead and refuses one later', () => {
    expect(MAX_START_DELAY_MS).toBe(3_600_000)
    expect(buildPlan({'start-at': '+1h'}, now).startAt).toBe(now + 3_600_000)
    expectPlainUsageError({'start-at': '+3600.001s'}, '--start-at: +3600.001s is more than an hour away; runs stay bounded in time', now)
  })
})

describe('buildPlan --source', () => {
  it('binds connects to the listed local addresses, in turn', () => {
    expect(buildPlan({source: '127.0.0.1-127.0.0.3'}).sources).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3'])
    expect(buildPlan({})).not.toHaveProperty('sources')
  })

  it('refuses an address of another machine', () => {
    expectPlainUsageError({source: '192.0.2.7'}, /^--source: 192\.0\.2\.7 is not an address of this machine/)
  })
})
