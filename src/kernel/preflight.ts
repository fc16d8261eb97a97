import {readFileSync} from 'node:fs'

import {readSysctl} from './sysctl.js'
import type {PreflightFacts} from '../results/format.js'

export function readPreflightFacts(): PreflightFacts {
  const range = readSysctl('net.ipv4.ip_local_port_range')?.split(/\s+/).map(Number)
  const conntrack = readSysctl('net.netfilter.nf_conntrack_max')
  return {
    openFiles: readOpenFileLimit(),
    portRange: range && range.length === 2 && range.every(Number.isInteger) ? [range[0]!, range[1]!] : null,
    twReuse: readSysctl('net.ipv4.tcp_tw_reuse'),
    conntrackMax: conntrack === null ? null : Number(conntrack),
  }
}

function readOpenFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((candidate) => candidate.startsWith('Max open files'))
    const soft = line?.split(/\s{2,}/)[1]
    return soft === undefined || soft === 'unlimited' ? null : Number(soft)
  } catch {
    return null
  }
}
