import type {Diagnosis} from '../analysis/diagnose.js'
import {formatAddress} from '../plan/target.js'
import {formatMicros, formatMs} from '../plan/units.js'
import {OUTCOMES} from '../results/outcome.js'
import type {Recommendation, StormResult} from '../results/format.js'

/**
 * The "before / after a release" view: several saved runs side by side, one column per file.
 * Pure: diagnoses in, rows out; report/compare-text.ts lays the rows out as text and markdown.
 */

/** One saved run as `report` shows it: its column label and its diagnosis (the same `analyze` prints). */
export type ReportRun = Diagnosis & {
  /** the file name (the column header) */
  label: string
}

/**
 * Column labels from the file paths as given: their base names, or the whole path when two base
 * names are the same; the same path given twice gets "(2)", "(3)" …
 */
export function columnLabels(files: readonly string[]): string[] {
  const base = (file: string): string => file.split(/[\\/]/).filter((part) => part.length > 0).at(-1) ?? file
  const bases = files.map(base)
  const labels = files.map((file, index) => (bases.filter((name) => name === bases[index]).length > 1 ? file : bases[index]!))
  const seen = new Map<string, number>()
  return labels.map((label) => {
    const n = (seen.get(label) ?? 0) + 1
    seen.set(label, n)
    return n === 1 ? label : `${label} (${n})`
  })
}

export type ComparisonSection = 'run' | 'latency' | 'ladder' | 'outcomes' | 'kernel' | 'advice'

export const SECTION_TITLES: Record<ComparisonSection, string> = {
  run: 'run',
  latency: 'connect latency from intended start',
  ladder: 'connects per SYN-retransmit ladder step',
  outcomes: 'outcomes',
  kernel: 'kernel counters (deltas over the run)',
  advice: 'advice',
}

export interface ComparisonRow {
  section: ComparisonSection
  label: string
  /** one cell per run, in the order given; "—" where the run has no such figure */
  values: string[]
  /** the figure behind each cell (µs for latencies, counts for counts); null where there is none */
  numbers: (number | null)[]
  /** the last run against the first (only with two runs or more): "−98 %", "+5", "changed", "same" */
  change: string | null
}

const NONE = '—'

/** The comparison table: one row per figure, one column per run. */
export function compareRuns(runs: readonly ReportRun[]): ComparisonRow[] {
  const rows: ComparisonRow[] = []
  const results = runs.map((run) => run.result)
  const several = runs.length > 1

  const textRow = (section: ComparisonSection, label: string, values: string[]): void => {
    const change = several ? (values.at(-1) === values[0] ? 'same' : 'changed') : null
    rows.push({section, label, values, numbers: values.map(() => null), change})
  }
  const countRow = (section: ComparisonSection, label: string, numbers: (number | null)[], format: (n: number) => string = String): void => {
    rows.push({section, label, values: numbers.map((n) => (n === null ? NONE : format(n))), numbers, change: several ? countChange(numbers[0]!, numbers.at(-1)!) : null})
  }
  const latencyRow = (label: string, pick: (result: StormResult) => number): void => {
    const numbers = results.map((result) => (result.latencyUs.fromIntended.count > 0 ? pick(result) : null))
    rows.push({
      section: 'latency',
      label,
      values: numbers.map((us) => (us === null ? NONE : formatMicros(us))),
      numbers,
      change: several ? ratioChange(numbers[0]!, numbers.at(-1)!) : null,
    })
  }

  textRow('run', 'target', results.map((result) => formatAddress(result.target.host, result.target.port) + (result.target.lab ? ' (lab)' : '')))
  textRow('run', 'plan', results.map((result) => describePlanShort(result)))
  textRow('run', 'started at', results.map((result) => result.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')))
  textRow('run', 'ran for', results.map((result) => `${formatMs(result.durationMs)}${result.partial ? ` (${result.stopReason})` : ''}`))
  if (several) rows.at(-1)!.change = null
  rows.find((row) => row.label === 'started at')!.change = null

  latencyRow('p50', (result) => result.latencyUs.fromIntended.p50)
  latencyRow('p99', (result) => result.latencyUs.fromIntended.p99)
  latencyRow('max', (result) => result.latencyUs.fromIntended.max)

  // Every step any run reached, in ladder order; a run that reached none of them shows 0, a run
  // that could not attribute at all (sysctls unreadable) shows "—".
  const retransmits = [...new Set(results.flatMap((result) => result.attribution?.steps.map((step) => step.retransmits) ?? []))].sort((a, b) => a - b)
  for (const k of retransmits) {
    const at = results.map((result) => result.ladder?.sendTimesMs[k]).find((ms) => ms !== undefined)
    const label = k === 0 ? 'no SYN retransmit' : `${k} SYN retransmit${k === 1 ? '' : 's'}${at === undefined ? '' : ` (SYN at ${at / 1000} s)`}`
    countRow('ladder', label, results.map((result) => (result.attribution ? (result.attribution.steps.find((step) => step.retransmits === k)?.connects ?? 0) : null)))
  }
  const timedOutSteps = [...new Set(results.flatMap((result) => result.attribution?.timedOut.map((group) => group.atLeastRetransmits) ?? []))].sort((a, b) => a - b)
  for (const k of timedOutSteps) {
    countRow('ladder', `timed out after ≥ ${k} SYN retransmits`, results.map((result) => (result.attribution ? (result.attribution.timedOut.find((group) => group.atLeastRetransmits === k)?.connects ?? 0) : null)))
  }
  if (results.some((result) => (result.attribution?.betweenSteps.connects ?? 0) > 0)) {
    countRow('ladder', 'between steps (not SYN loss)', results.map((result) => result.attribution?.betweenSteps.connects ?? null))
  }
  if (results.some((result) => result.attribution === null)) {
    textRow('ladder', 'attributed', results.map((result) => (result.attribution === null ? 'no (sysctls unknown)' : 'yes')))
  }

  countRow('outcomes', 'attempted', results.map((result) => result.counts.attempted))
  for (const outcome of OUTCOMES) {
    // connected and timeout always; the rarer outcomes when any run had them
    if (outcome !== 'connected' && outcome !== 'timeout' && results.every((result) => result.counts.byOutcome[outcome] === 0)) continue
    const numbers = results.map((result) => result.counts.byOutcome[outcome])
    rows.push({
      section: 'outcomes',
      label: outcome,
      values: results.map((result) => withShare(result.counts.byOutcome[outcome], result.counts.attempted)),
      numbers,
      change: several ? countChange(numbers[0]!, numbers.at(-1)!) : null,
    })
  }
  if (results.some((result) => result.counts.pending > 0 || result.counts.notStarted > 0)) {
    countRow('outcomes', 'in flight at stop', results.map((result) => result.counts.pending))
    countRow('outcomes', 'never started', results.map((result) => result.counts.notStarted))
  }

  for (const counter of ['TcpExtTCPSynRetrans', 'TcpExtListenOverflows']) {
    const numbers = results.map((result) => result.kernel?.counterDeltas?.[counter] ?? null)
    if (numbers.every((n) => n === null)) continue
    countRow('kernel', counter, numbers, (n) => `+${n}`)
  }

  const knobs = [...new Set(runs.flatMap((run) => run.advice.recommendations.map((recommendation) => recommendation.knob)))]
  for (const knob of knobs) {
    textRow('advice', knob, runs.map((run) => describeChange(run.advice.recommendations.find((recommendation) => recommendation.knob === knob))))
  }
  if (runs.some((run) => run.advice.notTheFix !== null)) {
    textRow('advice', 'a bigger queue is not the fix', runs.map((run) => (run.advice.notTheFix === null ? 'no' : 'yes')))
  }
  return rows
}

/** "4 → 63", "4096 (keep)", "—" (no such advice for that run). */
export function describeChange(recommendation: Recommendation | undefined): string {
  if (!recommendation) return NONE
  return recommendation.proposed === null ? `${recommendation.current} (keep)` : `${recommendation.current} → ${recommendation.proposed}`
}

/** The advice that changed between the first run and the last, in words: "backlog: 4 → 63 before, 63 (keep) after". */
export function adviceChanges(runs: readonly ReportRun[]): string[] {
  if (runs.length < 2) return []
  const first = runs[0]!
  const last = runs.at(-1)!
  const knobs = [...new Set([...first.advice.recommendations, ...last.advice.recommendations].map((recommendation) => recommendation.knob))]
  const changes: string[] = []
  for (const knob of knobs) {
    const before = describeChange(first.advice.recommendations.find((recommendation) => recommendation.knob === knob))
    const after = describeChange(last.advice.recommendations.find((recommendation) => recommendation.knob === knob))
    if (before !== after) changes.push(`${knob}: ${before} in ${first.label}, ${after} in ${last.label}`)
  }
  return changes
}

export function describePlanShort(result: StormResult): string {
  const {plan} = result
  switch (plan.mode) {
    case 'burst': {
      return `burst of ${plan.connects}`
    }
    case 'rate': {
      return `${plan.rate}/s for ${formatMs(plan.durationMs ?? 0)} (${plan.connects})`
    }
    case 'waves': {
      return `${plan.waves} waves of ${plan.burst} every ${formatMs(plan.intervalMs ?? 0)}`
    }
  }
}

export function withShare(n: number, of: number): string {
  return of > 0 && n > 0 ? `${n} (${((n / of) * 100).toFixed(1)} %)` : String(n)
}

function countChange(before: number | null, after: number | null): string {
  if (before === null || after === null) return NONE
  if (before === after) return '='
  return after > before ? `+${after - before}` : `−${before - after}`
}

function ratioChange(before: number | null, after: number | null): string {
  if (before === null || after === null) return NONE
  if (before === after) return '='
  if (before === 0) return '+∞'
  if (after === 0) return '−100 %'
  // Large factors read better as factors: 2.05 s → 3.5 ms is "÷586", not "−99.8 %".
  const ratio = after / before
  if (ratio >= 2) return `×${ratio >= 10 ? Math.round(ratio) : ratio.toFixed(1)}`
  if (ratio <= 0.5) return `÷${1 / ratio >= 10 ? Math.round(1 / ratio) : (1 / ratio).toFixed(1)}`
  const percent = (ratio - 1) * 100
  return `${percent > 0 ? '+' : '−'}${Math.abs(percent) >= 10 ? Math.round(Math.abs(percent)) : Math.abs(percent).toFixed(1)} %`
}
