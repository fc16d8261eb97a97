import {getSystemErrorName} from 'node:util'

import {type NativeAddon, type NativeRunHandle, nativeAddon as addon} from '../native/addon.js'
import {PROBE_OUTCOMES, type ProbeOutcome} from '../results/outcome.js'
import type {SourceEndpoint} from './source-binding.js'

/**
 * The native connect loop (native/connect-loop.c): connects and closes on a thread of its own and
 * hands each outcome back here.
 *
 * Why: at 20 000 connects/s one event loop is ~75 % busy with the connects alone (the kernel's
 * ~30 µs each, plus ours), so every few-ms stall of this machine's scheduler left a backlog that
 * took tens of ms to drain, and late-start p99 was 4–60 ms where a native loop keeps ~0.1 ms
 * (bench/README.md, History). On its own thread the loop launches every due start within µs,
 * without delaying the completions JavaScript would otherwise handle in between, and Node's event
 * loop only drains records into the same recorder every few ms.
 *
 * Used for connect and close, --source included, for the first-byte probes (--probe send:/banner,
 * with --expect: the loop writes, waits for the reply and times it as src/probe/run.ts does on a
 * net.Socket) and for --close hold (the loop keeps the descriptors until the run stops: no
 * JavaScript object per held connection). CONNSTORM_SOCKET_PATH=handle (bare handles) or =net
 * (net.Socket) turns it off; a machine without a compiler at install time has no addon.
 */

/** Whether the addon is built and loads here (and was not turned off). */
export function nativeLoopAvailable(): boolean {
  return addon !== null
}

/** How one connect ended, as the loop reports it. */
export type NativeOutcome =
  | {kind: 'connected'}
  | {kind: 'failed'; code: string}
  | {kind: 'timeout'}
  /** still connecting when the run stopped: its start counts, its end does not */
  | {kind: 'pending'}

/**
 * What the loop's probe on a connected connection found: its outcome (or pending: still waiting
 * when the run stopped), µs from the connect to the first reply byte (null: none came), and the
 * errno of a reset or error.
 */
export interface NativeProbeResult {
  outcome: ProbeOutcome | 'pending'
  firstByteAfterConnectUs: number | null
  errorCode: string | null
}

/**
 * One finished (or abandoned) connect: times in µs, `endMs` from the loop's start (when it
 * connected, for a probed one), its SYN retransmits as the kernel counted them (TCP_INFO, read
 * before close), null when none was read, and its probe's result (null: no probe ran on it).
 */
export type NativeRecordSink = (
  outcome: NativeOutcome,
  startLagUs: number,
  fromStartUs: number,
  endMs: number,
  retransmits: number | null,
  probe: NativeProbeResult | null,
) => void

const CONNECTED: NativeOutcome = {kind: 'connected'}
const TIMEOUT: NativeOutcome = {kind: 'timeout'}
const PENDING: NativeOutcome = {kind: 'pending'}
/** failed outcomes by errno, made once each: a storm of 100 000 refusals makes one object */
const failedByErrno = new Map<number, NativeOutcome>()

function outcomeOf(value: number, constants: NativeAddon['constants']): NativeOutcome {
  if (value === 0) return CONNECTED
  if (value === constants.OUTCOME_TIMEOUT) return TIMEOUT
  if (value === constants.OUTCOME_PENDING) return PENDING
  let failed = failedByErrno.get(value)
  if (failed === undefined) {
    failed = {kind: 'failed', code: getSystemErrorName(-value)}
    failedByErrno.set(value, failed)
  }
  return failed
}

function probeResultOf(outcome: number, firstByteUs: number, errno: number, constants: NativeAddon['constants']): NativeProbeResult | null {
  if (outcome === constants.PROBE_NONE) return null
  const kind = outcome === constants.PROBE_PENDING ? 'pending' : PROBE_OUTCOMES[outcome]
  if (kind === undefined) throw new Error(`internal: the native loop reported probe outcome ${outcome}`)
  return {outcome: kind, firstByteAfterConnectUs: firstByteUs < 0 ? null : firstByteUs, errorCode: errno === 0 ? null : getSystemErrorName(-errno)}
}

/** native/addon.h's TALLY_* kinds, in their order */
const TALLY_KINDS = ['startLag', 'fromIntended', 'fromActual', 'timeline', 'lateStarts', 'firstByte', 'responseAfterConnect', 'acceptWait'] as const

/** --probe send:/banner as the loop runs it (undici's http and node:tls stay in JavaScript). */
export interface NativeProbe {
  timeoutMs: number
  /** send: the bytes to write; null for banner */
  payload: Uint8Array | null
  /** --expect, as the bytes a latin1 reading of the reply must contain (src/probe/run.ts) */
  expect: Uint8Array | null
}

/**
 * What the loop tallied itself (native/addon.h TALLY_*), for connects that connected with no probe
 * or an ok one (a probe only with no retransmit): `value` a latency in µs to record `count` times
 * (each lands in the HDR bucket of the values it stands for, min and max exact), the ms of the
 * timeline, or 0 for late starts. `retransmits`: for fromActual, the SYN retransmits of the
 * connects it stands for (0 otherwise).
 */
export type NativeTallySink = (kind: (typeof TALLY_KINDS)[number], value: number, count: number, retransmits: number) => void

/**
 * What the loop tallied of the connects that failed (native/addon.h TALLY_FAILED_BASE): `count`
 * failures with this errno (null: the run's --timeout) and SYN retransmits (null: not counted),
 * whose latency from the actual start fell in the bucket of `valueUs`; or `count` failures in the
 * timeline's ms `value` (`errno` and `retransmits` then null).
 */
export type NativeFailureTallySink = (kind: 'failed' | 'timelineFailed', value: number, count: number, errno: string | null, retransmits: number | null) => void

const DRAIN_RECORDS = 4096
/** entries a take starts with room for; grown when a tally of more distinct buckets waits */
const TAKE_ENTRIES = 4096

/** One storm on the native thread: feed it intended starts, drain its records, stop or let it finish. */
/**
 * Hands `count` entries of a take (TALLY_FIELDS numbers each: kind, value, count) to the sinks: a
 * module-level function, so that the warm-up's synthetic takes (native-driver.ts
 * warmTallyRecording) make V8 optimize the very code a run's takes use.
 */
export function handOverTallies(out: Float64Array, count: number, sink: NativeTallySink, failed: NativeFailureTallySink): void {
  const {TALLY_FIELDS: fields, TALLY_RETRANSMITTED, TALLY_TIMELINE_FAILED, TALLY_FAILED_BASE} = addon!.constants
  for (let i = 0; i < count; i++) {
    const at = i * fields
    const kind = out[at]!
    if (kind >= TALLY_FAILED_BASE) {
      // TALLY_FAILED_BASE + (errno + 1) × 32 + (retransmits + 1), errno −1 for a timeout, retransmits −1 not counted
      const code = kind - TALLY_FAILED_BASE
      const errno = Math.floor(code / 32) - 1
      const retransmits = (code % 32) - 1
      failed('failed', out[at + 1]!, out[at + 2]!, errno < 0 ? null : getSystemErrorName(-errno), retransmits < 0 ? null : retransmits)
    } else if (kind === TALLY_TIMELINE_FAILED) failed('timelineFailed', out[at + 1]!, out[at + 2]!, null, null)
    // From TALLY_RETRANSMITTED on: fromActual of connects that connected after kind − TALLY_RETRANSMITTED + 1 SYN retransmits.
    else if (kind >= TALLY_RETRANSMITTED) sink('fromActual', out[at + 1]!, out[at + 2]!, kind - TALLY_RETRANSMITTED + 1)
    else sink(TALLY_KINDS[kind]!, out[at + 1]!, out[at + 2]!, 0)
  }
}

export class NativeConnectLoop {
  private readonly run: NativeRunHandle
  private readonly out: Float64Array
  private readonly progressOut: Float64Array
  private tallyOut: Float64Array
  private readonly total: number
  /** reused for every feed (SCHEDULE_FIELDS per start): the loop copies what it takes */
  private readonly starts: Float64Array
  /** --source: each address's index in the list handed to the loop */
  private readonly sourceIndex: Map<string, number>
  private fed = 0
  private readonly intendedOffsetMs: (index: number) => number
  private readonly endpointFor: ((index: number) => SourceEndpoint) | null

  /**
   * Makes the loop (its thread starts at begin()). `onFinished` runs on the event loop once the
   * loop has ended and recorded everything, so a run ends then and not at the next drain.
   * Throws when the addon refuses the target (e.g. a scoped IPv6 address) or has no memory for it.
   */
  constructor(
    target: {host: string; port: number; family: 4 | 6},
    settings: {close: 'rst' | 'fin' | 'hold'; timeoutMs: number; concurrency: number; total: number; probe?: NativeProbe; tally?: boolean},
    schedule: {
      intendedOffsetMs: (index: number) => number
      /** --source: the addresses, and the address and port connect `index` binds to */
      sources?: {addresses: readonly string[]; endpointFor: (index: number) => SourceEndpoint}
    },
    onFinished: () => void,
  ) {
    const {constants} = addon!
    this.run = addon!.create(
      {
        family: target.family,
        address: target.host,
        port: target.port,
        closeMode: settings.close === 'fin' ? constants.CLOSE_FIN : settings.close === 'hold' ? constants.CLOSE_HOLD : constants.CLOSE_RST,
        timeoutMs: settings.timeoutMs,
        concurrency: settings.concurrency,
        total: settings.total,
        ...(schedule.sources ? {sources: schedule.sources.addresses} : {}),
        ...(settings.tally === undefined ? {} : {tally: settings.tally}),
        ...(settings.probe
          ? {
              probe: {
                timeoutMs: settings.probe.timeoutMs,
                ...(settings.probe.payload ? {payload: settings.probe.payload} : {}),
                ...(settings.probe.expect ? {expect: settings.probe.expect} : {}),
              },
            }
          : {}),
      },
      onFinished,
    )
    this.intendedOffsetMs = schedule.intendedOffsetMs
    this.endpointFor = schedule.sources?.endpointFor ?? null
    this.sourceIndex = new Map(schedule.sources?.addresses.map((address, index) => [address, index]))
    this.total = settings.total
    this.out = new Float64Array(DRAIN_RECORDS * constants.RECORD_FIELDS)
    this.progressOut = new Float64Array(constants.PROGRESS_FIELDS)
    this.tallyOut = new Float64Array(TAKE_ENTRIES * constants.TALLY_FIELDS)
    this.starts = new Float64Array(Math.min(settings.total, constants.SCHEDULE_RING) * constants.SCHEDULE_FIELDS)
    // The first starts are fed before the clock starts: computing them is not the target's time.
    this.feed()
  }

  /**
   * Starts the thread. Intended starts count from `t0Us`, process.hrtime() in µs (the loop's
   * CLOCK_MONOTONIC), taken when the caller started its own clock. False when no thread could be made.
   */
  begin(t0Us: number): boolean {
    return addon!.begin(this.run, t0Us)
  }

  /**
   * Tops up the intended starts the loop has not got yet. It holds SCHEDULE_RING (65,536) ahead:
   * emptying that between two drains would take > 1.3 M connects/s, so a drain's top-up suffices.
   */
  feed(): void {
    const {launched} = this.progress()
    const {SCHEDULE_RING, SCHEDULE_FIELDS} = addon!.constants
    const want = Math.min(this.total - this.fed, launched + SCHEDULE_RING - this.fed)
    if (want <= 0) return
    const starts = this.starts.subarray(0, want * SCHEDULE_FIELDS)
    for (let i = 0; i < want; i++) {
      const at = i * SCHEDULE_FIELDS
      starts[at] = this.intendedOffsetMs(this.fed + i)
      const endpoint = this.endpointFor?.(this.fed + i)
      const source = endpoint ? this.sourceIndex.get(endpoint.localAddress) : -1
      if (source === undefined) throw new Error(`internal: --source address ${endpoint!.localAddress} is not in the loop's list`)
      starts[at + 1] = source
      starts[at + 2] = endpoint ? endpoint.localPort : 0
    }
    this.fed += addon!.feed(this.run, starts)
  }

  /** Hands every record the loop has finished to `sink`, oldest first. */
  drain(sink: NativeRecordSink): void {
    const {constants} = addon!
    const fields = constants.RECORD_FIELDS
    for (;;) {
      const count = addon!.drain(this.run, this.out)
      const {out} = this
      for (let i = 0; i < count; i++) {
        const at = i * fields
        const retransmits = out[at + 4]!
        const probe = probeResultOf(out[at + 5]!, out[at + 6]!, out[at + 7]!, constants)
        sink(outcomeOf(out[at]!, constants), out[at + 1]!, out[at + 2]!, out[at + 3]!, retransmits < 0 ? null : retransmits, probe)
      }
      if (count < DRAIN_RECORDS) return
    }
  }

  /** Hands what the loop tallied since the last take to `sink` (each count once). */
  take(sink: NativeTallySink, failed: NativeFailureTallySink): void {
    const fields = addon!.constants.TALLY_FIELDS
    for (;;) {
      const count = addon!.take(this.run, this.tallyOut)
      if (count < 0) {
        this.tallyOut = new Float64Array(Math.max(-count, 2 * (this.tallyOut.length / fields)) * fields)
        continue
      }
      handOverTallies(this.tallyOut, count, sink, failed)
      if (count === 0) return
    }
  }

  /**
   * What the loop has done so far; `failure` names the errno of an epoll call that ended it early
   * (a bug); `held`: connections it holds open (--close hold), once finished those it held when stopped.
   */
  progress(): {launched: number; inFlight: number; lastStartMs: number; finished: boolean; failure: string | null; held: number} {
    const out = this.progressOut
    addon!.progress(this.run, out)
    return {
      launched: out[0]!,
      inFlight: out[1]!,
      lastStartMs: out[2]!,
      finished: out[3] === 1,
      failure: out[5] ? getSystemErrorName(-out[5]!) : null,
      held: out[6]!,
    }
  }

  /** Asks the loop to abandon what is in flight (reported as pending), close what it holds, and end within ~2 ms. */
  stop(): void {
    addon!.stop(this.run)
  }

  /** Waits for the thread once progress() says it finished. */
  join(): void {
    addon!.join(this.run)
  }
}
