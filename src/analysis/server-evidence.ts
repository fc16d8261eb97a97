import {UsageError} from '../errors.js'
import type {KernelObservation, Measurement, QueueTimeline, ServerEvidence, WatchFile, WatchSample} from '../results/format.js'

/**
 * The server's half of a storm, from a watch file (`connstorm watch`, run on the server's host):
 * what its listener and its namespace's counters did over a window of wall-clock time. Pure.
 */

/** The counters `connstorm watch` keeps: the server's side of a storm (docs/kernel.md §5, §14). On the server, TCPSynRetrans counts SYN-ACK retransmits. */
export const SERVER_COUNTERS = [
  'TcpExtListenOverflows',
  'TcpExtListenDrops',
  'TcpExtSyncookiesSent',
  'TcpExtSyncookiesRecv',
  'TcpExtSyncookiesFailed',
  'TcpExtTCPReqQFullDrop',
  'TcpExtTCPReqQFullDoCookies',
  'TcpPassiveOpens',
  'TcpExtTCPSynRetrans',
  // The RSTs tcp_abort_on_overflow=1 sends at a full accept queue (docs/kernel.md §9): the server's.
  'TcpExtEmbryonicRsts',
] as const

/**
 * The counter deltas of the listener's host, for the server-side counters (ListenOverflows, the
 * SYN queue's, the cookies', EmbryonicRsts): the server's own (kernel.serverEvidence, a watch)
 * when the run has them, else the run's (the listener's only when it shared the storm's
 * namespace). Never the client's TCPSynRetrans or ActiveOpens: those stay in kernel.counterDeltas.
 */
export function listenerHostCounters(kernel: Pick<KernelObservation, 'counterDeltas' | 'serverEvidence'> | null | undefined): Record<string, number> | null {
  return kernel?.serverEvidence?.counterDeltas ?? kernel?.counterDeltas ?? null
}

/** What samples[from..to] of a watch saw. */
export interface WindowSummary {
  /** wall clock (ms since the epoch) of the first and last sample of the window */
  fromMs: number
  toMs: number
  samples: number
  /** the longest accept queue on one matching listener; null when none listened in the window */
  peakQueue: number | null
  /** that listener's effective backlog (its queue holds backlog + 1); null when unknown */
  backlog: number | null
  /** the listeners' own drops (sk_drops) during the window; null when never read */
  drops: number | null
  /** SERVER_COUNTERS, last − first known value in the window (absent: never read) */
  counters: Record<string, number>
}

/** The counters known at sample `index`: its own, else those of the last sample before it that has them. */
export function countersAt(samples: readonly WatchSample[], index: number): Record<string, number> | null {
  for (let i = index; i >= 0; i--) {
    const counters = samples[i]!.counters
    if (counters !== undefined) return counters
  }
  return null
}

function identity(listener: {host: string; port: number; family: number}): string {
  return `${listener.family}|${listener.host}|${listener.port}`
}

/**
 * Drops between samples `from` and `to`, summed over the listeners: each listener's increments
 * from one sample to the next. A count that went down is a new socket on the same address (the
 * server restarted): its count since then is added. A listener first seen inside the window
 * counts from its first sample (what it dropped before is not known to be in the window).
 */
export function listenerDropsBetween(samples: readonly WatchSample[], from: number, to: number): number | null {
  const drops = dropsCounter()
  let total: number | null = null
  for (let i = from; i <= to; i++) total = drops(samples[i]!)
  return total
}

/** listenerDropsBetween one sample at a time: each call adds a sample and returns the total so far. */
function dropsCounter(): (sample: WatchSample) => number | null {
  const last = new Map<string, number>()
  let total: number | null = null
  return (sample) => {
    for (const listener of sample.listeners) {
      if (listener.drops === null) continue
      const key = identity(listener)
      const before = last.get(key)
      if (before !== undefined) total = (total ?? 0) + (listener.drops >= before ? listener.drops - before : listener.drops)
      else total ??= 0
      last.set(key, listener.drops)
    }
    return total
  }
}

export function summariseWindow(samples: readonly WatchSample[], from: number, to: number): WindowSummary {
  let peakQueue: number | null = null
  let backlog: number | null = null
  for (let i = from; i <= to; i++) {
    for (const listener of samples[i]!.listeners) {
      if (peakQueue === null || listener.recvQ > peakQueue) {
        peakQueue = listener.recvQ
        backlog = listener.sendQ
      }
    }
  }
  const first = countersAt(samples, from)
  const lastCounters = countersAt(samples, to)
  const counters: Record<string, number> = {}
  if (first !== null && lastCounters !== null) {
    for (const name of SERVER_COUNTERS) if (Object.hasOwn(first, name) && Object.hasOwn(lastCounters, name)) counters[name] = lastCounters[name]! - first[name]!
  }
  return {fromMs: samples[from]!.t, toMs: samples[to]!.t, samples: to - from + 1, peakQueue, backlog, drops: listenerDropsBetween(samples, from, to), counters}
}

/** "33/32+1": a queue against what the listener holds, its effective backlog + 1 (docs/kernel.md §6). */
export function queueAgainstBacklog(queue: number, backlog: number | null): string {
  return backlog === null ? `${queue}/unknown` : `${queue}/${backlog}+1`
}

/** The server-side sysctls: they act on the listener's host, so with a watch they are read there (docs/kernel.md §6). */
export const SERVER_SIDE_SYSCTLS = ['net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog', 'net.ipv4.tcp_syncookies', 'net.ipv4.tcp_abort_on_overflow', 'net.ipv4.tcp_synack_retries'] as const

/** What the clock alignment assumes, in the report's words. */
export const CLOCK_ASSUMPTION =
  "the two hosts' wall clocks are taken to agree (NTP keeps them within milliseconds; an offset shifts the server's window by as much); the watch's samples from the last one at or before the storm's start to the first one at or after its end are used"

/** The same, for --isolate's two namespaces: one machine, one clock — nothing to assume. */
export const SAME_CLOCK = 'one clock: both namespaces are on this machine (--isolate); the watch\'s samples from the last one at or before the storm\'s start to the first one at or after its end are used'

function utc(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC')
}

/** "2026-12-06 14:12:01.100 UTC – 14:12:03.140" */
export function describeWindow(window: {fromMs: number; toMs: number}): string {
  return `${utc(window.fromMs).replace(' UTC', '')} – ${utc(window.toMs).slice(11)}`
}

/**
 * Lays a watch over a storm by wall clock. Refuses (UsageError, exit 2) a watch that does not
 * overlap the storm, naming both windows, or one that saw no listener during it.
 */
export function alignServerEvidence(
  storm: Pick<Measurement, 'startedAt' | 'durationMs' | 'target'>,
  watch: WatchFile,
  names: {storm: string; watch: string},
): ServerEvidence {
  const stormFrom = Date.parse(storm.startedAt)
  const stormWindow = {fromMs: stormFrom, toMs: stormFrom + storm.durationMs}
  const watchWindow = {fromMs: watch.startedAtMs, toMs: watch.endedAtMs}
  if (watchWindow.toMs < stormWindow.fromMs || watchWindow.fromMs > stormWindow.toMs) {
    throw new UsageError(
      `--server-evidence: the watch ${names.watch} (${describeWindow(watchWindow)}) does not overlap the storm ${names.storm} (${describeWindow(stormWindow)}); give the watch that ran during the storm`,
      'INVALID_OPTION',
    )
  }
  if (watch.port !== storm.target.port) {
    throw new UsageError(`--server-evidence: the watch ${names.watch} watched port ${watch.port}, the storm ${names.storm} connected to port ${storm.target.port}`, 'INVALID_OPTION')
  }
  const {samples} = watch
  const {from, to} = windowIndexes(samples, stormWindow)
  const window = summariseWindow(samples, from, to)
  const sysctls = watch.sysctls
  return {
    stormWindow,
    watchWindow,
    used: {fromMs: window.fromMs, toMs: window.toMs, samples: window.samples, intervalMs: watch.intervalMs, source: watch.source},
    clock: CLOCK_ASSUMPTION,
    listener: {port: watch.port, peakQueue: window.peakQueue, effectiveBacklog: window.backlog ?? latestBacklog(samples, to), drops: window.drops},
    counterDeltas: window.counters,
    sysctls,
    sysctlsFromServer: SERVER_SIDE_SYSCTLS.filter((name) => sysctls[name] !== undefined && sysctls[name] !== 'unknown'),
  }
}

/** The samples that cover a window: from the last one at or before its start to the first one at or after its end. */
function windowIndexes(samples: readonly WatchSample[], window: {fromMs: number; toMs: number}): {from: number; to: number} {
  let from = 0
  for (let i = 0; i < samples.length && samples[i]!.t <= window.fromMs; i++) from = i
  let to = samples.length - 1
  for (let i = samples.length - 1; i >= from && samples[i]!.t >= window.toMs; i--) to = i
  return {from, to}
}

/** As many points as the result keeps of a queue timeline (its schema's maxItems). */
const TIMELINE_MAX_POINTS = 5000

/**
 * The server's accept queue over the storm, from the watch's samples over the storm's window (as
 * alignServerEvidence lays them): times in ms since the storm's start, the longest queue of the
 * port's listeners, their drops since the window's first sample (listenerDropsBetween), a point
 * at each change and at the window's last sample. Null when no listener was seen. Pure.
 */
export function serverQueueTimeline(storm: Pick<Measurement, 'startedAt' | 'durationMs'>, watch: WatchFile): QueueTimeline | null {
  const startMs = Date.parse(storm.startedAt)
  const {samples} = watch
  if (samples.length === 0) return null
  const {from, to} = windowIndexes(samples, {fromMs: startMs, toMs: startMs + storm.durationMs})
  const points: [number, number, number | null][] = []
  let truncated = false
  let backlog: number | null = null
  const dropsSoFar = dropsCounter()
  for (let i = from; i <= to; i++) {
    const {listeners} = samples[i]!
    const drops = dropsSoFar(samples[i]!)
    if (listeners.length === 0) continue
    let queue = 0
    for (const listener of listeners) {
      if (listener.recvQ >= queue) {
        queue = listener.recvQ
        backlog = listener.sendQ ?? backlog
      }
    }
    const point: [number, number, number | null] = [samples[i]!.t - startMs, queue, drops]
    const previous = points.at(-1)
    if (previous !== undefined && previous[1] === queue && previous[2] === drops && i !== to) continue
    if (points.length >= TIMELINE_MAX_POINTS) {
      truncated = true
      break
    }
    points.push(point)
  }
  if (points.length === 0) return null
  return {source: 'server', effectiveBacklog: backlog, intervalMs: watch.intervalMs, points, ...(truncated ? {truncated: true} : {})}
}

function latestBacklog(samples: readonly WatchSample[], to: number): number | null {
  for (let i = to; i >= 0; i--) for (const listener of samples[i]!.listeners) if (listener.sendQ !== null) return listener.sendQ
  return null
}

/**
 * The measurement as the diagnosis should see it with the server's side known: the watched
 * listener is the target's listener (its backlog, peak queue and drops feed the verdict and the
 * advice, docs/kernel.md §14), and the server-side sysctls are the server's. The client's
 * counters and its SYN sysctls stay as measured.
 */
export function withServerEvidence<M extends Measurement>(measurement: M, evidence: ServerEvidence, queueTimeline: QueueTimeline | null = null): M {
  // A run that could not look at its own kernel (another OS) still gets the server's side.
  const kernel = measurement.kernel ?? {netns: 'unknown' as const, sysctls: {}, counterDeltas: null, listener: null}
  const sysctls = {...kernel.sysctls}
  for (const name of evidence.sysctlsFromServer) sysctls[name] = evidence.sysctls[name]!
  const listener = {
    effectiveBacklog: evidence.listener.effectiveBacklog,
    peakQueue: evidence.listener.peakQueue,
    samples: evidence.used.samples,
    source: evidence.used.source,
    drops: evidence.listener.drops,
  }
  // The server's queue over the storm is the listener's own: it replaces what the storm's sampler saw.
  return {...measurement, kernel: {...kernel, sysctls, listener, serverEvidence: evidence}, ...(queueTimeline ? {queueTimeline} : {})}
}
