import type {StormResult} from '../results/format.js'
import type {Bracket, SearchDimension} from '../results/search-format.js'
import {HEADROOM, roundUpBacklog} from './recommend.js'

/**
 * The capacity search, as pure decisions: which trial to run next given the trials so far, and
 * what one trial's result says. `src/run/search.ts` runs the trials.
 *
 * The method is RFC 2544's (§26.1) binary search for the no-drop rate, with three changes that
 * MLRsearch (IETF BMWG) also makes: the upper bound is found by growing from a small trial rather
 * than starting at the line rate; the answer is a bracket (largest passing, smallest failing) of a
 * stated width; and the answer is confirmed by a repeat trial before it is reported. One change is
 * ours: a burst that fails against a full accept queue says how many connects the queue admitted
 * at once (the connects on ladder step 0), which is the largest clean burst when accepts are
 * stalled (docs/kernel.md §1: the queue holds backlog + 1) — so the next trial tries that size and
 * the one above it before bisecting.
 */

export interface SearchSettings {
  dimension: SearchDimension
  /** the first trial's size (connects, or connects per second) */
  start: number
  /** the largest size the search may try */
  max: number
}

/** Each step up before the first failure multiplies the last passing size by this. */
export const GROWTH = 4

/** The bracket is narrow enough when its width is at most this (connects; for rates, see resolutionOf). */
export function resolutionOf(dimension: SearchDimension, largestPass: number): number {
  // A rate is known to 2 % (a trial's achieved rate varies by about that on a loaded 2-core
  // machine); a burst to the connect up to 100 connects and to 1 % above (bisecting a 2,000-connect
  // burst to the connect costs six more trials and says nothing a queue size could use).
  return dimension === 'burst' ? Math.max(1, Math.floor(largestPass / 100)) : Math.max(1, Math.ceil(largestPass * 0.02))
}

export type TrialJudgement =
  | {pass: true; admittedAtOnce: number | null}
  | {pass: false; admittedAtOnce: number | null; retransmitted: number; why: string}

/** Why the search cannot go on: a trial failed for a reason a bigger or smaller trial cannot bisect. */
export interface SearchStop {
  stop: string
}

export interface SearchCriterion {
  /** NDR: no connect on a retransmit step and no failure; PDR: every --pdr threshold held */
  kind: 'ndr' | 'pdr'
}

/**
 * What one trial says. A trial that did not complete, or failed for a reason other than SYN loss
 * (refused, reset, a local limit …), stops the search: a smaller or larger trial would not tell more.
 */
export function judgeTrial(result: StormResult, criterion: SearchCriterion): TrialJudgement | SearchStop {
  if (result.stopReason !== 'completed') return {stop: result.stopReason === 'interrupted' ? 'interrupted' : 'the trial reached its hard deadline'}
  const {byOutcome} = result.counts
  const notSynLoss = (['refused', 'reset', 'addrNotAvail', 'fileLimit', 'unreachable', 'other'] as const).filter((outcome) => byOutcome[outcome] > 0)
  if (notSynLoss.length > 0) {
    const what = notSynLoss.map((outcome) => `${byOutcome[outcome]} ${outcome}`).join(', ')
    return {stop: `${what}: not SYN loss, so no trial size would bisect it`}
  }
  const attribution = result.attribution
  if (attribution === null) return {stop: "the kernel's SYN retransmit settings could not be read, so no connect can be put on a ladder step"}
  const admittedAtOnce = attribution.steps.find((step) => step.retransmits === 0)?.connects ?? 0
  const onSteps = attribution.steps.filter((step) => step.retransmits > 0).reduce((sum, step) => sum + step.connects, 0)
  const timedOut = byOutcome.timeout
  const retransmitted = onSteps + timedOut
  if (criterion.kind === 'pdr') {
    const failed = (result.thresholds ?? []).filter((threshold) => !threshold.held)
    if (failed.length === 0) return {pass: true, admittedAtOnce}
    return {pass: false, admittedAtOnce, retransmitted, why: failed.map((threshold) => `${threshold.expr} (${threshold.display})`).join(', ')}
  }
  if (retransmitted === 0) return {pass: true, admittedAtOnce}
  const parts = [onSteps > 0 ? `${onSteps} on a retransmit step` : '', timedOut > 0 ? `${timedOut} timed out` : ''].filter((part) => part !== '')
  return {pass: false, admittedAtOnce, retransmitted, why: parts.join(', ')}
}

export interface TrialRecord {
  size: number
  pass: boolean
  /** connects on ladder step 0 (bursts) */
  admittedAtOnce: number | null
  /** a repeat of the largest passing size, to confirm the answer */
  confirming: boolean
}

export type NextStep = {next: 'trial'; size: number; confirming: boolean; why: string} | {next: 'done'; bracket: Bracket; confirmed: boolean}

/** The bracket the trials so far support: a failure bounds from above; passes count only below it. */
export function bracketOf(trials: readonly TrialRecord[]): Bracket {
  const failures = trials.filter((trial) => !trial.pass).map((trial) => trial.size)
  const smallestFail = failures.length === 0 ? null : Math.min(...failures)
  const passes = trials.filter((trial) => trial.pass && (smallestFail === null || trial.size < smallestFail)).map((trial) => trial.size)
  return {largestPass: passes.length === 0 ? null : Math.max(...passes), smallestFail}
}

export function nextTrial(settings: SearchSettings, trials: readonly TrialRecord[]): NextStep {
  if (trials.length === 0) return {next: 'trial', size: Math.min(settings.start, settings.max), confirming: false, why: 'the first trial'}
  const bracket = bracketOf(trials)
  const {largestPass, smallestFail} = bracket
  const tried = (size: number) => trials.some((trial) => trial.size === size)

  if (smallestFail === null) {
    // Every trial passed: grow, up to the max.
    const last = largestPass!
    if (last >= settings.max) return {next: 'done', bracket, confirmed: true}
    return {next: 'trial', size: Math.min(settings.max, last * GROWTH), confirming: false, why: `×${GROWTH} after a pass`}
  }

  const low = largestPass ?? 0
  if (smallestFail - low <= resolutionOf(settings.dimension, low)) {
    if (largestPass === null) return {next: 'done', bracket, confirmed: true}
    // Confirmed when the last trial repeated the largest pass and passed again.
    const last = trials.at(-1)!
    if (last.confirming && last.pass && last.size === largestPass) return {next: 'done', bracket, confirmed: true}
    return {next: 'trial', size: largestPass, confirming: true, why: 'confirming the largest pass'}
  }

  if (settings.dimension === 'burst') {
    const hint = trials.find((trial) => trial.size === smallestFail && !trial.pass)?.admittedAtOnce ?? null
    if (hint !== null && hint > low && hint < smallestFail && !tried(hint)) {
      return {next: 'trial', size: hint, confirming: false, why: `the failing burst of ${smallestFail} admitted ${hint} at once`}
    }
    if (hint !== null && hint === low && low + 1 < smallestFail && !tried(low + 1)) {
      return {next: 'trial', size: low + 1, confirming: false, why: `one above the ${low} the queue admitted`}
    }
  }
  const middle = Math.floor((low + smallestFail) / 2)
  return {next: 'trial', size: Math.max(middle, 1), confirming: false, why: `bisecting ${low} … ${smallestFail}`}
}

/** What the search's answer means for a stated peak (--expect-burst N / --expect-rate R). */
export interface SearchSizing {
  /** the peak the user stated */
  expected: number
  /** the largest clean size found (the bracket's largest pass) */
  absorbs: number
  /** for a burst: the backlog whose queue holds the peak with headroom (2^n − 1); null for rates or when it already fits */
  backlog: number | null
  sentence: string
}

/**
 * Sizing from the search. A burst: the queue must hold the peak burst when accepts stall (the
 * advice's model, docs/kernel.md §1), with the same headroom and 2^n − 1 rounding as the advice.
 * A rate: above the highest clean rate the queue grows for as long as the peak lasts, so a larger
 * queue only buys time; the sentence says by how much the peak exceeds it.
 */
export function sizeFromSearch(dimension: 'burst' | 'rate', largestPass: number | null, expected: number): SearchSizing | null {
  if (largestPass === null) return null
  if (expected <= largestPass) {
    return {expected, absorbs: largestPass, backlog: null, sentence: `your stated peak of ${expected}${dimension === 'rate' ? '/s' : ''} is within what it absorbed (${largestPass}${dimension === 'rate' ? '/s' : ''}): no change needed for it`}
  }
  if (dimension === 'rate') {
    const excess = expected - largestPass
    return {
      expected,
      absorbs: largestPass,
      backlog: null,
      sentence: `your stated peak of ${expected}/s is ${excess}/s above the highest clean rate (${largestPass}/s): the accept queue grows by about ${excess} connects for every second the peak lasts, so a larger backlog only buys time; accepts must get faster`,
    }
  }
  const backlog = roundUpBacklog(Math.ceil(expected * HEADROOM))
  return {
    expected,
    absorbs: largestPass,
    backlog,
    sentence: `absorbs bursts up to ${largestPass}; your stated peak of ${expected} needs an accept queue of ${expected} + ${Math.round((HEADROOM - 1) * 100)} % headroom: backlog ≥ ${backlog} (and net.core.somaxconn ≥ ${backlog}), then restart or re-listen`,
  }
}
