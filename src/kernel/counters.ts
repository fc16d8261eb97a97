import {readFileSync} from 'node:fs'
import {join} from 'node:path'

/**
 * Kernel SNMP/MIB counters keyed the way `nstat` names them: section + field, e.g.
 * "TcpExtListenOverflows" (/proc/net/netstat "TcpExt:") or "TcpActiveOpens" (/proc/net/snmp "Tcp:").
 * They are per network namespace (docs/kernel.md §5).
 */
export type Counters = Record<string, number>

/** The counters a storm moves, client side and server side (which one moves when: docs/kernel.md §5). */
export const STORM_COUNTERS = [
  'TcpExtTCPSynRetrans',
  'TcpExtListenOverflows',
  'TcpExtListenDrops',
  'TcpExtTCPReqQFullDrop',
  'TcpExtTCPReqQFullDoCookies',
  'TcpExtSyncookiesSent',
  'TcpExtSyncookiesRecv',
  'TcpExtSyncookiesFailed',
  'TcpActiveOpens',
  'TcpPassiveOpens',
  'TcpAttemptFails',
  'TcpEstabResets',
  'TcpExtTCPAbortOnTimeout',
  'TcpExtTCPTimeouts',
  'TcpRetransSegs',
  'TcpExtEmbryonicRsts',
  'TcpOutRsts',
] as const

export type StormCounter = (typeof STORM_COUNTERS)[number]

/**
 * Parses the header-line/value-line pairs of /proc/net/netstat and /proc/net/snmp
 * ("TcpExt: SyncookiesSent …" then "TcpExt: 844 …").
 *
 * Values are parsed as Number. The kernel keeps them as unsigned 64-bit, so one above 2^53
 * (in practice only byte counts such as IpExtInOctets after months at line rate) loses its low
 * bits; the deltas of a storm's packet counters stay exact. Gauges and constants that nstat
 * hides (TcpCurrEstab, TcpMaxConn = -1, IpForwarding …) are kept: counterDeltas only reads the
 * names it is given.
 */
export function parseProcNetCounters(text: string): Counters {
  const counters: Counters = {}
  const lines = text.split('\n')
  for (let i = 0; i + 1 < lines.length; i++) {
    const header = splitSection(lines[i]!)
    const values = splitSection(lines[i + 1]!)
    if (header === null || values === null || header.section !== values.section) continue
    if (!values.fields.every((value) => /^-?\d+$/.test(value))) continue
    const count = Math.min(header.fields.length, values.fields.length)
    for (let f = 0; f < count; f++) counters[header.section + header.fields[f]!] = Number(values.fields[f])
    i++ // the value line is consumed
  }
  return counters
}

function splitSection(line: string): {section: string; fields: string[]} | null {
  const colon = line.indexOf(':')
  if (colon <= 0) return null
  const fields = line.slice(colon + 1).trim().split(/\s+/).filter((field) => field !== '')
  return {section: line.slice(0, colon), fields}
}

/**
 * The counters of this network namespace: /proc/net/netstat and /proc/net/snmp merged (or only
 * the `files` asked for: the queue sampler reads netstat alone, 25 times a second).
 * null when none can be read (another OS, no /proc); one missing file leaves its names out.
 */
export function readCounters(procNet = '/proc/net', files: readonly ('netstat' | 'snmp')[] = ['netstat', 'snmp']): Counters | null {
  let counters: Counters | null = null
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(join(procNet, file), 'utf8')
    } catch {
      continue
    }
    counters = Object.assign(counters ?? {}, parseProcNetCounters(text))
  }
  return counters
}

/** after − before for each of `names` present in both snapshots; the others are left out, not zeroed. */
export function counterDeltas(before: Counters, after: Counters, names: readonly string[]): Counters {
  const deltas: Counters = {}
  for (const name of names) {
    if (Object.hasOwn(before, name) && Object.hasOwn(after, name)) deltas[name] = after[name]! - before[name]!
  }
  return deltas
}
