import {PROBE_OUTCOMES} from '../results/outcome.js'
import {formatMicros, formatMs} from '../plan/units.js'
import type {LatencySummary} from '../results/histogram.js'
import type {StormResult} from '../results/format.js'

/** The probe section: outcomes after connect, the latency of each probe, the accept wait. */
export function renderProbe(result: StormResult): string[] {
  const {probe, acceptWait} = result
  if (!probe) return []
  const lines = [`probe     ${probe.description}; deadline ${formatMs(probe.timeoutMs)} after connect${probe.expect === null ? '' : `; reply must contain ${JSON.stringify(probe.expect)}`}`]
  if (probe.insecure) lines.push('          WARNING: --insecure: TLS certificates were NOT verified in this run')
  const outcomes = PROBE_OUTCOMES.map((outcome) => `${outcome} ${probe.outcomes[outcome]}`).join(' · ')
  lines.push(`          ${outcomes}${probe.pending > 0 ? ` · still probing at the stop ${probe.pending}` : ''}`)
  const statuses = Object.entries(probe.httpStatus).map(([status, n]) => `${status} ×${n}`)
  if (statuses.length > 0) lines.push(`          HTTP status: ${statuses.join(', ')}`)
  const codes = Object.entries(probe.errorCodes).map(([code, n]) => `${code} ×${n}`)
  if (codes.length > 0) lines.push(`          errors: ${codes.join(', ')}`)
  const rows: [string, LatencySummary][] = [
    ['first byte (from intended start)', probe.latencyUs.firstByte],
    ['TLS handshake done (from intended)', probe.latencyUs.tlsHandshake],
    ['HTTP headers (from intended start)', probe.latencyUs.httpHeaders],
    ['first response after connect', probe.latencyUs.responseAfterConnect],
  ]
  for (const [label, summary] of rows) {
    if (summary.count > 0) {
      lines.push(
        `          ${label.padEnd(36)} min ${formatMicros(summary.min)}  p50 ${formatMicros(summary.p50)}  p90 ${formatMicros(summary.p90)}  ` +
          `p99 ${formatMicros(summary.p99)}  max ${formatMicros(summary.max)}  (n=${summary.count})`,
      )
    }
  }
  if (acceptWait && acceptWait.admittedNotAccepted > 0) {
    const delay = acceptWait.delayUs
    lines.push(
      `accept    ${acceptWait.admittedNotAccepted} connects admitted but answered ≥ 200 ms after connect: ` +
        `wait p50 ${formatMicros(delay.p50)}, p99 ${formatMicros(delay.p99)}, max ${formatMicros(delay.max)}`,
    )
  }
  return lines
}
