import {formatAddress} from '../plan/target.js'
import type {Inspection} from '../results/format.js'

/** The text form of `connstorm inspect`: a pure function of the inspection. */
export function renderInspection(inspection: Inspection): string {
  const lines: string[] = []
  const where = inspection.host === null ? `port ${inspection.port}` : formatAddress(inspection.host, inspection.port)
  if (inspection.listenerSource === 'unknown') {
    lines.push(`listeners on ${where}: unknown (neither ss nor /proc/net/tcp could be read)`)
  } else if (inspection.listeners.length === 0) {
    lines.push(`no listener on ${where} (in this network namespace; read with ${inspection.listenerSource})`)
  } else {
    lines.push(`listeners on ${where} (read with ${inspection.listenerSource}; Send-Q is the effective backlog, Recv-Q the accept queue now):`)
    for (const listener of inspection.listeners) {
      const backlog = listener.sendQ === null ? 'effective backlog unknown (needs ss)' : `effective backlog ${listener.sendQ}, queue holds ${listener.sendQ + 1}`
      lines.push(`  ${formatAddress(listener.host, listener.port).padEnd(28)} ${backlog}; accept queue now ${listener.recvQ}`)
    }
  }

  lines.push('', 'sysctls (this network namespace):')
  const width = Math.max(...inspection.sysctls.map((sysctl) => `${sysctl.name} = ${sysctl.value}`.length))
  for (const sysctl of inspection.sysctls) {
    lines.push(`  ${`${sysctl.name} = ${sysctl.value}`.padEnd(width)}  ${sysctl.meaning} (${sysctl.path})`)
  }

  lines.push('')
  const {ladder} = inspection
  if (ladder === null) {
    lines.push('SYN retransmit ladder: unknown (tcp_syn_retries / tcp_syn_linear_timeouts unreadable)')
  } else {
    lines.push(
      `SYN retransmit ladder of a connect() from this machine (tcp_syn_retries=${ladder.synRetries}, tcp_syn_linear_timeouts=${ladder.linearTimeouts}, initial RTO ${ladder.initialRtoMs / 1000} s):`,
      '  retransmit k   SYN sent at',
    )
    for (const [k, atMs] of ladder.sendTimesMs.entries()) lines.push(`  ${String(k).padStart(12)}   ${atMs / 1000} s${k === 0 ? ' (the original SYN)' : ''}`)
    lines.push(`  connect() gives up with ETIMEDOUT at ${ladder.giveUpMs / 1000} s (first expiry at or after the ${ladder.budgetMs / 1000} s budget)`)
  }

  lines.push('')
  if (inspection.counters === null) {
    lines.push('counters: unreadable (/proc/net/netstat, /proc/net/snmp)')
  } else {
    lines.push('counters since boot (this network namespace):')
    for (const [name, value] of Object.entries(inspection.counters)) lines.push(`  ${name.padEnd(28)} ${value}`)
  }
  return lines.join('\n')
}
