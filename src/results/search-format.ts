import type {StormResult} from './format.js'

/**
 * The file `connstorm search --out` writes (and `--json` prints): every trial's whole storm result,
 * in the order they ran, and the answer they support. Types only, like format.ts.
 */

export type SearchDimension = 'burst' | 'rate'

export interface Bracket {
  /** the largest size that passed (null: none did) */
  largestPass: number | null
  /** the smallest size that failed (null: none did, up to the search's max) */
  smallestFail: number | null
}

/** answered: the bracket is as narrow as the resolution; the others say which bound stopped the search */
export type SearchStopReason = 'answered' | 'max-trials' | 'max-duration' | 'interrupted' | 'cannot-bisect'

export interface SearchTrialRecord {
  /** connects in the burst, or connects per second */
  size: number
  /** a repeat of the largest passing size, to confirm the answer */
  confirming: boolean
  /** why the search chose this size */
  why: string
  /** null: the trial stopped the search (see the file's `stop`) */
  pass: boolean | null
  /** connects on ladder step 0 */
  admittedAtOnce: number | null
  /** for a failed trial: what failed it */
  failedBecause: string | null
  result: StormResult
}

export interface SearchFile {
  schemaVersion: 1
  kind: 'search'
  tool: {name: string; version: string}
  startedAt: string
  durationMs: number
  /** the TARGET as given, or null: a built-in lab per trial */
  target: string | null
  dimension: SearchDimension
  /** ndr: no connect on a retransmit step and none failed; pdr: every threshold held */
  criterion: {kind: 'ndr' | 'pdr'; thresholds: string[]}
  settings: {start: number; max: number; maxTrials: number; maxDurationMs: number; settleMs: number}
  trials: SearchTrialRecord[]
  bracket: Bracket
  /** the largest pass was repeated and passed again */
  confirmed: boolean
  stopReason: SearchStopReason
  /** with cannot-bisect: why */
  stop: string | null
  /** --expect-burst / --expect-rate: the peak the user stated, for the sizing line (absent: none) */
  expected?: number | null
}
