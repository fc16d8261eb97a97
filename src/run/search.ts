import {type SearchCriterion, type SearchSettings, type TrialRecord, bracketOf, judgeTrial, nextTrial} from '../analysis/search.js'
import {sleepUntil} from '../engine/clock.js'
import {InterruptedBeforeStartError, UsageError} from '../errors.js'
import type {StormResult} from '../results/format.js'
import type {SearchFile, SearchStopReason, SearchTrialRecord} from '../results/search-format.js'
import {type StormHooks, type StormRequest, runStorm} from './storm.js'

/** What a search is asked to do, checked (cli/search-options.ts builds it from the flags). */
export interface SearchRequest {
  /** the TARGET as given; undefined: each trial starts a built-in lab of its own */
  target: string | undefined
  settings: SearchSettings
  criterion: SearchCriterion & {thresholds: string[]}
  /** the storm of one trial of this size (a burst of n, or n connects per second) */
  trialRequest: (size: number) => StormRequest
  maxTrials: number
  maxDurationMs: number
  /**
   * Pause between trials. With the built-in lab each trial has a lab of its own, so nothing of one
   * trial reaches the next; a target of the user's gets time to drain its queue.
   */
  settleMs: number
  /** --expect-burst / --expect-rate: the stated peak the answer is sized against */
  expected: number | null
}

/**
 * Runs trials until the strategy has its answer or a bound stops it (--max-trials, --max-duration,
 * Ctrl-C). Every trial is a whole storm, diagnosed like any other, and kept in the file. Bounded:
 * a trial starts only when its own hard deadline fits in what is left of --max-duration.
 */
export async function runSearch(request: SearchRequest, hooks: StormHooks): Promise<SearchFile> {
  const startedAt = new Date()
  const started = performance.now()
  const trials: SearchTrialRecord[] = []
  const records: TrialRecord[] = []
  const finish = (stopReason: SearchStopReason, stop: string | null = null, confirmed = false): SearchFile => ({
    schemaVersion: 1,
    kind: 'search',
    tool: hooks.tool,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
    target: request.target ?? null,
    dimension: request.settings.dimension,
    criterion: {kind: request.criterion.kind, thresholds: request.criterion.thresholds},
    settings: {...request.settings, maxTrials: request.maxTrials, maxDurationMs: request.maxDurationMs, settleMs: request.settleMs},
    trials,
    bracket: bracketOf(records),
    confirmed,
    stopReason,
    stop,
    expected: request.expected,
  })

  for (;;) {
    const step = nextTrial(request.settings, records)
    if (step.next === 'done') return finish('answered', null, step.confirmed)
    if (hooks.signal.aborted) return finish('interrupted')
    if (trials.length >= request.maxTrials) return finish('max-trials')
    const storm = request.trialRequest(step.size)
    const settleMs = trials.length > 0 ? request.settleMs : 0
    if (performance.now() - started + settleMs + storm.plan.maxDurationMs > request.maxDurationMs) return finish('max-duration')
    if (settleMs > 0) await sleepUntil(Date.now() + settleMs, hooks.signal)
    if (hooks.signal.aborted) return finish('interrupted')

    let result: StormResult
    try {
      result = (await runStorm(storm, hooks)).result
    } catch (error) {
      if (error instanceof InterruptedBeforeStartError) return finish('interrupted')
      // The pre-flight refused this size on this machine (open files, ports): the search ends here.
      if (error instanceof UsageError) return finish('cannot-bisect', `a trial of ${step.size}: ${error.message}`)
      throw error
    }
    const judgement = judgeTrial(result, request.criterion)
    const base = {size: step.size, confirming: step.confirming, why: step.why, result}
    if ('stop' in judgement) {
      trials.push({...base, pass: null, admittedAtOnce: null, failedBecause: null})
      return finish(result.stopReason === 'interrupted' ? 'interrupted' : 'cannot-bisect', judgement.stop)
    }
    trials.push({...base, pass: judgement.pass, admittedAtOnce: judgement.admittedAtOnce, failedBecause: judgement.pass ? null : judgement.why})
    records.push({size: step.size, pass: judgement.pass, admittedAtOnce: judgement.admittedAtOnce, confirming: step.confirming})
  }
}
