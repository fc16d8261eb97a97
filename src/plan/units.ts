import {InvalidOptionError} from '../errors.js'

/** Microseconds per duration unit: the one table that every duration parser and printer uses. */
export const MICROS_PER_UNIT: Readonly<Record<string, number>> = {us: 1, µs: 1, μs: 1, ms: 1000, s: 1_000_000, m: 60_000_000, h: 3_600_000_000}
const MAX_TIMER_MS = 2_147_483_647
/** The largest rate any rate flag takes (the result schema's maximum too). */
export const MAX_RATE_PER_SECOND = 1_000_000_000
const DURATION_FORM = 'a duration like 250ms, 1.5s, 2m (a bare number means seconds)'

/** Parses "1.5s", "250ms", "2m", "15" (seconds) into milliseconds. Rejects negatives, NaN, junk. */
export function parseDurationMs(option: string, text: string, {allowZero = false} = {}): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|μs|ms|s|m|h)?\s*$/.exec(text)
  if (!match) throw new InvalidOptionError(option, text, DURATION_FORM)
  // Whole microseconds: no timer here is finer, and it keeps durations exact when passed on as text.
  const ms = Math.round(Number(match[1]) * (MICROS_PER_UNIT[match[2] ?? 's']! / 1000) * 1000) / 1000
  // Node timers cannot wait longer than 2^31−1 ms (~24.8 days); a longer one would fire at once.
  if (ms > MAX_TIMER_MS) throw new InvalidOptionError(option, text, 'a duration of at most 24 days (the longest timer Node can set)')
  // The regex admits no NaN, and an infinite value is past the timer limit above: only zero is left to refuse.
  if (ms === 0 && !allowZero) throw new InvalidOptionError(option, text, 'a positive duration like 250ms, 1.5s, 2m')
  return ms
}

/** Parses a whole count ≥ min (default 1). "1e3" and "1_000" are refused so that typos do not pass. */
export function parseCount(option: string, text: string, {min = 1, max = Number.MAX_SAFE_INTEGER} = {}): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new InvalidOptionError(option, text, `a whole number ≥ ${min}`)
  const n = Number(text)
  if (n < min || n > max) throw new InvalidOptionError(option, text, `a whole number from ${min} to ${max}`)
  return n
}

/** Parses a positive rate per second ("2000", "2000/s", "2.5k"). */
export function parseRatePerSecond(option: string, text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(k)?\s*(\/s)?\s*$/i.exec(text)
  const rate = match ? Number(match[1]) * (match[2] ? 1000 : 1) : Number.NaN
  if (!(rate > 0) || !Number.isFinite(rate)) throw new InvalidOptionError(option, text, 'a positive rate per second like 2000 or 2.5k')
  // No machine starts a billion connects a second; above it, products with durations lose meaning.
  if (rate > MAX_RATE_PER_SECOND) throw new InvalidOptionError(option, text, 'a rate of at most 1e9 per second')
  return rate
}

/** "1.03 s", "250 ms", "87 µs": short human form of a duration given in microseconds. */
export function formatMicros(us: number): string {
  if (!Number.isFinite(us)) return '—'
  // Thresholds are where rounding would print "1000" in the smaller unit.
  if (us >= 9_995_000) return `${(us / 1e6).toFixed(1)} s`
  if (us >= 999_500) return `${(us / 1e6).toFixed(2)} s`
  if (us >= 9995) return `${(us / 1000).toFixed(0)} ms`
  if (us >= 999.5) return `${(us / 1000).toFixed(1)} ms`
  return `${Math.round(us)} µs`
}

export function formatMs(ms: number): string {
  return formatMicros(ms * 1000)
}
