import type {CountedRetransmits} from './format.js'
import type {FailureOutcome, Outcome} from './outcome.js'
import {emptyOutcomeCounts} from './outcome.js'
import {type Histogram, decodeHistogram, encodeHistogram, newLatencyHistogram} from './histogram.js'
import {Timeline, type TimelineData} from './timeline.js'

/** A start more than this far behind its intended time counts as late. */
export const LATE_START_THRESHOLD_US = 1000

const HISTOGRAMS = ['fromIntended', 'fromActual', 'failedFromActual', 'failedEarlyFromActual', 'startLag'] as const
type HistogramName = (typeof HISTOGRAMS)[number]

/** A recorder's content in a form a worker thread can post: histograms encoded, counts copied. */
export interface RecorderSnapshot {
  histograms: Record<HistogramName, string>
  byOutcome: Record<Outcome, number>
  otherErrnos: Record<string, number>
  kernelTimeouts: number
  attempted: number
  lateStarts: number
  timeline: TimelineData
  retransmits: CountedRetransmits
  connectedThenReset: number
}

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
  /** connects counted as connected that the peer reset before the client saw them connect (results/outcome.ts) */
  connectedThenReset = 0
  attempted = 0
  lateStarts = 0
  /** completions per time bin since the run's start, for the timeline chart */
  readonly timeline = new Timeline()
  /**
   * The kernel's own count (TCP_INFO) of each connect's SYN retransmits, per outcome: outcome →
   * retransmits → connects. Constant memory: the kernel sends at most tcp_syn_retries (≤ 127) of them.
   */
  readonly retransmits: CountedRetransmits = {byOutcome: {}, notCounted: 0}
  /**
   * connected connects' latency from the actual start, per counted retransmits: part of
   * `retransmits` (a snapshot carries it there, as connectedFromActual), hence no field of its own
   */
  readonly #latencyByRetransmits = new Map<number, Histogram>()

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

  /**
   * A connect whose handshake completed but which was reset before the client saw it connect
   * (ECONNRESET from connect(), results/outcome.ts): a connected connect, latency and all, and one
   * of counts.connectedThenReset.
   */
  recordConnectedThenReset(fromIntendedUs: number, fromActualUs: number): void {
    this.recordConnected(fromIntendedUs, fromActualUs)
    this.connectedThenReset++
  }

  recordFailure(outcome: FailureOutcome, fromActualUs: number, errno?: string): void {
    this.byOutcome[outcome]++
    recordMicros(this.failedFromActual, fromActualUs)
    if (outcome !== 'timeout') recordMicros(this.failedEarlyFromActual, fromActualUs)
    if (outcome === 'other') this.otherErrnos[errno ?? 'unknown'] = (this.otherErrnos[errno ?? 'unknown'] ?? 0) + 1
    if (errno === 'ETIMEDOUT') this.kernelTimeouts++
  }

  /**
   * What the native loop tallied itself, one call per HDR bucket instead of one per connect: `count`
   * connects that connected (native/connect-loop.c), whose latency of this kind fell in the bucket
   * of `valueUs` (a whole number of µs); for fromActual, after `retransmits` SYN retransmits. The
   * same as recordStart / recordConnected / recordRetransmits('connected', retransmits) of each of
   * them. lateStarts: `count` late starts.
   */
  addTallied(kind: 'startLag' | 'fromIntended' | 'fromActual' | 'lateStarts', valueUs: number, count: number, retransmits = 0): void {
    if (kind === 'lateStarts') {
      this.lateStarts += count
      return
    }
    this[kind].recordValueWithCount(valueUs, count)
    if (kind === 'startLag') {
      this.attempted += count
    } else if (kind === 'fromActual') {
      this.byOutcome.connected += count
      const perCount = (this.retransmits.byOutcome.connected ??= {})
      perCount[retransmits] = (perCount[retransmits] ?? 0) + count
      let histogram = this.#latencyByRetransmits.get(retransmits)
      if (histogram === undefined) this.#latencyByRetransmits.set(retransmits, (histogram = newLatencyHistogram()))
      histogram.recordValueWithCount(valueUs, count)
    }
  }

  /**
   * What the native loop tallied of the connects that failed, one call per HDR bucket: `count`
   * failures of this outcome (errno as recordFailure takes it) whose latency from the actual start
   * fell in the bucket of `valueUs`, with `retransmits` SYN retransmits each (null: not counted).
   * The same as recordFailure and recordRetransmits of each of them (their starts come as
   * addTallied('startLag'), their timeline entries apart).
   */
  addTalliedFailure(outcome: FailureOutcome, errno: string | undefined, valueUs: number, count: number, retransmits: number | null): void {
    this.byOutcome[outcome] += count
    this.failedFromActual.recordValueWithCount(valueUs, count)
    if (outcome !== 'timeout') this.failedEarlyFromActual.recordValueWithCount(valueUs, count)
    if (outcome === 'other') this.otherErrnos[errno ?? 'unknown'] = (this.otherErrnos[errno ?? 'unknown'] ?? 0) + count
    if (errno === 'ETIMEDOUT') this.kernelTimeouts += count
    if (retransmits === null) {
      this.retransmits.notCounted += count
      return
    }
    const perCount = (this.retransmits.byOutcome[outcome] ??= {})
    perCount[retransmits] = (perCount[retransmits] ?? 0) + count
  }

  /**
   * One connect's SYN retransmits as the kernel counted them, read before its socket was closed;
   * null when they could not be read (no addon, or a socket already closed).
   */
  recordRetransmits(outcome: Outcome | 'pending', retransmits: number | null, fromActualUs?: number): void {
    if (retransmits === null) {
      this.retransmits.notCounted++
      return
    }
    const perCount = (this.retransmits.byOutcome[outcome] ??= {})
    perCount[retransmits] = (perCount[retransmits] ?? 0) + 1
    if (outcome === 'connected' && fromActualUs !== undefined) {
      let histogram = this.#latencyByRetransmits.get(retransmits)
      if (histogram === undefined) this.#latencyByRetransmits.set(retransmits, (histogram = newLatencyHistogram()))
      recordMicros(histogram, fromActualUs)
    }
  }

  /** What the result's counts.countedRetransmits says: null when no connect was counted (no addon). */
  countedRetransmits(): CountedRetransmits | null {
    return Object.keys(this.retransmits.byOutcome).length === 0 ? null : this.retransmitsSnapshot()
  }

  private retransmitsSnapshot(): CountedRetransmits {
    const snapshot = copyRetransmits(this.retransmits)
    if (this.#latencyByRetransmits.size > 0)
      snapshot.connectedFromActual = Object.fromEntries([...this.#latencyByRetransmits].map(([retransmits, histogram]) => [String(retransmits), encodeHistogram(histogram)]))
    return snapshot
  }

  get finished(): number {
    let total = 0
    for (const count of Object.values(this.byOutcome)) total += count
    return total
  }

  outcomeCount(outcome: Outcome): number {
    return this.byOutcome[outcome]
  }

  snapshot(): RecorderSnapshot {
    return {
      histograms: Object.fromEntries(HISTOGRAMS.map((name) => [name, encodeHistogram(this[name])])) as Record<HistogramName, string>,
      byOutcome: {...this.byOutcome},
      otherErrnos: {...this.otherErrnos},
      kernelTimeouts: this.kernelTimeouts,
      connectedThenReset: this.connectedThenReset,
      attempted: this.attempted,
      lateStarts: this.lateStarts,
      timeline: this.timeline.toJSON(),
      retransmits: this.retransmitsSnapshot(),
    }
  }

  /** Adds another recorder's snapshot (a worker's): histograms by HDR add, counts summed. */
  add(other: RecorderSnapshot): void {
    for (const name of HISTOGRAMS) this[name].add(decodeHistogram(other.histograms[name]))
    for (const [outcome, n] of Object.entries(other.byOutcome)) this.byOutcome[outcome as Outcome] += n
    for (const [code, n] of Object.entries(other.otherErrnos)) this.otherErrnos[code] = (this.otherErrnos[code] ?? 0) + n
    this.kernelTimeouts += other.kernelTimeouts
    this.connectedThenReset += other.connectedThenReset
    this.attempted += other.attempted
    this.lateStarts += other.lateStarts
    this.timeline.add(other.timeline)
    addRetransmits(this.retransmits, {...other.retransmits, connectedFromActual: undefined})
    for (const [retransmits, encoded] of Object.entries(other.retransmits.connectedFromActual ?? {})) {
      const histogram = this.#latencyByRetransmits.get(Number(retransmits))
      if (histogram === undefined) this.#latencyByRetransmits.set(Number(retransmits), decodeHistogram(encoded))
      else histogram.add(decodeHistogram(encoded))
    }
  }
}

function recordMicros(histogram: Histogram, us: number): void {
  // Sub-microsecond values would be lost as 0 by the histogram; 1 µs is its floor.
  histogram.recordValue(Math.max(1, Math.round(us)))
}

function copyRetransmits(counts: CountedRetransmits): CountedRetransmits {
  return {byOutcome: Object.fromEntries(Object.entries(counts.byOutcome).map(([outcome, perCount]) => [outcome, {...perCount}])), notCounted: counts.notCounted}
}

/** Adds `other`'s counts (and its per-count latency histograms, by HDR add) into `into`: a shard's at a merge. */
export function addRetransmits(into: CountedRetransmits, other: CountedRetransmits): void {
  for (const [outcome, perCount] of Object.entries(other.byOutcome) as [keyof CountedRetransmits['byOutcome'], Record<string, number>][]) {
    const target = (into.byOutcome[outcome] ??= {})
    for (const [retransmits, n] of Object.entries(perCount)) target[retransmits] = (target[retransmits] ?? 0) + n
  }
  into.notCounted += other.notCounted
  for (const [retransmits, encoded] of Object.entries(other.connectedFromActual ?? {})) {
    into.connectedFromActual ??= {}
    const mine = into.connectedFromActual[retransmits]
    if (mine === undefined) {
      into.connectedFromActual[retransmits] = encoded
    } else {
      const sum = decodeHistogram(mine)
      sum.add(decodeHistogram(encoded))
      into.connectedFromActual[retransmits] = encodeHistogram(sum)
    }
  }
}
