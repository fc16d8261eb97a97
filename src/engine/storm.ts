import {type Socket, createServer} from 'node:net'
import {monitorEventLoopDelay, performance} from 'node:perf_hooks'

import type {ResolvedTarget} from '../plan/target.js'
import {type Plan, intendedOffsetMs} from '../plan/plan.js'
import {PORT_RETRIES, type SourceEndpoint, SourceBinding, portWasTaken} from './source-binding.js'
import {afterNative, type ConnectPathChoice, chooseConnectPath, nativeProbeOf} from './connect-path.js'
import {type Connection, type Connector, HANDLE_CONNECTOR, NET_CONNECTOR, asStream, startError, synRetransmitsOf} from './connectors.js'
import {NativeDriver, warmTallyRecording} from './native-driver.js'
import {sleepUntil} from './clock.js'
import {type FailureOutcome, classifyErrno, connectedThenReset} from '../results/outcome.js'
import {StormRecorder} from '../results/recorder.js'
import {ProbeRecorder} from '../probe/recorder.js'
import type {ConnectPath, LoopDelayUs, StopReason, WorkerSelf} from '../results/format.js'
import {RESET_BEFORE_PROBE, type ProbeSettings, prepareProbe, startProbe} from '../probe/run.js'

/** The probe to run on every connection after it connects (host and port come from the target). */
export type ProbeConfig = Omit<ProbeSettings, 'host' | 'port'>

export interface StormRun {
  recorder: StormRecorder
  /** null when no --probe ran */
  probes: ProbeRecorder | null
  startedAt: Date
  durationMs: number
  /** time from the run's start to the last connect start */
  startWindowMs: number
  /** with --close hold: connections still open (not closed by the peer) when the run ended */
  heldAtEnd: number
  stopReason: StopReason
  /** connects started but not finished when the run stopped early (destroyed, not counted as failed) */
  pending: number
  /** connects the schedule never started because the run stopped early */
  notStarted: number
  /** null when the run was too short for the monitor to take a sample */
  eventLoopDelayUs: LoopDelayUs | null
  /** --workers N > 1: each thread's own figures, in thread order (the fields above combine them) */
  workers?: WorkerSelf[]
  connectPath: ConnectPath
  /** why that path (engine/connect-path.ts), in words */
  connectPathWhy?: string
}

/** One connect in flight. Small on purpose: shared handlers find it through the socket. */
interface Attempt {
  readonly engine: StormEngine
  /** dropped once the attempt settles, so a finished connect's socket is not kept until its deadline */
  socket: Connection | null
  readonly intendedAt: number
  readonly startedAt: number
  readonly deadline: number
  done: boolean
  /** --source: the address this attempt binds to (null without --source) */
  sourceAddress: string | null
  /** --source: how many more times a taken port may be replaced by a kernel-picked one (source-binding.ts) */
  portRetriesLeft: number
  /** neighbours in the in-flight list (start order, so deadlines ascend) */
  older: Attempt | null
  newer: Attempt | null
}

/** Below this gap to the next intended start, spin on setImmediate instead of a ms-grained timer. */
const SPIN_WINDOW_MS = 2
/**
 * Node performs the connect() syscalls of a turn only after our launch loop ends, and sees their
 * completions only in the next poll; launching a few per turn keeps both close to the start
 * timestamp, so a fast connect is not charged for the launches queued behind it.
 */
const LAUNCHES_PER_TURN = 8
const LOOP_MONITOR_RESOLUTION_MS = 5
/**
 * On the native loop the event loop times nothing, and each wake-up of the main thread may take a
 * core from the loop's thread or the target on a small machine (docs/performance.md): sampled
 * coarser there, it still shows a drain that stalls for milliseconds.
 */
const NATIVE_LOOP_MONITOR_RESOLUTION_MS = 20

/** A read-only look at a run in progress, for the live progress display. */
export interface LiveStorm {
  readonly recorder: StormRecorder
  /** connects started so far */
  launched(): number
  /** connecting, or connected and being probed */
  open(): number
  /** brings the recorder up to date: the native loop's tallies are taken when read (native-driver.ts) */
  refresh(): void
}

/** Runs the plan against the target; call warmUp() first, or the first connects pay for a cold process. */
export async function runStorm(
  plan: Plan,
  target: ResolvedTarget,
  {
    signal,
    probe,
    onStart,
    startAt,
    beforeClock,
  }: {
    signal?: AbortSignal
    probe?: ProbeConfig
    onStart?: (live: LiveStorm) => void
    /** wall-clock ms (--start-at, or --workers' common instant): the clock starts then, everything else is set up before it */
    startAt?: number
    /** called right before the clock starts, after any wait for startAt (the kernel counters' snapshot) */
    beforeClock?: () => void
  } = {},
): Promise<StormRun> {
  if (probe) await prepareProbe(probe.spec)
  const engine = new StormEngine(plan, target, probe)
  onStart?.({recorder: engine.recorder, launched: () => engine.launchedCount(), open: () => engine.openCount(), refresh: () => engine.refreshRecorder()})
  return engine.run(signal, startAt, beforeClock)
}

const WARM_UP_PLAN: Plan = {mode: 'burst', connects: 32, burst: 32, concurrency: 32, timeoutMs: 1000, close: 'rst', maxDurationMs: 2000}

/**
 * A cold process pays for lazy module loading and JIT on its first connects (measured: 1.6 ms
 * for the first, 0.3 ms once warm), which would be charged to the target. A small storm against
 * a listener of our own on loopback pays it before the clock starts, without touching the target.
 */
export async function warmUp(family: 4 | 6): Promise<void> {
  const host = family === 6 ? '::1' : '127.0.0.1'
  const server = createServer((socket) => socket.destroy())
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({host, port: 0}, resolve)
    })
    const {port} = server.address() as {port: number}
    await runStorm(WARM_UP_PLAN, {host, port, family, requested: 'warm-up'})
  } catch {
    // No loopback of that family (IPv6 disabled, say): the run stays valid, only colder.
  } finally {
    server.close()
  }
  // 32 connects are too few takes of the loop's tallies for V8 to optimize that code: it would do
  // so in the run's first half second, on threads that share the loop's cores.
  warmTallyRecording()
}

class StormEngine {
  readonly recorder = new StormRecorder()
  readonly probes: ProbeRecorder | null
  private readonly probeSettings: ProbeSettings | null
  /** connected sockets whose probe is still running: they count against --concurrency */
  private readonly probing = new Set<Socket>()
  private readonly sourceBinding: SourceBinding | null
  /** which code makes the connects (connect-path.ts); native falls back when the addon refuses the run */
  private path: ConnectPathChoice
  /** the native loop's driver, once its thread runs */
  private native: NativeDriver | null = null
  private readonly held = new Set<Socket>()
  /**
   * In-flight attempts, oldest first: deadlines ascend because every connect has the same timeout.
   * A doubly linked list, so a settled connect leaves it at once and memory follows --concurrency,
   * not rate × timeout.
   */
  private oldest: Attempt | null = null
  private newest: Attempt | null = null
  private timeoutTimer: NodeJS.Timeout | undefined
  private pumpTimer: NodeJS.Timeout | undefined
  private pumpQueued = false
  /** the last pump stopped because --concurrency connects were in flight: a completion must resume it */
  private waitingForSlot = false
  private nextIndex = 0
  private inFlight = 0
  private runStart = 0
  private lastStartAt = 0
  private stopped = false
  /** performance.now() when the run was stopped */
  private stoppedAt: number | null = null
  private finish: (reason: StopReason) => void = () => {}

  constructor(
    private readonly plan: Plan,
    private readonly target: ResolvedTarget,
    probe?: ProbeConfig,
  ) {
    this.probeSettings = probe ? {...probe, host: target.host, port: target.port} : null
    this.probes = probe ? new ProbeRecorder() : null
    this.sourceBinding = plan.sources ? new SourceBinding(plan, plan.sources) : null
    this.path = chooseConnectPath({probe: probe ?? null, hold: plan.close === 'hold'}, target.host)
  }

  /** A probe or --close hold: off the native loop, only net.Socket can do them. */
  private streamNeeded(): boolean {
    return this.probeSettings !== null || this.plan.close === 'hold'
  }

  /** Which code makes the connects: reported, since it decides what the tool's own overhead is. */
  connectPath(): ConnectPath {
    return this.path.path
  }

  async run(signal?: AbortSignal, startAt?: number, beforeClock?: () => void): Promise<StormRun> {
    // Made (and its first starts fed) before the clock starts, and before a --start-at wait: shards
    // sharing a machine then spend the instant connecting, not setting up (docs/kubernetes.md).
    // Not at all for a run stopped before it starts.
    const nativeDriver = this.path.path === 'native' && !signal?.aborted ? this.makeNativeDriver() : null
    if (startAt !== undefined) await sleepUntil(startAt, signal)
    beforeClock?.()
    const loopDelay = monitorEventLoopDelay({resolution: nativeDriver ? NATIVE_LOOP_MONITOR_RESOLUTION_MS : LOOP_MONITOR_RESOLUTION_MS})
    loopDelay.enable()
    let startedAt = new Date()

    const stopReason = await new Promise<StopReason>((resolve) => {
      let deadline: NodeJS.Timeout | undefined
      const onAbort = (): void => this.stop('interrupted')
      signal?.addEventListener('abort', onAbort, {once: true})
      this.finish = (reason) => {
        clearTimeout(deadline)
        signal?.removeEventListener('abort', onAbort)
        resolve(reason)
      }
      // The clock starts here, after the set-up above, so that none of it is charged to the target.
      startedAt = new Date()
      this.runStart = performance.now()
      const runStartUs = Number(process.hrtime.bigint()) / 1000 // the same instant on the native loop's clock
      this.lastStartAt = this.runStart
      // Held connections stay open until the deadline: then the run has simply ended, not been cut.
      const onDeadline = (): void => {
        // Node's timers run off a millisecond loop clock and may fire a fraction of a ms early.
        const leftMs = this.runStart + this.plan.maxDurationMs - performance.now()
        if (leftMs > 0) {
          deadline = setTimeout(onDeadline, leftMs)
          return
        }
        if (this.native) this.takeNativeProgress() // what the loop did since its last drain
        this.stop(this.allSettled() ? 'completed' : 'deadline')
      }
      deadline = setTimeout(onDeadline, this.plan.maxDurationMs)
      if (signal?.aborted) onAbort()
      else if (nativeDriver) this.startNative(nativeDriver, runStartUs)
      else this.pump()
    })
    if (this.native) {
      await this.native.settle()
      this.takeNativeProgress(false)
    }

    // Until the stop: the native loop's settle() that follows it closes what it held (~20 µs per
    // connection: 0.4 s for 19,000), which is the tool's clean-up, not the run.
    const durationMs = (this.stoppedAt ?? performance.now()) - this.runStart
    loopDelay.disable()
    const pending = this.abandonInFlight() + (this.native?.pending ?? 0)
    if (this.probes) this.probes.pending += this.probing.size // the native loop has counted its own (native-driver.ts)
    for (const socket of this.probing) socket.destroy()
    this.probing.clear()
    const heldAtEnd = this.held.size + (this.native?.held ?? 0)
    for (const socket of this.held) socket.resetAndDestroy()
    this.held.clear()
    return {
      recorder: this.recorder,
      probes: this.probes,
      startedAt,
      durationMs,
      startWindowMs: this.lastStartAt - this.runStart,
      heldAtEnd,
      stopReason,
      pending,
      notStarted: this.plan.connects - this.nextIndex,
      connectPath: this.connectPath(),
      connectPathWhy: this.path.why,
      eventLoopDelayUs:
        loopDelay.count === 0
          ? null
          : {p50: loopDelayUs(loopDelay.percentile(50)), p99: loopDelayUs(loopDelay.percentile(99)), max: loopDelayUs(loopDelay.max)},
    }
  }

  /** Starts every connect that is due and has a slot, then arranges to be called again. */
  private pump = (): void => {
    // One pump at a time: whatever woke us, the timer for the next start is set anew below.
    this.pumpQueued = false
    clearTimeout(this.pumpTimer)
    this.pumpTimer = undefined
    if (this.stopped) return
    const {plan} = this
    let now = performance.now()
    let launched = 0
    while (this.nextIndex < plan.connects && this.open() < plan.concurrency && launched < LAUNCHES_PER_TURN) {
      const intendedAt = this.runStart + intendedOffsetMs(plan, this.nextIndex)
      if (intendedAt > now) break
      this.launch(intendedAt, now)
      this.nextIndex++
      launched++
      now = performance.now()
    }
    if (this.nextIndex >= plan.connects) {
      if (this.open() === 0) this.completeUnlessHolding()
      return
    }
    // Full: a completion calls pump again. Otherwise wait for the next intended start.
    if (this.open() >= plan.concurrency) {
      this.waitingForSlot = true
      return
    }
    const waitMs = this.runStart + intendedOffsetMs(plan, this.nextIndex) - now
    if (waitMs > SPIN_WINDOW_MS) {
      this.pumpTimer = setTimeout(this.pump, waitMs - SPIN_WINDOW_MS / 2)
    } else {
      this.queuePump()
    }
  }

  /** The native loop's driver for this run, its first starts fed; null (bare handles instead) when the addon refuses it. */
  private makeNativeDriver(): NativeDriver | null {
    const probe = this.probeSettings ? nativeProbeOf(this.probeSettings) : null
    const driver = NativeDriver.make(this.plan, this.target, this.sourceBinding, probe, this, this.pollNative)
    if (driver instanceof NativeDriver) return driver
    this.path = afterNative(driver.refused, this.streamNeeded())
    return null
  }

  /** Hands the whole schedule to the native loop's thread; the event loop only feeds and drains it. */
  private startNative(driver: NativeDriver, runStartUs: number): void {
    if (!driver.begin(runStartUs, this.pollNative)) {
      this.path = afterNative('no thread could be made for the native loop (a process at its thread limit)', this.streamNeeded())
      this.pump()
      return
    }
    this.native = driver
  }

  private pollNative = (): void => {
    if (this.stopped || this.native === null) return
    const finished = this.native.tick(this.pollNative)
    this.takeNativeProgress(false)
    if (finished) this.stop('completed')
  }

  /** The engine's view of the loop's progress (read afresh, or as the driver last took it): its starts count as launched. */
  private takeNativeProgress(fresh = true): void {
    const driver = this.native!
    if (fresh) driver.takeProgress()
    this.nextIndex = driver.launched
    if (driver.lastStartMs !== null) this.lastStartAt = this.runStart + driver.lastStartMs
  }

  /** A connect that ended connected, `atMs` into the run: histograms and timeline, whichever path made it. */
  recordConnectedAt(atMs: number, fromIntendedUs: number, fromActualUs: number): void {
    this.recorder.recordConnected(fromIntendedUs, fromActualUs)
    this.recorder.timeline.record(atMs, 'connected')
  }

  /** A connect that completed its handshake and was reset before the client saw it connect (results/outcome.ts). */
  recordConnectedThenResetAt(atMs: number, fromIntendedUs: number, fromActualUs: number): void {
    this.recorder.recordConnectedThenReset(fromIntendedUs, fromActualUs)
    this.recorder.timeline.record(atMs, 'connected')
  }

  recordFailedAt(atMs: number, outcome: FailureOutcome, fromActualUs: number, errno?: string): void {
    this.recorder.recordFailure(outcome, fromActualUs, errno)
    this.recorder.timeline.record(atMs, 'failed')
  }

  private queuePump(): void {
    if (this.pumpQueued) return
    this.pumpQueued = true
    setImmediate(this.pump)
  }

  private launch(intendedAt: number, startedAt: number): void {
    // The intended start, not the actual one, anchors the latency that users see first: a start
    // that waited for a slot or for our event loop must not hide that wait (wrk2's lesson).
    this.recorder.recordStart((startedAt - intendedAt) * 1000)
    this.lastStartAt = startedAt
    const endpoint = this.sourceBinding?.endpointFor(this.nextIndex)
    const attempt: Attempt = {
      engine: this,
      socket: null,
      intendedAt,
      startedAt,
      deadline: startedAt + this.plan.timeoutMs,
      done: false,
      sourceAddress: endpoint?.localAddress ?? null,
      portRetriesLeft: PORT_RETRIES,
      older: this.newest,
      newer: null,
    }
    this.inFlight++
    if (this.newest) this.newest.newer = attempt
    else this.oldest = attempt
    this.newest = attempt
    if (this.timeoutTimer === undefined) this.armTimeout()
    this.startConnect(attempt, endpoint)
  }

  /** Starts (or, after a taken source port, restarts) the attempt's connect on the run's event-loop path. */
  private startConnect(attempt: Attempt, endpoint: SourceEndpoint | undefined): void {
    const connector: Connector = this.path.path === 'net' ? NET_CONNECTOR : HANDLE_CONNECTOR
    const connection = connector.start(this.target, endpoint, attempt)
    attempt.socket = connection
    // Refused at once (EMFILE, a taken port …): the same path as a failure reported later.
    const refused = startError(connection)
    if (refused !== null) this.onError(attempt, {code: refused} as NodeJS.ErrnoException)
  }

  onConnect(attempt: Attempt): void {
    if (attempt.done) return // a bare handle closed at its deadline or at a stop reports its cancellation here
    const now = performance.now()
    const socket = this.settle(attempt)
    this.recordConnectedAt(now - this.runStart, (now - attempt.intendedAt) * 1000, (now - attempt.startedAt) * 1000)
    this.recorder.recordRetransmits('connected', synRetransmitsOf(socket, now - attempt.startedAt), (now - attempt.startedAt) * 1000)
    if (this.probeSettings) {
      // Off the native loop, probes need a stream: connect-path.ts gives a probing run the net path.
      const stream = asStream(socket)
      this.probing.add(stream)
      const {intendedAt} = attempt
      startProbe(stream, this.probeSettings, (report) => {
        if (!this.probing.delete(stream)) return // the run stopped and counted it as pending
        this.probes!.record(report, intendedAt, now)
        this.closeConnected(stream)
        this.afterSettle()
      })
      return
    }
    this.closeConnected(socket)
    this.afterSettle()
  }

  /** Connections that hold a --concurrency slot: connecting, or connected and being probed. */
  private open(): number {
    return this.inFlight + (this.native?.inFlight ?? 0) + this.probing.size
  }

  openCount(): number {
    return this.open()
  }

  launchedCount(): number {
    return this.nextIndex
  }

  refreshRecorder(): void {
    this.native?.takeTallies()
  }

  onError(attempt: Attempt, error: NodeJS.ErrnoException): void {
    if (attempt.done) return // an error on a held or closing socket after it connected
    if (attempt.sourceAddress !== null && attempt.portRetriesLeft > 0 && portWasTaken(error)) {
      // Same attempt, same clock: only the port changes, now picked by the kernel.
      attempt.portRetriesLeft--
      attempt.socket?.destroy()
      this.startConnect(attempt, {localAddress: attempt.sourceAddress, localPort: 0})
      return
    }
    const now = performance.now()
    const socket = this.settle(attempt)
    if (connectedThenReset(error.code)) {
      this.onConnectedThenReset(attempt, socket, now)
      return
    }
    const outcome = classifyErrno(error.code)
    // Refused at start: no SYN left, nothing to count. Otherwise read before close (a net.Socket is
    // closed already: not counted).
    this.recorder.recordRetransmits(outcome, startError(socket) === null ? synRetransmitsOf(socket, now - attempt.startedAt) : null)
    socket.destroy() // net.Socket has done it already; a bare handle has not
    this.recordFailedAt(now - this.runStart, outcome, (now - attempt.startedAt) * 1000, error.code)
    this.afterSettle()
  }

  /**
   * ECONNRESET from connect(): the handshake completed and the peer reset the connection before we
   * heard of it (results/outcome.ts). Recorded as connected — its latency like any other — and
   * counted as connected, then reset; a probe on it could not start: resetAfterConnect, as when
   * the same reset comes a moment later, after the connect was seen.
   */
  private onConnectedThenReset(attempt: Attempt, socket: Connection, now: number): void {
    const fromActualUs = (now - attempt.startedAt) * 1000
    this.recorder.recordRetransmits('connected', synRetransmitsOf(socket, now - attempt.startedAt), fromActualUs)
    socket.destroy() // net.Socket has done it already; a bare handle has not
    this.recordConnectedThenResetAt(now - this.runStart, (now - attempt.intendedAt) * 1000, fromActualUs)
    if (this.probes) this.probes.record(RESET_BEFORE_PROBE, attempt.intendedAt, now)
    this.afterSettle()
  }

  private settle(attempt: Attempt): Connection {
    const socket = attempt.socket!
    attempt.done = true
    attempt.socket = null
    this.unlink(attempt)
    this.inFlight--
    return socket
  }

  private unlink(attempt: Attempt): void {
    if (attempt.older) attempt.older.newer = attempt.newer
    else this.oldest = attempt.newer
    if (attempt.newer) attempt.newer.older = attempt.older
    else this.newest = attempt.older
    attempt.older = null
    attempt.newer = null
  }

  private afterSettle(): void {
    if (this.stopped) return
    if (this.nextIndex < this.plan.connects) {
      // Only a pump blocked by --concurrency needs waking; otherwise its timer is already set.
      if (this.waitingForSlot) {
        this.waitingForSlot = false
        this.queuePump()
      }
    } else if (this.open() === 0) {
      this.completeUnlessHolding()
    }
  }

  private allSettled(): boolean {
    return this.nextIndex >= this.plan.connects && this.open() === 0
  }

  /** Every connect has finished; with --close hold the run keeps them open until --max-duration. */
  private completeUnlessHolding(): void {
    if (this.plan.close !== 'hold' || this.held.size === 0) this.stop('completed')
  }

  private closeConnected(socket: Connection): void {
    switch (this.plan.close) {
      case 'rst': {
        // SO_LINGER 0: the client keeps no TIME_WAIT, so the port range never runs dry (docs/kernel.md §8).
        socket.resetAndDestroy()
        break
      }
      case 'fin': {
        socket.destroy()
        break
      }
      case 'hold': {
        // Off the native loop, holding means noticing the peer's close, which needs a stream: connect-path.ts gives --close hold the net path.
        const stream = asStream(socket)
        this.held.add(stream)
        stream.once('close', () => {
          // The peer closed it: nothing left to hold once every connect is done and every hold is gone.
          this.held.delete(stream)
          if (this.held.size === 0 && this.allSettled()) this.stop('completed')
        })
        break
      }
    }
  }

  /** One timer for all connects: it fires at the oldest in-flight deadline. */
  private armTimeout(): void {
    this.timeoutTimer = undefined
    const head = this.oldest
    if (head === null || this.stopped) return
    this.timeoutTimer = setTimeout(this.expireTimeouts, Math.max(0, head.deadline - performance.now()))
  }

  private expireTimeouts = (): void => {
    const now = performance.now()
    for (let attempt = this.oldest; attempt !== null && attempt.deadline <= now; attempt = this.oldest) {
      const socket = this.settle(attempt)
      // Read before close: the SYNs that left are this + 1 (docs/kernel.md).
      this.recorder.recordRetransmits('timeout', synRetransmitsOf(socket, now - attempt.startedAt))
      socket.destroy()
      this.recordFailedAt(now - this.runStart, 'timeout', (now - attempt.startedAt) * 1000)
    }
    this.armTimeout()
    this.afterSettle()
  }

  private stop(reason: StopReason): void {
    if (this.stopped) return
    this.stopped = true
    this.stoppedAt = performance.now()
    clearTimeout(this.pumpTimer)
    clearTimeout(this.timeoutTimer)
    this.native?.requestStop()
    this.finish(reason)
  }

  /** Destroys connects still in flight at an early stop; they are reported as pending, not failed. */
  private abandonInFlight(): number {
    let pending = 0
    for (let attempt = this.oldest; attempt !== null; attempt = this.oldest) {
      const socket = this.settle(attempt)
      this.recorder.recordRetransmits('pending', synRetransmitsOf(socket, performance.now() - attempt.startedAt))
      socket.destroy()
      pending++
    }
    return pending
  }
}


/** The monitor's samples are the whole gap between its timer ticks: the delay is what exceeds the tick. */
function loopDelayUs(sampleNs: number): number {
  if (!Number.isFinite(sampleNs)) return 0
  return Math.max(0, Math.round(sampleNs / 1000 - LOOP_MONITOR_RESOLUTION_MS * 1000))
}
