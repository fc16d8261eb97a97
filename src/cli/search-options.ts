import {Flags} from '@oclif/core'

import type {SearchDimension} from '../results/search-format.js'
import {InvalidOptionError, UsageError} from '../errors.js'
import {parseThreshold} from '../plan/thresholds.js'
import {parseCount, parseDurationMs, parseRatePerSecond} from '../plan/units.js'
import {assertWritable} from '../results/write.js'
import type {SearchRequest} from '../run/search.js'
import {labFlags} from './lab-flags.js'
import {DEFAULT_LAB} from './storm-flags.js'
import {type StormFlagValues, parseStormOptions} from './storm-options.js'

/** The search's own defaults (printed in --help): each bound keeps a search finite. */
export const SEARCH_DEFAULTS = {
  burst: {start: 8, max: 4096},
  rate: {start: 100, max: 50_000},
  maxTrials: 20,
  maxDurationMs: 300_000,
  /** against a TARGET of the user's: time for its queue to drain between trials */
  settleMs: 1000,
} as const

export const SEARCH_FLAGS = {
  burst: Flags.boolean({summary: 'find the largest burst (the default)', exclusive: ['rate']}),
  rate: Flags.boolean({summary: 'find the highest open-loop connect rate over --duration', exclusive: ['burst']}),
  duration: Flags.string({summary: 'with --rate: how long each trial runs at its rate', helpValue: '<duration>'}),
  start: Flags.string({summary: `the first trial's size [default: ${SEARCH_DEFAULTS.burst.start} connects, or ${SEARCH_DEFAULTS.rate.start}/s]`, helpValue: '<n>'}),
  max: Flags.string({summary: `the largest size to try [default: ${SEARCH_DEFAULTS.burst.max} connects, or ${SEARCH_DEFAULTS.rate.max}/s]`, helpValue: '<n>'}),
  pdr: Flags.string({
    summary: "find the largest size whose trial meets these thresholds (the storm's --threshold grammar, e.g. 'synRetransmits<1%', 'p99<200ms'), instead of no SYN lost at all (repeatable)",
    helpValue: '<expr>',
    multiple: true,
  }),
  'max-trials': Flags.string({summary: `stop after this many trials [default: ${SEARCH_DEFAULTS.maxTrials}]`, helpValue: '<n>'}),
  'max-duration': Flags.string({summary: `hard deadline for the whole search; a trial starts only if it fits [default: ${SEARCH_DEFAULTS.maxDurationMs / 60_000}m]`, helpValue: '<duration>'}),
  settle: Flags.string({summary: `pause between trials [default: 0 with the lab (each trial has its own), ${SEARCH_DEFAULTS.settleMs / 1000}s against a TARGET]`, helpValue: '<duration>'}),
  timeout: Flags.string({summary: 'per connect, in every trial [default: 15s]', helpValue: '<duration>'}),
  concurrency: Flags.string({summary: 'connects in flight at most, in every trial', helpValue: '<n>'}),
  'expect-burst': Flags.string({summary: 'your peak burst: the answer says what backlog it needs (with --burst)', helpValue: '<n>'}),
  'expect-rate': Flags.string({summary: 'your peak connect rate: the answer says how it compares (with --rate)', helpValue: '<per-second>'}),
  out: Flags.string({summary: 'also write the search (every trial\'s full result) to this JSON file, atomically', helpValue: '<file>'}),
  ...labFlags('lab-', {backlog: String(DEFAULT_LAB.backlog), stall: `${DEFAULT_LAB.stallMs / 1000}s (from each trial's first connect)`}),
}

export interface SearchFlagValues {
  burst: boolean
  rate: boolean
  duration?: string
  start?: string
  max?: string
  pdr?: string[]
  'max-trials'?: string
  'max-duration'?: string
  settle?: string
  timeout?: string
  concurrency?: string
  out?: string
  'expect-burst'?: string
  'expect-rate'?: string
  [labFlag: `lab-${string}`]: string | undefined
}

export interface SearchOptions extends SearchRequest {
  out: string | undefined
}

/** Checks every flag, and one trial's storm request, before any traffic: a mistake is one line, exit 2. */
export function parseSearchOptions(target: string | undefined, flags: SearchFlagValues): SearchOptions {
  const dimension: SearchDimension = flags.rate ? 'rate' : 'burst'
  if (dimension === 'rate' && flags.duration === undefined) throw new UsageError('--rate: needs --duration (how long each trial runs at its rate)')
  if (dimension === 'burst' && flags.duration !== undefined) throw new UsageError('--duration: only with --rate')
  const parseSize = (option: string, text: string) => (dimension === 'burst' ? parseCount(option, text, {max: 1_000_000}) : parseRatePerSecond(option, text))
  const start = flags.start === undefined ? SEARCH_DEFAULTS[dimension].start : parseSize('--start', flags.start)
  const max = flags.max === undefined ? Math.max(start, SEARCH_DEFAULTS[dimension].max) : parseSize('--max', flags.max)
  if (start > max) throw new UsageError(`--start: ${start} is above --max ${max}`)
  const maxTrials = flags['max-trials'] === undefined ? SEARCH_DEFAULTS.maxTrials : parseCount('--max-trials', flags['max-trials'], {max: 1000})
  const maxDurationMs = flags['max-duration'] === undefined ? SEARCH_DEFAULTS.maxDurationMs : parseDurationMs('--max-duration', flags['max-duration'])
  const settleMs = flags.settle === undefined ? (target === undefined ? 0 : SEARCH_DEFAULTS.settleMs) : parseDurationMs('--settle', flags.settle, {allowZero: true})
  if (flags['expect-burst'] !== undefined && dimension !== 'burst') throw new UsageError('--expect-burst: only with --burst (use --expect-rate with --rate)')
  if (flags['expect-rate'] !== undefined && dimension !== 'rate') throw new UsageError('--expect-rate: only with --rate (use --expect-burst with --burst)')
  const expected =
    flags['expect-burst'] === undefined
      ? flags['expect-rate'] === undefined
        ? null
        : parseRatePerSecond('--expect-rate', flags['expect-rate'])
      : parseCount('--expect-burst', flags['expect-burst'], {max: 1_000_000_000})
  const pdr = flags.pdr ?? []
  // Checked here under the flag the user typed (the storm would name it --threshold).
  for (const expr of pdr) {
    try {
      parseThreshold(expr)
    } catch (error) {
      if (error instanceof InvalidOptionError) throw new InvalidOptionError('--pdr', error.value, error.accepted)
      throw error
    }
  }
  if (flags.out !== undefined) assertWritable(flags.out)

  const labFlagValues = Object.fromEntries(Object.entries(flags).filter(([name]) => name.startsWith('lab-'))) as Record<`lab-${string}`, string | undefined>
  const trialRequest = (size: number) => {
    const stormFlags: StormFlagValues = {
      ...(dimension === 'burst' ? {burst: String(size)} : {rate: String(size), duration: flags.duration!}),
      ...(flags.timeout === undefined ? {} : {timeout: flags.timeout}),
      ...(flags.concurrency === undefined ? {} : {concurrency: flags.concurrency}),
      ...labFlagValues,
      threshold: pdr,
      insecure: false,
      verify: false,
      isolate: false,
      force: false,
      quiet: true,
    }
    return parseStormOptions(target, stormFlags)
  }
  // Every storm flag is checked now, with the largest trial the search may run.
  trialRequest(max)
  return {
    target,
    out: flags.out,
    settings: {dimension, start, max},
    criterion: {kind: pdr.length > 0 ? 'pdr' : 'ndr', thresholds: pdr},
    trialRequest,
    maxTrials,
    maxDurationMs,
    settleMs,
    expected,
  }
}
