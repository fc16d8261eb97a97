import {isIP} from 'node:net'

import {InvalidOptionError, UsageError} from '../errors.js'
import {parseCount, parseDurationMs, parseRatePerSecond} from './units.js'

export const ON_ACCEPT_MODES = ['close', 'rst', 'hold', 'echo', 'banner', 'http'] as const
export type OnAccept = (typeof ON_ACCEPT_MODES)[number]

/** How the misbehaving target behaves; every field is a stated input that the report repeats. */
export interface LabOptions {
  host: string
  port: number
  backlog: number
  /** accept nothing for this long after listen() */
  stallMs: number
  /** periodic stalls (GC-pause style): every stallEveryMs, accept nothing for stallForMs */
  stallEveryMs: number | null
  stallForMs: number | null
  /** at most this many accept()s per second */
  acceptRate: number | null
  onAccept: OnAccept
  /** time the application spends on each connection, blocking further accepts (docs/kernel.md §7) */
  handlerDelayMs: number
  /** the lab always exits by itself after this long */
  maxDurationMs: number
}

/** Raw flag text as typed; `prefix` is "--" for `connstorm lab` and "--lab-" on `storm`. */
export interface LabFlags {
  host?: string
  port?: string
  backlog?: string
  stall?: string
  'stall-every'?: string
  'stall-for'?: string
  'accept-rate'?: string
  'on-accept'?: string
  'handler-delay'?: string
  'max-duration'?: string
}

export const LAB_DEFAULTS = {host: '127.0.0.1', port: 0, backlog: 511, stallMs: 0, onAccept: 'close', maxDurationMs: 600_000} as const

export function parseLabOptions(
  flags: LabFlags,
  prefix = '--',
  defaults: Partial<Pick<LabOptions, 'backlog' | 'stallMs' | 'maxDurationMs'>> = {},
): LabOptions {
  const name = (flag: keyof LabFlags): string => `${prefix}${flag}`
  const host = flags.host ?? LAB_DEFAULTS.host
  if (isIP(host) === 0) throw new InvalidOptionError(name('host'), host, 'an IP address to listen on, e.g. 127.0.0.1 or ::1')
  const port = flags.port === undefined ? LAB_DEFAULTS.port : parseCount(name('port'), flags.port, {min: 0, max: 65_535})
  const backlog = parseBacklog(name('backlog'), flags.backlog, defaults.backlog ?? LAB_DEFAULTS.backlog)
  const stallMs = flags.stall === undefined ? (defaults.stallMs ?? LAB_DEFAULTS.stallMs) : parseDurationMs(name('stall'), flags.stall, {allowZero: true})

  const every = flags['stall-every']
  const forTime = flags['stall-for']
  if ((every === undefined) !== (forTime === undefined)) {
    throw new UsageError(`${name('stall-every')} and ${name('stall-for')} go together (e.g. ${name('stall-every')} 5s ${name('stall-for')} 300ms)`)
  }
  const stallEveryMs = every === undefined ? null : parseDurationMs(name('stall-every'), every)
  const stallForMs = forTime === undefined ? null : parseDurationMs(name('stall-for'), forTime)
  // Both are set or both are null (checked above).
  if (stallForMs !== null && stallForMs >= stallEveryMs!) {
    throw new UsageError(`${name('stall-for')} must be shorter than ${name('stall-every')} (the lab must accept between stalls)`)
  }

  const acceptRate = flags['accept-rate'] === undefined ? null : parseRatePerSecond(name('accept-rate'), flags['accept-rate'])
  const onAccept = flags['on-accept'] ?? LAB_DEFAULTS.onAccept
  if (!(ON_ACCEPT_MODES as readonly string[]).includes(onAccept)) {
    throw new InvalidOptionError(name('on-accept'), onAccept, ON_ACCEPT_MODES.join(', '))
  }
  const handlerDelayMs = flags['handler-delay'] === undefined ? 0 : parseDurationMs(name('handler-delay'), flags['handler-delay'], {allowZero: true})
  const maxDurationMs =
    flags['max-duration'] === undefined
      ? (defaults.maxDurationMs ?? LAB_DEFAULTS.maxDurationMs)
      : parseDurationMs(name('max-duration'), flags['max-duration'])
  return {host, port, backlog, stallMs, stallEveryMs, stallForMs, acceptRate, onAccept: onAccept as OnAccept, handlerDelayMs, maxDurationMs}
}

function parseBacklog(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  if (/^\s*0+\s*$/.test(text)) {
    // docs/kernel.md §7: Node treats a falsy backlog as "use the default" and listens with 511.
    throw new UsageError(`${flag}: 0 is not possible for a Node listener (Node silently turns it into 511); use ${flag} 1 for the smallest queue (2 connections)`)
  }
  return parseCount(flag, text, {min: 1, max: 2_147_483_647})
}

export const LAB_FLAG_NAMES = ['host', 'backlog', 'stall', 'stall-every', 'stall-for', 'accept-rate', 'on-accept', 'handler-delay'] as const

/** The lab flags given to `storm` with their "lab-" prefix, unprefixed for parseLabOptions. */
export function pickPrefixedLabFlags(flags: object): LabFlags {
  const picked: LabFlags = {}
  for (const name of LAB_FLAG_NAMES) {
    const value = (flags as Record<string, unknown>)[`lab-${name}`]
    if (typeof value === 'string') picked[name] = value
  }
  return picked
}
