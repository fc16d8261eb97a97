import {decodeHistogram} from './histogram.js'
import type {StormResult} from './format.js'

/**
 * The identities every result this connstorm writes satisfies, whatever the run: a burst, a rate,
 * waves, probes, --close hold, timeouts, a run stopped by its deadline or by Ctrl-C, several
 * --workers, a merge of shards. They follow from how the numbers are made (results/recorder.ts
 * counts every start once and every end once, as exactly one outcome; engine/storm.ts reports what
 * was still in flight at a stop as pending; results/merge.ts sums all of them), so a file that
 * breaks one was edited or corrupted: its report would print impossible numbers ("connected 999
 * of 20"). The schema (results/schema.ts) checks each field alone; this checks them together.
 *
 * Only sections the file has are checked: schema 1 leaves many optional (older files lack them).
 */

/** The first contradiction, as one line naming the fields and their values; null when none. */
export function contradiction(result: StormResult): string | null {
  for (const check of CHECKS) {
    const problem = check(result)
    if (problem !== null) return problem
  }
  return null
}

type Check = (result: StormResult) => string | null

const sum = (values: Iterable<number>): number => {
  let total = 0
  for (const value of values) total += value
  return total
}

/** Every outcome in byOutcome but connected is a failure (schema 1 allows outcomes added later). */
function failureOutcomes(result: StormResult): number {
  return sum(Object.entries(result.counts.byOutcome).filter(([outcome]) => outcome !== 'connected').map(([, n]) => n))
}

interface SourceCounts {
  counts: {attempted: number; connected: number; failed: number}
}

function hasCounts(source: unknown): source is SourceCounts {
  const counts = (source as Partial<SourceCounts> | null)?.counts
  return typeof counts === 'object' && counts !== null && ['attempted', 'connected', 'failed'].every((field) => typeof (counts as Record<string, unknown>)[field] === 'number')
}

function histogramCount(encoded: string): number {
  return decodeHistogram(encoded).totalCount
}

const CHECKS: Check[] = [
  // The kernel's counts per connect: never more counted connects of an outcome than ended so.
  ({counts}) => {
    for (const [outcome, byRetransmits] of Object.entries(counts.countedRetransmits?.byOutcome ?? {})) {
      const counted = sum(Object.values(byRetransmits ?? {}))
      const ended = outcome === 'pending' ? counts.pending : counts.byOutcome[outcome as keyof typeof counts.byOutcome]
      if (ended !== undefined && counted > ended) return `counts.countedRetransmits.byOutcome.${outcome} counts ${counted} connects but counts ${outcome === 'pending' ? 'pending' : `byOutcome.${outcome}`} is ${ended}`
    }
    return null
  },
  // The outcomes: every connect that ended, ended as exactly one of them.
  ({counts}) =>
    counts.byOutcome.connected === counts.connected ? null : `counts.byOutcome.connected is ${counts.byOutcome.connected} but counts.connected is ${counts.connected}`,
  (result) => {
    const failures = failureOutcomes(result)
    return failures === result.counts.failed
      ? null
      : `the failure outcomes in counts.byOutcome add up to ${failures} but counts.failed is ${result.counts.failed}`
  },
  // Every start is counted once: it ended (connected or failed) or was still in flight at a stop.
  ({counts}) => {
    const ended = counts.connected + counts.failed + counts.pending
    return ended === counts.attempted
      ? null
      : `counts.attempted is ${counts.attempted} but counts.connected + counts.failed + counts.pending is ${ended} (${counts.connected} + ${counts.failed} + ${counts.pending})`
  },
  // The schedule: a connect of the plan was started or, at an early stop, never started.
  ({counts, plan}) => {
    if (counts.notStarted === undefined) return null
    const total = counts.attempted + counts.notStarted
    return total === plan.connects
      ? null
      : `plan.connects is ${plan.connects} but counts.attempted + counts.notStarted is ${total} (${counts.attempted} + ${counts.notStarted})`
  },
  // Only a run cut short leaves connects in flight or unstarted, and it says so.
  ({counts, stopReason}) =>
    stopReason === 'completed' && counts.pending + (counts.notStarted ?? 0) > 0
      ? `counts.pending is ${counts.pending} and counts.notStarted is ${counts.notStarted ?? 0} but stopReason is 'completed'`
      : null,
  ({partial, stopReason}) =>
    partial === (stopReason !== 'completed') ? null : `partial is ${partial} but stopReason is '${stopReason}'`,
  // The errno of every `other` failure is kept; a kernel ETIMEDOUT is one of the timeouts.
  ({counts}) => {
    if (counts.otherErrnos === undefined) return null
    const errnos = sum(Object.values(counts.otherErrnos))
    return errnos === counts.byOutcome.other
      ? null
      : `counts.otherErrnos add up to ${errnos} but counts.byOutcome.other is ${counts.byOutcome.other}`
  },
  ({counts}) =>
    counts.kernelTimeouts === undefined || counts.kernelTimeouts <= counts.byOutcome.timeout
      ? null
      : `counts.kernelTimeouts is ${counts.kernelTimeouts} but counts.byOutcome.timeout is only ${counts.byOutcome.timeout}`,
  // The histograms hold one value per connect they describe.
  ({counts, histograms}) => {
    const recorded = histogramCount(histograms.fromIntended)
    return recorded === counts.connected ? null : `histograms.fromIntended holds ${recorded} values but counts.connected is ${counts.connected}`
  },
  ({counts, histograms}) => {
    const recorded = histogramCount(histograms.fromActual)
    return recorded === counts.connected ? null : `histograms.fromActual holds ${recorded} values but counts.connected is ${counts.connected}`
  },
  ({counts, histograms}) => {
    if (histograms.failedFromActual === undefined) return null
    const recorded = histogramCount(histograms.failedFromActual)
    return recorded === counts.failed ? null : `histograms.failedFromActual holds ${recorded} values but counts.failed is ${counts.failed}`
  },
  ({counts, histograms}) => {
    if (histograms.failedEarlyFromActual === undefined) return null
    const recorded = histogramCount(histograms.failedEarlyFromActual)
    const early = counts.failed - counts.byOutcome.timeout
    return recorded === early
      ? null
      : `histograms.failedEarlyFromActual holds ${recorded} values but counts.failed − counts.byOutcome.timeout is ${early} (${counts.failed} − ${counts.byOutcome.timeout})`
  },
  // A summary states the count of the histogram it summarises.
  ({latencyUs, histograms}) => {
    for (const [name, summary] of Object.entries(latencyUs)) {
      const encoded = (histograms as Record<string, string | undefined>)[name]
      if (encoded === undefined) continue
      const recorded = histogramCount(encoded)
      if (recorded !== summary.count) return `latencyUs.${name}.count is ${summary.count} but histograms.${name} holds ${recorded} values`
    }
    return null
  },
  // The timeline bins every end once, by when it happened.
  ({counts, timeline}) => {
    if (timeline === undefined) return null
    const connected = sum(timeline.connected)
    return connected === counts.connected ? null : `timeline.connected adds up to ${connected} but counts.connected is ${counts.connected}`
  },
  ({counts, timeline}) => {
    if (timeline === undefined) return null
    const failed = sum(timeline.failed)
    return failed === counts.failed ? null : `timeline.failed adds up to ${failed} but counts.failed is ${counts.failed}`
  },
  // What the tool itself saw of its starts.
  ({counts, self}) =>
    self.lateStarts <= counts.attempted ? null : `self.lateStarts is ${self.lateStarts} but counts.attempted is only ${counts.attempted}`,
  ({counts, self}) => {
    if (self.workers === undefined) return null
    const attempted = sum(self.workers.map((worker) => worker.attempted))
    return attempted === counts.attempted ? null : `self.workers[].attempted add up to ${attempted} but counts.attempted is ${counts.attempted}`
  },
  // --close hold: only connected connections can be held.
  ({counts, heldAtEnd}) =>
    heldAtEnd === undefined || heldAtEnd <= counts.connected ? null : `heldAtEnd is ${heldAtEnd} but counts.connected is only ${counts.connected}`,
  // The attribution puts every connected connect on a ladder step or between steps, and every timeout in timedOut.
  ({counts, attribution}) => {
    if (!attribution) return null
    const onSteps = sum(attribution.steps.map((step) => step.connects))
    const between = attribution.betweenSteps.connects
    return onSteps + between === counts.connected
      ? null
      : `attribution.steps[].connects + attribution.betweenSteps.connects is ${onSteps + between} (${onSteps} + ${between}) but counts.connected is ${counts.connected}`
  },
  ({counts: runCounts, attribution}) => {
    if (!attribution) return null
    // Schema 1 says only that timedOut is a list: an entry without a count cannot be added up.
    const counts = (attribution.timedOut as unknown[]).map((group) => (group as {connects?: unknown} | null)?.connects)
    if (!counts.every((n) => typeof n === 'number')) return 'attribution.timedOut[] holds an entry without a connects count'
    const timedOut = sum(counts as number[])
    return timedOut === runCounts.byOutcome.timeout
      ? null
      : `attribution.timedOut[].connects add up to ${timedOut} but counts.byOutcome.timeout is ${runCounts.byOutcome.timeout}`
  },
  // --probe: every connected connection was probed; the probe ended or was still running at a stop.
  ({counts, probe}) => {
    if (probe === undefined || probe.pending === undefined) return null
    const probed = sum(Object.values(probe.outcomes)) + probe.pending
    return probed === counts.connected
      ? null
      : `probe.outcomes + probe.pending is ${probed} but counts.connected is ${counts.connected}`
  },
  ({probe}) => {
    if (probe === undefined) return null
    for (const [name, summary] of Object.entries(probe.latencyUs)) {
      const encoded = (probe.histograms as Record<string, string | undefined>)[`${name}Us`]
      if (encoded === undefined) continue
      const recorded = histogramCount(encoded)
      if (recorded !== summary.count) return `probe.latencyUs.${name}.count is ${summary.count} but probe.histograms.${name}Us holds ${recorded} values`
    }
    return null
  },
  // merge: the merged counts are the sums of the sources' counts.
  (result) => {
    // Schema 1 does not describe the merge's own sections: read them only when they have this shape.
    const {sources} = result as {sources?: unknown}
    if (!Array.isArray(sources) || !sources.every(hasCounts)) return null
    for (const field of ['attempted', 'connected', 'failed'] as const) {
      const total = sum(sources.map((source) => source.counts[field]))
      if (total !== result.counts[field]) return `sources[].counts.${field} add up to ${total} but counts.${field} is ${result.counts[field]}`
    }
    return null
  },
]
