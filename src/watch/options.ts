import {isIP} from 'node:net'

import {InvalidOptionError} from '../errors.js'
import {parseDurationMs} from '../plan/units.js'

/** `connstorm watch`'s input, checked before anything is read. */
export interface WatchCommandOptions {
  port: number
  host?: string
  intervalMs: number
  durationMs: number
  out?: string
}

const WHAT_FORM = 'PORT or ADDRESS:PORT with a port from 1 to 65535 and an IP address, e.g. 8088, 198.18.0.2:8088 or [::1]:8088'
/** Faster than 10 ms costs CPU for nothing (a queue fills over a round trip); slower than 1 s misses whole stalls. */
const MIN_INTERVAL_MS = 10
const MAX_INTERVAL_MS = 1000
/** Always bounded: a watch forgotten in a terminal ends by itself. */
export const DEFAULT_WATCH_DURATION = '10m'

export function parseWatchTarget(text: string): {port: number; host?: string} {
  const match = /^(?:\[([^\]]+)\]:|([^:[\]\s]+):)?(\d+)$/.exec(text.trim())
  const port = match ? Number(match[3]) : Number.NaN
  if (!match || !(port >= 1 && port <= 65_535)) throw new InvalidOptionError('PORT', text, WHAT_FORM)
  const host = match[1] ?? match[2]
  if (host === undefined) return {port}
  // A listener is matched by the address it is bound to: a name would need resolving to several.
  if (isIP(host) !== (match[1] === undefined ? 4 : 6)) throw new InvalidOptionError('PORT', text, WHAT_FORM)
  return {port, host}
}

export function parseWatchOptions(target: string, flags: {interval?: string; duration?: string; out?: string}): WatchCommandOptions {
  const {port, host} = parseWatchTarget(target)
  const intervalMs = parseDurationMs('--interval', flags.interval ?? '20ms')
  if (intervalMs < MIN_INTERVAL_MS || intervalMs > MAX_INTERVAL_MS) throw new InvalidOptionError('--interval', flags.interval!, `a duration from ${MIN_INTERVAL_MS}ms to 1s, e.g. 20ms`)
  const durationMs = parseDurationMs('--duration', flags.duration ?? DEFAULT_WATCH_DURATION)
  return {port, ...(host === undefined ? {} : {host}), intervalMs, durationMs, ...(flags.out === undefined ? {} : {out: flags.out})}
}
