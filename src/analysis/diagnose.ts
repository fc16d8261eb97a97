import {isLoopbackAddress} from '../plan/target.js'
import {type Threshold, parseThreshold} from '../plan/thresholds.js'
import type {AdviceInputs, AfterConnectMechanism, Attribution, LadderRecord, Measurement, StormResult} from '../results/format.js'
import {decodeHistogram, latencyCountsMs} from '../results/histogram.js'
import {explainAfterConnect} from './accept-wait.js'
import {type CountedInput, attributeToSteps} from './attribution.js'
import {corroborate, ladderFromSysctls} from './diagnosis.js'
import {type LocalLimitFinding, localLimitFindings} from './limits.js'
import {type Advice, adviceOptionsFor, recommend} from './recommend.js'
import {listenerHostCounters} from './server-evidence.js'
import {type ServerProfile, findServer} from './servers.js'
import {evaluateThresholds} from './thresholds.js'

/**
 * The one place a run is diagnosed: measurement + stated inputs → ladder, attribution, the
 * counters' verdict, the after-connect mechanisms, local-limit findings, advice and thresholds.
 * `storm`, `analyze`, `report`, `merge` and `reproduce` all come through here, so a saved run
 * and the live run print the same diagnosis by construction. Pure.
 */

export interface DiagnosisInputs {
  /** --server: the advice's backlog lines in this server's syntax */
  server?: ServerProfile | undefined
  /** --accept-stall: the longest accept pause the user knows of, ms */
  acceptStallMs: number | null
  /** --threshold expressions; absent: the ones the measurement was saved with, evaluated again */
  thresholds?: readonly Threshold[]
}

export interface Diagnosis {
  /** the result: the measurement with every diagnosis section written */
  result: StormResult
  advice: Advice
  /** connects that failed on this machine before a SYN left, and what lifts each limit */
  limitFindings: LocalLimitFinding[]
  /** the server the advice is written for (its display name), when one was given */
  serverName?: string
}

/**
 * The inputs a saved run was diagnosed with (its server and accept stall), so that reading it
 * again prints what the live run printed; `server` (a --server given now) takes precedence.
 */
export function savedInputs(saved: Measurement & Partial<Pick<StormResult, 'advice'>>, server?: ServerProfile): DiagnosisInputs {
  const savedServer = saved.advice?.inputs.server
  return {server: server ?? (savedServer ? findServer(savedServer) : undefined), acceptStallMs: saved.advice?.inputs.acceptStallMs ?? null}
}

export function diagnose(measurement: Measurement, inputs: DiagnosisInputs): Diagnosis {
  const kernelObservation = measurement.kernel === null ? null : withoutVerdict(measurement.kernel)
  const ladder = kernelObservation ? ladderFromSysctls(kernelObservation.sysctls) : null
  const attribution = ladder ? attributionOf(measurement, ladder) : null
  const corroboration =
    attribution && kernelObservation
      ? corroborate(attribution, kernelObservation, {
          attempted: measurement.counts.attempted,
          pending: measurement.counts.pending,
          withoutSyn: measurement.counts.byOutcome.addrNotAvail + measurement.counts.byOutcome.fileLimit,
        })
      : null
  const kernel = kernelObservation ? {...kernelObservation, corroborated: corroboration?.corroborated ?? null, corroboration} : null
  const ladderRecord: LadderRecord | null =
    ladder && kernelObservation
      ? {
          synRetries: kernelObservation.sysctls['net.ipv4.tcp_syn_retries']!,
          linearTimeouts: kernelObservation.sysctls['net.ipv4.tcp_syn_linear_timeouts']!,
          sendTimesMs: ladder.sendTimesMs,
          giveUpMs: ladder.giveUpMs,
        }
      : null
  const located = {...measurement, ladder: ladderRecord, attribution, kernel, afterConnect: afterConnectOf(measurement)}

  const advice = recommend(located, adviceOptionsFor(inputs.server, inputs.acceptStallMs))
  const adviceInputs: AdviceInputs = {acceptStallMs: inputs.acceptStallMs, server: inputs.server?.id ?? null}
  const {recommendations, proposedSomaxconn: _applied, ...summary} = advice
  const result: StormResult = {...located, recommendations, advice: {...summary, inputs: adviceInputs}}
  const thresholds = inputs.thresholds ?? savedThresholds(measurement)
  if (thresholds.length > 0) result.thresholds = evaluateThresholds(thresholds, result)
  else delete result.thresholds

  return {
    result,
    advice,
    limitFindings: localLimitFindings({
      byOutcome: measurement.counts.byOutcome,
      openAtOnce: measurement.plan.close === 'hold' ? measurement.plan.connects : Math.min(measurement.plan.concurrency, measurement.plan.connects),
      sources: measurement.plan.sources,
      loopbackTarget: isLoopbackAddress(measurement.target.host),
      limits: measurement.clientLimits,
    }),
    ...(inputs.server ? {serverName: inputs.server.name} : {}),
  }
}

/** A saved result carries the counters' verdict too: it is computed again here, never trusted. */
function withoutVerdict(kernel: NonNullable<Measurement['kernel']>): NonNullable<Measurement['kernel']> {
  const {corroborated: _verdict, corroboration: _reason, ...observation} = kernel as NonNullable<StormResult['kernel']>
  return observation
}

function attributionOf(measurement: Measurement, ladder: NonNullable<ReturnType<typeof ladderFromSysctls>>): Attribution {
  const toMs = (encoded: string | undefined) => (encoded === undefined ? [] : latencyCountsMs(decodeHistogram(encoded)))
  return attributeToSteps({
    ladder,
    connected: toMs(measurement.histograms.fromActual),
    timedOut: measurement.counts.byOutcome.timeout,
    timeoutMs: measurement.plan.timeoutMs,
    failedEarly: toMs(measurement.histograms.failedEarlyFromActual),
    pending: measurement.counts.pending,
    pendingForMs: pendingForAtLeastMs(measurement),
    counted: countedInput(measurement.counts.countedRetransmits),
  })
}

/** The kernel's counts of SYN retransmits, with the connected ones' latency per count decoded; null when not counted. */
function countedInput(counted: Measurement['counts']['countedRetransmits']): CountedInput | null {
  if (!counted) return null
  const connectedLatency = new Map(Object.entries(counted.connectedFromActual ?? {}).map(([retransmits, encoded]) => [Number(retransmits), latencyCountsMs(decodeHistogram(encoded))]))
  return {byOutcome: counted.byOutcome, connectedLatency}
}

/**
 * The least time a connect still pending at the stop had been in flight: every one started by the
 * last start, so at least the time from the last start to the stop. A merged file's shards stopped
 * at different times and its start window is the widest of theirs: no bound (0).
 */
function pendingForAtLeastMs(measurement: Measurement): number {
  if ('merge' in measurement) return 0
  return Math.max(0, measurement.durationMs - measurement.startWindowMs)
}

function afterConnectOf(measurement: Measurement): StormResult['afterConnect'] {
  const {kernel, probe} = measurement
  // The server's counters: its own with a watch's evidence; else ours, which are the listener's
  // only when it is in our namespace (a local target).
  const deltas = listenerHostCounters(kernel)
  const counters =
    // Stryker disable next-line OptionalChaining: deltas is non-null only when kernel is, so kernel?. and kernel. read the same
    deltas && kernel?.listener
      ? {listenOverflows: deltas.TcpExtListenOverflows ?? 0, syncookiesRecv: deltas.TcpExtSyncookiesRecv ?? 0, reqQFullDoCookies: deltas.TcpExtTCPReqQFullDoCookies ?? 0}
      : null
  // Connected, then reset before the client saw the connect (counts.connectedThenReset): said by
  // the verdict in its own words (connectedThenResetCause below); a probe on one is a resetAfterConnect.
  const thenReset = measurement.counts.connectedThenReset ?? 0
  const verdict = explainAfterConnect({
    admittedNotAccepted: measurement.acceptWait?.admittedNotAccepted ?? 0,
    resetAfterConnect: Math.max(0, (probe?.outcomes.resetAfterConnect ?? 0) - (probe ? thenReset : 0)),
    // Files from before counts.connectedThenReset counted those in byOutcome.reset: they read as before.
    handshakeResets: measurement.counts.byOutcome.reset,
    probeTimeouts: probe?.outcomes.probeTimeout ?? 0,
    counters,
    abortOnOverflow:
      kernel?.sysctls['net.ipv4.tcp_abort_on_overflow'] ??
      // Stryker disable next-line StringLiteral: explainAfterConnect only asks whether it is '1'; 'unknown' and '' read the same
      'unknown',
  })
  if (thenReset === 0) return verdict
  const cause = connectedThenResetCause(thenReset, measurement.kernel)
  const mechanisms = [...verdict.mechanisms]
  const add = (mechanism: AfterConnectMechanism) => {
    if (!mechanisms.includes(mechanism)) mechanisms.push(mechanism)
  }
  if (cause.listenOverflows === null) add('resetAfterConnect')
  if (cause.byAbortOnOverflow > 0) add('abortOnOverflow')
  if (cause.byApplication > 0) add('applicationReset')
  return {...verdict, mechanisms}
}

/** Who reset the connects that connected, then were reset (counts.connectedThenReset). */
export interface ConnectedThenResetCause {
  connects: number
  /** answered at a full accept queue by tcp_abort_on_overflow=1: at most TcpExtListenOverflows and TcpExtEmbryonicRsts */
  byAbortOnOverflow: number
  /** reset by the application that accepted them */
  byApplication: number
  /** TcpExtListenOverflows' delta when the listener is in our namespace; null when not visible (then neither count is told: both 0) */
  listenOverflows: number | null
  /** TcpExtEmbryonicRsts' delta (the resets tcp_abort_on_overflow sent, among others); null when not read */
  embryonicRsts: number | null
}

/**
 * A connect reset after its handshake completed was reset by the application that accepted it, or
 * — with tcp_abort_on_overflow=1 — by the kernel, answering its handshake ACK at a full accept
 * queue with RST (docs/kernel.md §9). Only the second moves TcpExtListenOverflows, and only with
 * the sysctl on does an overflow reset anything (otherwise the ACK is dropped and the client's
 * retransmit tries again), so: with the sysctl on, up to that many (and no more than the resets
 * the kernel sent for request socks, TcpExtEmbryonicRsts) are the kernel's, the rest the
 * application's. The counters are the listener's only when it is in our namespace; otherwise who
 * reset them is not told. Pure.
 */
export function connectedThenResetCause(
  connects: number,
  kernel: Pick<NonNullable<Measurement['kernel']>, 'counterDeltas' | 'sysctls' | 'listener' | 'serverEvidence'> | null,
): ConnectedThenResetCause {
  // The server's own counters when a watch saw them (the listener's host sent those RSTs).
  const deltas = listenerHostCounters(kernel)
  if (deltas === null || !kernel?.listener) return {connects, byAbortOnOverflow: 0, byApplication: 0, listenOverflows: null, embryonicRsts: null}
  const listenOverflows = deltas.TcpExtListenOverflows ?? 0
  // Each such RST moves TcpExtEmbryonicRsts too (docs/kernel.md §5), while ListenOverflows also
  // counts the SYNs dropped at the full queue: the smaller bounds them (a file without it: overflows).
  const embryonicRsts = deltas.TcpExtEmbryonicRsts ?? listenOverflows
  const byAbortOnOverflow = kernel.sysctls['net.ipv4.tcp_abort_on_overflow'] === '1' ? Math.min(connects, listenOverflows, embryonicRsts) : 0
  return {connects, byAbortOnOverflow, byApplication: connects - byAbortOnOverflow, listenOverflows, embryonicRsts: deltas.TcpExtEmbryonicRsts ?? null}
}

/** The thresholds a saved result was judged by, parsed again from their expressions. */
function savedThresholds(measurement: Measurement): Threshold[] {
  const saved = (measurement as Partial<StormResult>).thresholds ?? []
  return saved.map((outcome) => parseThreshold(outcome.expr))
}
