import {sizeFromSearch} from '../analysis/search.js'
import {formatMs} from '../plan/units.js'
import type {SearchFile, SearchTrialRecord} from '../results/search-format.js'
import {listenerGroup} from '../analysis/reuseport.js'
import {groupCapacity} from './listener-group-text.js'

/**
 * The search as text: what was looked for, one line per trial (size → outcome → why this size),
 * and the answer as a bracket. A pure function of the search file, so `report search.json` prints
 * what the live search printed.
 */
export function renderSearchReport(search: SearchFile): string {
  const lines: string[] = []
  const firstLab = search.trials[0]?.result.lab
  const where = search.target ?? `the built-in lab, a fresh one per trial${firstLab ? ` (backlog ${firstLab.backlog}${firstLab.stallMs > 0 ? `, accepting nothing for ${formatMs(firstLab.stallMs)} from the trial's first connect` : ''})` : ''}`
  lines.push(`connstorm search → ${where}`)
  lines.push(`looking   ${lookingFor(search)}`)
  for (const [index, trial] of search.trials.entries()) lines.push(trialLine(index + 1, trial, search))
  lines.push(`answer    ${answer(search)}`)
  const estimate = burstEstimate(search)
  if (estimate) lines.push(`estimate  ${estimate}`)
  const sizing = search.stopReason === 'answered' && search.expected != null ? sizeFromSearch(search.dimension, search.bracket.largestPass, search.expected) : null
  if (sizing) lines.push(`sizing    ${sizing.sentence}`)
  lines.push(`search    ${search.trials.length} trial${search.trials.length === 1 ? '' : 's'} in ${formatMs(search.durationMs)}; ${stopped(search)}`)
  return lines.join('\n')
}

function sizeText(search: SearchFile, size: number): string {
  return search.dimension === 'burst' ? `${size}` : `${size}/s`
}

function lookingFor(search: SearchFile): string {
  const what = search.dimension === 'burst' ? 'the largest burst' : `the highest connect rate over ${formatMs(search.trials[0]?.result.plan.durationMs ?? 0)}`
  const criterion =
    search.criterion.kind === 'ndr'
      ? 'with every connect on its first SYN and none failed (no-drop, NDR)'
      : `whose trial meets ${search.criterion.thresholds.join(' and ')} (partial-drop, PDR)`
  return `${what} ${criterion}, from ${sizeText(search, search.settings.start)} up to ${sizeText(search, search.settings.max)}`
}

function trialLine(number: number, trial: SearchTrialRecord, search: SearchFile): string {
  const verdict = trial.pass === null ? 'STOP' : trial.pass ? 'pass' : 'FAIL'
  const atOnce = search.dimension === 'burst' && trial.admittedAtOnce !== null ? `${trial.admittedAtOnce} at once` : ''
  const detail = [atOnce, trial.failedBecause ?? ''].filter((part) => part !== '').join('; ')
  const why = trial.confirming ? 'confirming the answer' : trial.why
  return `trial ${String(number).padStart(2)}  ${search.dimension} ${sizeText(search, trial.size).padStart(7)}  ${verdict}  ${detail.padEnd(40)}  (${why})`
}

function answer(search: SearchFile): string {
  const {largestPass, smallestFail} = search.bracket
  const name = search.criterion.kind === 'ndr' ? 'NDR' : 'PDR'
  const size = (n: number) => sizeText(search, n)
  if (search.stopReason !== 'answered') {
    // The search stopped early: the bracket so far, and nothing more.
    const pass = largestPass === null ? 'no trial passed' : `${size(largestPass)} passed`
    const fail = smallestFail === null ? 'none failed' : `${size(smallestFail)} failed`
    if (largestPass === null && smallestFail === null) return 'none: no trial could be judged'
    return `not found: the search stopped with ${pass} and ${fail}${largestPass === null ? '' : ` (${name} ${search.dimension} ≥ ${size(largestPass)})`}`
  }
  if (largestPass === null) return `none: even the smallest trial (${size(smallestFail!)}) failed`
  if (smallestFail === null) return `${name} ${search.dimension} ≥ ${size(largestPass)}: every trial passed, up to --max ${size(largestPass)} (raise it to look further)`
  const confirmed = search.confirmed ? ', confirmed by a repeat' : ''
  return `${name} ${search.dimension} ${size(largestPass)}: ${size(largestPass)} passed${confirmed}, ${size(smallestFail)} failed — bracket width ${size(smallestFail - largestPass)}`
}

/**
 * A stalled queue admits exactly its capacity at once (docs/kernel.md §1: backlog + 1): the
 * listener's effective backlog, when the trials saw it, is what the answer should equal.
 */
function burstEstimate(search: SearchFile): string | null {
  if (search.dimension !== 'burst') return null
  const listener = search.trials.map((trial) => trial.result.kernel?.listener).find((seen) => seen?.effectiveBacklog !== null && seen?.effectiveBacklog !== undefined)
  if (!listener || listener.effectiveBacklog === null) return null
  const group = listenerGroup(listener)
  if (group !== null) {
    return (
      `${group.listeners} listeners share the port (SO_REUSEPORT): ${groupCapacity(group)} places, but the kernel hashes each connect to one of them, ` +
      'so a burst fills the fullest queue before the others: the largest burst that fits is smaller than their sum'
    )
  }
  const capacity = listener.effectiveBacklog + 1
  const stalled = search.trials.some((trial) => (trial.result.lab?.stallMs ?? 0) > 0)
  const accepts = stalled ? 'no accepts during the stall' : 'plus whatever the server accepts while the burst arrives'
  return `the listener's effective backlog is ${listener.effectiveBacklog} (source: ${listener.source}): its accept queue holds ${capacity}, ${accepts}`
}

function stopped(search: SearchFile): string {
  switch (search.stopReason) {
    case 'answered': {
      return 'answered'
    }
    case 'max-trials': {
      return `stopped at --max-trials ${search.settings.maxTrials} before the bracket was narrow enough`
    }
    case 'max-duration': {
      return `stopped: the next trial would not fit in --max-duration ${formatMs(search.settings.maxDurationMs)}`
    }
    case 'interrupted': {
      return 'interrupted: the trace and bracket so far'
    }
    case 'cannot-bisect': {
      return `stopped: ${search.stop}`
    }
  }
}
