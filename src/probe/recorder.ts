import {PROBE_OUTCOMES, type ProbeOutcome} from '../results/outcome.js'
import type {ProbeReport} from './run.js'
import {type Histogram, decodeHistogram, encodeHistogram, newLatencyHistogram} from '../results/histogram.js'

const HISTOGRAMS = ['firstByte', 'tlsHandshake', 'httpHeaders', 'responseAfterConnect', 'acceptWait'] as const
type HistogramName = (typeof HISTOGRAMS)[number]

/** A probe recorder's content in a form a worker thread can post: histograms encoded, counts copied. */
export interface ProbeSnapshot {
  histograms: Record<HistogramName, string>
  outcomes: Record<ProbeOutcome, number>
  httpStatus: Record<string, number>
  errorCodes: Record<string, number>
  admittedNotAccepted: number
  pending: number
}

/**
 * A connect whose application answered this long after the handshake completed was admitted by
 * the kernel but not accepted in time (ACK-time overflow, SYN-cookie wave: docs/kernel.md §3, §4) — or
 * served by a slow application; the kernel's counters tell which.
 */
export const ACCEPT_WAIT_THRESHOLD_US = 200_000

/** What the probes measured, in constant memory like the connect recorder. */
export class ProbeRecorder {
  /** send / banner: first byte back, from the intended start */
  readonly firstByte = newLatencyHistogram()
  /** tls / https: handshake done, from the intended start */
  readonly tlsHandshake = newLatencyHistogram()
  /** http / https: response headers, from the intended start */
  readonly httpHeaders = newLatencyHistogram()
  /** first sign of the application (first byte, ServerHello, headers) after connect() completed */
  readonly responseAfterConnect = newLatencyHistogram()
  /** the responses that came ≥ 200 ms after connect: the accept wait */
  readonly acceptWait = newLatencyHistogram()
  readonly outcomes = Object.fromEntries(PROBE_OUTCOMES.map((outcome) => [outcome, 0])) as Record<ProbeOutcome, number>
  readonly httpStatus: Record<string, number> = {}
  readonly errorCodes: Record<string, number> = {}
  admittedNotAccepted = 0
  /** probes still running when the run stopped early */
  pending = 0

  record(report: ProbeReport, intendedAt: number, connectedAt: number): void {
    this.outcomes[report.outcome]++
    if (report.errorCode !== null) this.errorCodes[report.errorCode] = (this.errorCodes[report.errorCode] ?? 0) + 1
    if (report.status !== null) this.httpStatus[String(report.status)] = (this.httpStatus[String(report.status)] ?? 0) + 1
    if (report.headersAt !== null) recordMs(this.httpHeaders, report.headersAt - intendedAt)
    if (report.tlsDoneAt !== null) recordMs(this.tlsHandshake, report.tlsDoneAt - intendedAt)
    if (report.respondedAt !== null) {
      if (report.headersAt === null && report.tlsDoneAt === null) recordMs(this.firstByte, report.respondedAt - intendedAt)
      const afterConnectUs = (report.respondedAt - connectedAt) * 1000
      recordMs(this.responseAfterConnect, report.respondedAt - connectedAt)
      if (afterConnectUs >= ACCEPT_WAIT_THRESHOLD_US) {
        this.admittedNotAccepted++
        recordMs(this.acceptWait, report.respondedAt - connectedAt)
      }
    }
  }

  /**
   * What the native loop tallied itself, one call per HDR bucket instead of one per probe: `count`
   * ok probes (on connects with no retransmit: native/connect-loop.c tally_probe) whose first byte
   * fell in the bucket of `valueUs` — from the intended start (firstByte), after the connect
   * (responseAfterConnect: one per ok probe), after the connect and ≥ 200 ms (acceptWait). The
   * same as record() of each of them.
   */
  addTallied(kind: 'firstByte' | 'responseAfterConnect' | 'acceptWait', valueUs: number, count: number): void {
    this[kind].recordValueWithCount(valueUs, count)
    if (kind === 'responseAfterConnect') this.outcomes.ok += count
    else if (kind === 'acceptWait') this.admittedNotAccepted += count
  }

  snapshot(): ProbeSnapshot {
    return {
      histograms: Object.fromEntries(HISTOGRAMS.map((name) => [name, encodeHistogram(this[name])])) as Record<HistogramName, string>,
      outcomes: {...this.outcomes},
      httpStatus: {...this.httpStatus},
      errorCodes: {...this.errorCodes},
      admittedNotAccepted: this.admittedNotAccepted,
      pending: this.pending,
    }
  }

  /** Adds another recorder's snapshot (a --workers thread's): histograms by HDR add, counts summed. */
  add(other: ProbeSnapshot): void {
    for (const name of HISTOGRAMS) this[name].add(decodeHistogram(other.histograms[name]))
    for (const outcome of PROBE_OUTCOMES) this.outcomes[outcome] += other.outcomes[outcome]
    addCounts(this.httpStatus, other.httpStatus)
    addCounts(this.errorCodes, other.errorCodes)
    this.admittedNotAccepted += other.admittedNotAccepted
    this.pending += other.pending
  }
}

function addCounts(into: Record<string, number>, other: Readonly<Record<string, number>>): void {
  for (const [key, n] of Object.entries(other)) into[key] = (into[key] ?? 0) + n
}

function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.round(ms * 1000)))
}
