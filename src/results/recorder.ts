import type {FailureOutcome, Outcome} from './outcome.js'
import {emptyOutcomeCounts} from './outcome.js'
import {type Histogram, newLatencyHistogram} from './histogram.js'
import {Timeline} from './timeline.js'

/** A start more than this far behind its intended time counts as late. */
export const LATE_START_THRESHOLD_US = 1000

/**
 * Everything the engine measures, in constant memory: counters and HDR histograms, never a
 * per-connect array, so a run of millions of connects costs the same as a run of ten.
 */
export class StormRecorder {
  /** connect latency from the intended start: includes any wait for a slot (coordinated-omission safe) */
  readonly fromIntended = newLatencyHistogram()
  /** connect latency from the moment the tool asked the OS to connect */
  readonly fromActual = newLatencyHistogram()
  /** time from actual start to a failure (refused, reset, timeout …) */
  readonly failedFromActual = newLatencyHistogram()
  /** the same for failures other than timeouts: their time places them on the SYN ladder */
  readonly failedEarlyFromActual = newLatencyHistogram()
  /** how far behind its intended start each connect actually started */
  readonly startLag = newLatencyHistogram()
  readonly byOutcome = emptyOutcomeCounts()
  /** errno codes of `other` failures, so nothing unclassified is lost */
  readonly otherErrnos: Record<string, number> = {}
  /** timeouts that were the kernel's ETIMEDOUT rather than ours */
  kernelTimeouts = 0
  attempted = 0
  lateStarts = 0
  /** completions per time bin since the run's start, for the timeline chart */
  readonly timeline = new Timeline()

  recordStart(lagUs: number): void {
    this.attempted++
    recordMicros(this.startLag, lagUs)
    if (lagUs > LATE_START_THRESHOLD_US) this.lateStarts++
  }

  recordConnected(fromIntendedUs: number, fromActualUs: number): void {
    this.byOutcome.connected++
    recordMicros(this.fromIntended, fromIntendedUs)
    recordMicros(this.fromActual, fromActualUs)
  }

  recordFailure(outcome: FailureOutcome, fromActualUs: number, errno?: string): void {
    this.byOutcome[outcome]++
    recordMicros(this.failedFromActual, fromActualUs)
    if (outcome !== 'timeout') recordMicros(this.failedEarlyFromActual, fromActualUs)
    if (outcome === 'other') this.otherErrnos[errno ?? 'unknown'] = (this.otherErrnos[errno ?? 'unknown'] ?? 0) + 1
    if (errno === 'ETIMEDOUT') this.kernelTimeouts++
  }

  get finished(): number {
    let total = 0
    for (const count of Object.values(this.byOutcome)) total += count
    return total
  }

  outcomeCount(outcome: Outcome): number {
    return this.byOutcome[outcome]
  }
}

function recordMicros(histogram: Histogram, us: number): void {
  // Sub-microsecond values would be lost as 0 by the histogram; 1 µs is its floor.
  histogram.recordValue(Math.max(1, Math.round(us)))
}
