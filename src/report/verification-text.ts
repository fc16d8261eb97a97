import type {RunFigures, Verification} from '../results/format.js'
import {formatMicros} from '../plan/units.js'

/** Before / after, side by side: connects per ladder step, p99, max, ListenOverflows. */
export function renderVerification(verification: Verification): string[] {
  const lines = [`verify    ${verification.verified ? 'VERIFIED' : 'NOT VERIFIED'}: ${verification.reason}`]
  const {before, after} = verification
  if (after === null) return lines
  const steps = [...new Set([...Object.keys(before.connectsPerStep), ...Object.keys(after.connectsPerStep)])].sort((a, b) => Number(a) - Number(b))
  const row = (label: string, was: string, now: string): string => `          ${label.padEnd(30)} ${was.padStart(12)} ${now.padStart(12)}`
  lines.push(row('', 'before', 'after'))
  for (const k of steps) lines.push(row(`connects after ${k} SYN retransmits`, String(before.connectsPerStep[k] ?? 0), String(after.connectsPerStep[k] ?? 0)))
  lines.push(row('timed out', String(before.timedOut), String(after.timedOut)))
  lines.push(row('p99 (from intended start)', formatMicros(before.p99Us), formatMicros(after.p99Us)))
  lines.push(row('max', formatMicros(before.maxUs), formatMicros(after.maxUs)))
  lines.push(row('TcpExtListenOverflows', figure(before), figure(after)))
  return lines
}

function figure(run: RunFigures): string {
  return run.listenOverflows === null ? 'unknown' : `+${run.listenOverflows}`
}
