import {NATIVE_ERROR_CODE, nativeAddon} from '../native/addon.js'
import {type Plan, intendedOffsetMs} from '../plan/plan.js'
import type {ResolvedTarget} from '../plan/target.js'
import {ProbeRecorder} from '../probe/recorder.js'
import {RESET_BEFORE_PROBE, type ProbeReport} from '../probe/run.js'
import {classifyErrno, connectedThenReset} from '../results/outcome.js'
import {StormRecorder} from '../results/recorder.js'
import {type NativeFailureTallySink, NativeConnectLoop, type NativeProbe, type NativeRecordSink, type NativeTallySink, handOverTallies, nativeLoopAvailable} from './native-connect.js'
import type {SourceBinding} from './source-binding.js'

/**
 * How often the event loop drains the native loop's records and feeds it starts (the loop holds
 * seconds of both). Each drain is work on a core the loop may share: 50 ms kept late-start p99
 * at 20 000/s at ~0.1–0.6 ms here where 10 ms and 250 ms gave 1.5–4 ms (alternating runs).
 */
const NATIVE_POLL_MS = 50

/**
 * Drains between two takes of the loop's tallies that nobody asked for: every 10 s, which bounds
 * the loop's timeline tally (by ms) in a long run. Otherwise they are taken when read (the live
 * display, takeTallies) and at the end: a take is main-thread work on a core the loop may share,
 * and taken at every 50 ms drain (or every 1 s) they made the paced 20,000/s late-start p99 about
 * twice what it was when taken at the end only (docs/performance.md, "The loop's neighbours").
 */
const DRAINS_PER_TAKE = 200

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
  private drainsSinceTake = 0

  /** reused for every probe the loop reports: ProbeRecorder.record reads it and keeps nothing */
  private readonly probeReport: ProbeReport = {outcome: 'ok', respondedAt: null, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}

  private constructor(
    private readonly loop: NativeConnectLoop,
    private readonly into: NativeRecordTarget,
  ) {
    // A plain object of the warm-up's shape: code optimized for the warm-up's would not fit the engine's.
    const sinks = tallySinks({recorder: into.recorder, probes: into.probes})
    this.tallied = sinks.tallied
    this.talliedFailures = sinks.failed
  }

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
    if (++this.drainsSinceTake === DRAINS_PER_TAKE) this.takeTallies()
    // Finished: settle() takes the rest.
    if (this.takeProgress().finished) return true
    this.pollTimer = setTimeout(onTick, NATIVE_POLL_MS)
    return false
  }

  /** Adds what the loop tallied since the last take to the recorder. */
  takeTallies(): void {
    this.drainsSinceTake = 0
    if (!this.stopped) this.loop.take(this.tallied, this.talliedFailures)
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

  /**
   * What the loop recorded itself (connected with no retransmit, no probe or an ok one): added
   * bucket by bucket; and the failures it tallied, as record() below records a 'failed' or
   * 'timeout' one. Made by tallySinks(), as the warm-up's are (warmTallyRecording).
   */
  private readonly tallied: NativeTallySink
  private readonly talliedFailures: NativeFailureTallySink

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

/**
 * The take's sinks into `into`: every run's and the warm-up's closures come from these two
 * literals, so V8's optimized code for them, made during the warm-up, serves the run.
 */
function tallySinks(into: Pick<NativeRecordTarget, 'recorder' | 'probes'>): {tallied: NativeTallySink; failed: NativeFailureTallySink} {
  return {
    tallied: (kind, value, count, retransmits) => recordTallied(into, kind, value, count, retransmits),
    failed: (kind, value, count, errno, retransmits) => recordTalliedFailure(into, kind, value, count, errno, retransmits),
  }
}

/** A tallied entry into the run's recorder: module-level, so the warm-up optimizes this very code. */
function recordTallied(into: Pick<NativeRecordTarget, 'recorder' | 'probes'>, kind: Parameters<NativeTallySink>[0], value: number, count: number, retransmits: number): void {
  const {recorder, probes} = into
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

function recordTalliedFailure(into: Pick<NativeRecordTarget, 'recorder'>, kind: 'failed' | 'timelineFailed', value: number, count: number, errno: string | null, retransmits: number | null): void {
  const {recorder} = into
  if (kind === 'timelineFailed') {
    recorder.timeline.record(value, 'failed', count)
    return
  }
  recorder.addTalliedFailure(errno === null ? 'timeout' : classifyErrno(errno), errno ?? undefined, value, count, retransmits)
}

/**
 * Synthetic takes through the code a run's takes use (handOverTallies, recordTallied and the
 * recorders' histograms), into recorders that are thrown away: before the clock starts, so that V8
 * optimizes that code then. Without it, it was compiled in the run's first ~0.5 s — 50 ms of
 * TurboFan on V8's worker threads (take 29 ms, tallied 16 ms, recordCountAtValue 7 ms, --trace-opt),
 * which took the connect loop's core in pieces of up to a 4 ms tick (docs/performance.md).
 */
export function warmTallyRecording(): void {
  if (!nativeLoopAvailable()) return
  const {TALLY_FIELDS, TALLY_RETRANSMITTED, TALLY_TIMELINE_FAILED, TALLY_FAILED_BASE} = nativeAddon!.constants
  // What a take of a busy run holds: every kind, latencies spread over many buckets, timeline ms,
  // connects after 1–3 retransmits, refusals (ECONNREFUSED, 111) and timeouts.
  const entries: number[] = []
  const add = (kind: number, value: number, count: number): void => {
    entries.push(kind, value, count)
  }
  for (let i = 0; i < 200; i++) {
    const us = Math.round(20 * 1.04 ** i)
    for (const kind of [0, 1, 2, 5, 6]) add(kind, us, 1 + (i % 5))
    add(3, i, 7)
    if (i % 10 === 0) add(4, 0, 1)
    if (i % 4 === 0) add(7, 200_000 + us, 1)
    add(TALLY_RETRANSMITTED + (i % 3), 1_000_000 + us, 2)
    add(TALLY_FAILED_BASE + (111 + 1) * 32 + 1, us, 1)
    add(TALLY_FAILED_BASE + 0 * 32 + 2, 1_000_000 + us, 1)
    add(TALLY_TIMELINE_FAILED, i, 2)
  }
  const out = Float64Array.from(entries)
  const count = out.length / TALLY_FIELDS
  const {tallied, failed} = tallySinks({recorder: new StormRecorder(), probes: new ProbeRecorder()})
  for (let round = 0; round < 40; round++) handOverTallies(out, count, tallied, failed)
}
