import {availableParallelism} from 'node:os'

import {InvalidOptionError, UsageError} from '../errors.js'
import {parseCount, parseDurationMs, parseRatePerSecond} from './units.js'
import {parseSources} from './source.js'
import {isLocalAddress} from './target.js'

export type StormMode = 'burst' | 'rate' | 'waves'
export const CLOSE_MODES = ['rst', 'fin', 'hold'] as const
export type CloseMode = (typeof CLOSE_MODES)[number]

export const DEFAULT_BURST = 100
export const DEFAULT_CONCURRENCY = 10_000
/** 15 s, so that the 1, 2, 3, 4, 5, 7 and 11 s steps of the default Linux SYN ladder are all seen. */
export const DEFAULT_TIMEOUT_MS = 15_000
/** Slack added to the natural length of a run to make the default hard deadline. */
export const DEADLINE_SLACK_MS = 5000

/** A validated, fully defaulted description of what the engine will do. */
export interface Plan {
  mode: StormMode
  /** total connects the schedule will start */
  connects: number
  /** connects per burst (burst and waves modes) */
  burst?: number
  /** connect starts per second (rate mode) */
  rate?: number
  durationMs?: number
  waves?: number
  intervalMs?: number
  /** connects in flight at most; a start that must wait for a slot is late */
  concurrency: number
  timeoutMs: number
  close: CloseMode
  /** hard deadline for the whole run */
  maxDurationMs: number
  /** --shard i/n: this run fires every n-th connect of the whole plan, starting with the i-th */
  shard?: {index: number; count: number; totalConnects: number}
  /** --start-at: wall-clock instant (epoch ms) at which the first connect is due, so shards fire together */
  startAt?: number
  /** --workers: threads that share the plan (1: the storm runs on the main thread) */
  workers?: number
  /** --source: local addresses the connects are bound to, in turn (absent: the kernel picks) */
  sources?: string[]
}

/** Raw flag text, exactly as typed (undefined when absent). */
export interface PlanFlags {
  burst?: string
  rate?: string
  duration?: string
  waves?: string
  interval?: string
  concurrency?: string
  timeout?: string
  'max-duration'?: string
  close?: string
  shard?: string
  'start-at'?: string
  workers?: string
  source?: string
  /** --isolate (and the storm it runs inside the client's namespace): --source names the client host's addresses there (netns/isolate.ts addSourceAddresses checks and adds them) */
  isolate?: boolean
  'isolated-netns'?: string
}

/** The furthest ahead --start-at may be: every run stays bounded in time. */
export const MAX_START_DELAY_MS = 3_600_000

export function buildPlan(flags: PlanFlags, now = Date.now()): Plan {
  const timeoutMs = flags.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDurationMs('--timeout', flags.timeout)
  const concurrency = flags.concurrency === undefined ? DEFAULT_CONCURRENCY : parseCount('--concurrency', flags.concurrency)
  const close = parseClose(flags.close)
  const shape = buildSchedule(flags)
  const naturalMs = scheduleSpanMs(shape) + timeoutMs
  const maxDurationMs =
    flags['max-duration'] === undefined ? naturalMs + DEADLINE_SLACK_MS : parseDurationMs('--max-duration', flags['max-duration'])
  const shard = flags.shard === undefined ? undefined : parseShard(flags.shard, shape.connects)
  const startAt = flags['start-at'] === undefined ? undefined : parseStartAt(flags['start-at'], now)
  const workers = flags.workers === undefined ? 1 : parseWorkers(flags.workers)
  const isolated = flags.isolate === true || flags['isolated-netns'] !== undefined
  const sources = flags.source === undefined ? undefined : parseSources(flags.source, isolated ? () => true : isLocalAddress)
  return {
    ...shape,
    ...(shard ? {connects: shardConnects(shard.index, shard.count, shape.connects), shard: {...shard, totalConnects: shape.connects}} : {}),
    concurrency,
    timeoutMs,
    close,
    maxDurationMs,
    ...(startAt === undefined ? {} : {startAt}),
    ...(workers > 1 ? {workers} : {}),
    ...(sources === undefined ? {} : {sources}),
  }
}

function parseWorkers(text: string): number {
  if (text === 'auto') return availableParallelism()
  return parseCount('--workers', text, {min: 1, max: 64})
}

const SHARD_FORM = 'i/n with 1 ≤ i ≤ n ≤ 1000, e.g. 2/3 (this run fires every n-th connect, starting with the i-th)'

function parseShard(text: string, totalConnects: number): {index: number; count: number} {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim())
  const index = Number(match?.[1])
  const count = Number(match?.[2])
  if (!match || !(index >= 1 && index <= count && count <= 1000)) throw new InvalidOptionError('--shard', text, SHARD_FORM)
  if (index > totalConnects) throw new UsageError(`--shard: shard ${index} of ${count} gets no connect out of ${totalConnects}; use fewer shards or more connects`)
  return {index, count}
}

/** Connects j of the whole plan with j mod count = index − 1. */
function shardConnects(index: number, count: number, total: number): number {
  return Math.floor((total - index) / count) + 1
}

function parseStartAt(text: string, now: number): number {
  const at = text.startsWith('+') ? now + parseDurationMs('--start-at', text.slice(1), {allowZero: true}) : Date.parse(text)
  if (Number.isNaN(at)) throw new InvalidOptionError('--start-at', text, 'an ISO-8601 instant (2026-11-25T16:00:00.000Z) or +D (e.g. +5s)')
  // A shard that starts a little late still runs (its start skew is reported); a minute late is a typo.
  if (at < now - 60_000) throw new UsageError(`--start-at: ${text} is in the past`)
  if (at - now > MAX_START_DELAY_MS) throw new UsageError(`--start-at: ${text} is more than an hour away; runs stay bounded in time`)
  return at
}

type ScheduleShape = Pick<Plan, 'mode' | 'connects' | 'burst' | 'rate' | 'durationMs' | 'waves' | 'intervalMs'>

function buildSchedule(flags: PlanFlags): ScheduleShape {
  if (flags.rate !== undefined || flags.duration !== undefined) {
    if (flags.rate === undefined) throw new UsageError('--duration: only applies with --rate (use --rate R --duration D for an open-loop run)')
    if (flags.duration === undefined) throw new UsageError('--rate: needs --duration D (e.g. --rate 2000 --duration 10s)')
    if (flags.burst !== undefined || flags.waves !== undefined || flags.interval !== undefined) {
      throw new UsageError('--rate: cannot be combined with --burst, --waves or --interval (pick one mode: burst, rate or waves)')
    }
    const rate = parseRatePerSecond('--rate', flags.rate)
    const durationMs = parseDurationMs('--duration', flags.duration)
    const connects = Math.round((rate * durationMs) / 1000)
    if (connects < 1) throw new UsageError(`--rate: ${flags.rate}/s for ${flags.duration} starts no connect; raise the rate or the duration`)
    return {mode: 'rate', connects, rate, durationMs}
  }

  const burst = flags.burst === undefined ? DEFAULT_BURST : parseCount('--burst', flags.burst)
  if (flags.waves !== undefined || flags.interval !== undefined) {
    if (flags.waves === undefined) throw new UsageError('--interval: only applies with --waves (e.g. --waves 5 --burst 200 --interval 2s)')
    if (flags.interval === undefined) throw new UsageError('--waves: needs --interval D, the time between wave starts (e.g. --interval 2s)')
    const waves = parseCount('--waves', flags.waves)
    const intervalMs = parseDurationMs('--interval', flags.interval)
    return {mode: 'waves', connects: waves * burst, burst, waves, intervalMs}
  }
  return {mode: 'burst', connects: burst, burst}
}

function parseClose(text: string | undefined): CloseMode {
  if (text === undefined) return 'rst'
  if ((CLOSE_MODES as readonly string[]).includes(text)) return text as CloseMode
  throw new InvalidOptionError('--close', text, CLOSE_MODES.join(', '))
}

/** How long the schedule lasts: 0 for a burst, --duration for a rate, the wave starts' spread for waves. */
export function scheduleSpanMs(shape: ScheduleShape): number {
  switch (shape.mode) {
    case 'burst': {
      return 0
    }
    case 'rate': {
      return shape.durationMs!
    }
    case 'waves': {
      return (shape.waves! - 1) * shape.intervalMs!
    }
  }
}

/** A shard (or worker) keeps the whole plan's numbering: its k-th connect is the plan's (i − 1 + n·k)-th. */
export function globalIndex(plan: Pick<Plan, 'shard'>, localIndex: number): number {
  return plan.shard ? plan.shard.index - 1 + plan.shard.count * localIndex : localIndex
}

/**
 * Intended start of connect number `index`, in ms after the run's start. Rate mode spaces starts
 * evenly (open loop); a burst starts all at once; waves repeat a burst every interval.
 */
export function intendedOffsetMs(plan: Pick<Plan, 'mode' | 'burst' | 'rate' | 'intervalMs' | 'shard'>, localIndex: number): number {
  const index = globalIndex(plan, localIndex)
  switch (plan.mode) {
    case 'burst': {
      return 0
    }
    case 'rate': {
      return (index * 1000) / plan.rate!
    }
    case 'waves': {
      return Math.floor(index / plan.burst!) * plan.intervalMs!
    }
  }
}
