import {NATIVE_ERROR_CODE} from '../native/addon.js'
import {type Plan, intendedOffsetMs} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import type {ProbeRecorder} from '../probe/recorder.js'
import {RESET_BEFORE_PROBE, type ProbeReport} from '../probe/run.js'
import {classifyErrno, connectedThenReset} from '../results/outcome.js'
import type {StormRecorder} from '../results/recorder.js'
import {type NativeFailureTallySink, NativeConnectLoop, type NativeProbe, type NativeRecordSink, type NativeTallySink} from './native-connect.js'
import type {SourceBinding} from './source-binding.js'

/**
 * How often the event loop drains the native loop's records and feeds it starts (the loop holds
 * seconds of both). Each drain is work on a core the loop may share: 50 ms kept late-start p99
 * at 20 000/s at ~0.1–0.6 ms here where 10 ms and 250 ms gave 1.5–4 ms (alternating runs).
 */
const NATIVE_POLL_MS = 50

/** Where the driver puts what the loop did: the same recorder and timeline as the event-loop paths. */
export interface NativeRecordTarget {
  readonly recorder: StormRecorder
  /** what the probes found (null: no --probe) */
  readonly probes: ProbeRecorder | null
  recordConnectedAt(atMs: number, fromIntendedUs: number, fromActualUs: number): void
  recordConnectedThenResetAt(atMs: number, fromIntendedUs: number, fromActualUs: number): void
  recordFailedAt(atMs: number, outcome: ReturnType<typeof classifyErrno>, fromActualUs: number, errno?: string): void
}

/**
 * Drives the native connect loop (native-connect.ts) for one run from Node's event loop: feeds it
 * the schedule, drains its records into the recorder every NATIVE_POLL_MS, and follows its
 * progress. The loop's thread makes every connect; this module only moves data to and from it.
 */
export class NativeDriver {
  /** connects the loop has started */
  launched = 0
  /** its in-flight connects at its last report (it keeps its own list) */
  inFlight = 0
  /** connects it abandoned at a stop: their starts count, their ends do not */
  pending = 0
  /** ms from the run's start to the loop's last start, once it has started one */
  lastStartMs: number | null = null
  /** --close hold: connections the loop holds open (after settle(): those it held when stopped) */
  held = 0
  private pollTimer: NodeJS.Timeout | undefined
  private stopped = false

  /** reused for every probe the loop reports: ProbeRecorder.record reads it and keeps nothing */
  private readonly probeReport: ProbeReport = {outcome: 'ok', respondedAt: null, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}

  private constructor(
    private readonly loop: NativeConnectLoop,
    private readonly into: NativeRecordTarget,
  ) {}

  /**
   * The loop for this run, its first starts fed (before the clock starts); a reason instead when
   * the addon refuses it (the JavaScript paths then make the connects: connect-path.ts afterNative).
   */
  static make(
    plan: Plan,
    target: ResolvedTarget,
    sourceBinding: SourceBinding | null,
    probe: NativeProbe | null,
    into: NativeRecordTarget,
    onEnd: () => void,
  ): NativeDriver | {refused: string} {
    try {
      const loop = new NativeConnectLoop(
        target,
        {
          close: plan.close,
          timeoutMs: plan.timeoutMs,
          concurrency: plan.concurrency,
          total: plan.connects,
          ...(probe ? {probe} : {}),
          // CONNSTORM_NATIVE_TALLY=0: every connect as a record, none tallied in the loop (to compare the two)
          ...(process.env.CONNSTORM_NATIVE_TALLY === '0' ? {tally: false} : {}),
        },
        {
          intendedOffsetMs: (index) => intendedOffsetMs(plan, index),
          ...(sourceBinding && plan.sources ? {sources: {addresses: plan.sources, endpointFor: (index: number) => sourceBinding.endpointFor(index)}} : {}),
        },
        // The loop has ended: finish now, not at the next drain. Through setImmediate, so that an
        // exception in it surfaces like one from the drain timer (a threadsafe callback's is swallowed).
        () => setImmediate(onEnd),
      )
      return new NativeDriver(loop, into)
    } catch (error) {
      // The addon refused this run. Anything else is a bug of ours.
      if ((error as NodeJS.ErrnoException | null)?.code !== NATIVE_ERROR_CODE) throw error
      return {refused: `the native loop refused this run (${(error as Error).message})`}
    }
  }

  /** Starts the loop's thread on the run's clock; false when no thread could be made. */
  begin(runStartUs: number, onTick: () => void): boolean {
    if (!this.loop.begin(runStartUs)) return false
    this.pollTimer = setTimeout(onTick, NATIVE_POLL_MS)
    return true
  }

  /** One drain: feeds starts, records what ended, takes the progress; true once the loop has finished. */
  tick(onTick: () => void): boolean {
    clearTimeout(this.pollTimer)
    this.pollTimer = undefined
    if (this.stopped) return false
    this.loop.feed()
    this.loop.drain(this.record)
    // At every drain: a take of 250 ms of tallies at once is a longer stretch of the main thread on
    // a core the loop may need, and late starts come from the longest stretches (docs/performance.md).
    this.loop.take(this.tallied, this.talliedFailures)
    // Finished: settle() takes the rest.
    if (this.takeProgress().finished) return true
    this.pollTimer = setTimeout(onTick, NATIVE_POLL_MS)
    return false
  }

  /** What the loop did since the last drain (its starts, in flight, last start). */
  takeProgress(): {finished: boolean; failure: string | null} {
    const progress = this.loop.progress()
    this.launched = progress.launched
    this.inFlight = progress.inFlight
    this.held = progress.held
    if (progress.launched > 0) this.lastStartMs = progress.lastStartMs
    return progress
  }

  /** Asks the loop to abandon what is in flight and end (its records are taken by settle()). */
  requestStop(): void {
    this.stopped = true
    clearTimeout(this.pollTimer)
    this.loop.stop()
  }

  /** After a stop (or the loop's own end): waits for its thread, takes the last records, joins it. */
  async settle(): Promise<void> {
    this.stopped = true
    clearTimeout(this.pollTimer)
    this.loop.stop()
    // The loop ends within ~2 ms of a stop; it finishes recording before it says so.
    while (!this.takeProgress().finished) {
      this.loop.drain(this.record)
      this.loop.take(this.tallied, this.talliedFailures)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    this.loop.drain(this.record)
    this.loop.take(this.tallied, this.talliedFailures)
    this.loop.join()
    this.inFlight = 0
    const {failure} = this.loop.progress()
    if (failure !== null) throw new Error(`internal: the native connect loop ended early: waiting for completions failed with ${failure}`)
  }

  /** What the loop recorded itself (connected with no retransmit, no probe or an ok one): added bucket by bucket. */
  private tallied: NativeTallySink = (kind, value, count, retransmits) => {
    const {recorder, probes} = this.into
    switch (kind) {
      case 'timeline': {
        recorder.timeline.record(value, 'connected', count)
        break
      }
      case 'firstByte':
      case 'responseAfterConnect':
      case 'acceptWait': {
        if (probes === null) throw new Error('internal: the native loop tallied a probe on a run without one')
        probes.addTallied(kind, value, count)
        break
      }
      default: {
        recorder.addTallied(kind, value, count, retransmits)
      }
    }
  }

  /** The failures the loop tallied itself: as record() below records a 'failed' or 'timeout' one. */
  private talliedFailures: NativeFailureTallySink = (kind, value, count, errno, retransmits) => {
    const {recorder} = this.into
    if (kind === 'timelineFailed') {
      recorder.timeline.record(value, 'failed', count)
      return
    }
    recorder.addTalliedFailure(errno === null ? 'timeout' : classifyErrno(errno), errno ?? undefined, value, count, retransmits)
  }

  private record: NativeRecordSink = (outcome, startLagUs, fromStartUs, endMs, retransmits, probe) => {
    const {recorder, probes} = this.into
    recorder.recordStart(startLagUs)
    switch (outcome.kind) {
      case 'connected': {
        this.into.recordConnectedAt(endMs, startLagUs + fromStartUs, fromStartUs)
        recorder.recordRetransmits('connected', retransmits, fromStartUs)
        if (probe === null || probes === null) break
        if (probe.outcome === 'pending') {
          probes.pending++ // still waiting for its reply when the run stopped, as on net.Socket
          break
        }
        // On the run's clock with the intended start at 0: the recorder takes differences only.
        const connectedAtMs = (startLagUs + fromStartUs) / 1000
        const report = this.probeReport
        report.outcome = probe.outcome
        report.respondedAt = probe.firstByteAfterConnectUs === null ? null : connectedAtMs + probe.firstByteAfterConnectUs / 1000
        report.errorCode = probe.errorCode
        probes.record(report, 0, connectedAtMs)
        break
      }
      case 'failed': {
        if (connectedThenReset(outcome.code)) {
          // The handshake completed; the reset came before the loop saw it connect (results/outcome.ts).
          this.into.recordConnectedThenResetAt(endMs, startLagUs + fromStartUs, fromStartUs)
          recorder.recordRetransmits('connected', retransmits, fromStartUs)
          // Its probe could not start: as on net.Socket (src/probe/run.ts RESET_BEFORE_PROBE).
          probes?.record(RESET_BEFORE_PROBE, 0, (startLagUs + fromStartUs) / 1000)
          break
        }
        const failure = classifyErrno(outcome.code)
        this.into.recordFailedAt(endMs, failure, fromStartUs, outcome.code)
        recorder.recordRetransmits(failure, retransmits)
        break
      }
      case 'timeout': {
        this.into.recordFailedAt(endMs, 'timeout', fromStartUs)
        recorder.recordRetransmits('timeout', retransmits)
        break
      }
      case 'pending': {
        this.pending++
        recorder.recordRetransmits('pending', retransmits)
        break
      }
    }
  }
}
