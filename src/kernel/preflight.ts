import {readFileSync} from 'node:fs'

import type {Plan} from '../plan/plan.js'
import {readSysctl} from './sysctl.js'
import {FD_HEADROOM} from '../analysis/limits.js'

/** Seconds a client-closed connection holds its port in TIME_WAIT on Linux (TCP_TIMEWAIT_LEN). */
const TIME_WAIT_S = 60

export interface PreflightFacts {
  /** this process's soft RLIMIT_NOFILE (Node raises it to the hard limit at start-up) */
  openFiles: number | null
  portRange: [number, number] | null
  twReuse: string | null
  conntrackMax: number | null
}

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

/**
 * What would break the plan before it starts (tcpkali's habit): each problem is one line with
 * the number needed and the command that fixes it. Pure: facts and plan in, problems out.
 */
export function preflightProblems(plan: Plan, facts: PreflightFacts, loopbackTarget: boolean): string[] {
  const problems: string[] = []
  // Sockets open at once: every connect in flight, or with --close hold every connect of the run.
  const open = plan.close === 'hold' ? plan.connects : Math.min(plan.concurrency, plan.connects)
  if (facts.openFiles !== null && open + FD_HEADROOM > facts.openFiles) {
    problems.push(
      `open files: the plan keeps up to ${open} sockets open but this process may open ${facts.openFiles} files; ` +
        `raise it to ≥ ${open + FD_HEADROOM} (ulimit -n ${open + FD_HEADROOM}, or LimitNOFILE= for a service), or lower --concurrency`,
    )
  }
  if (facts.portRange) {
    const ports = facts.portRange[1] - facts.portRange[0] + 1
    // A bound source address offers the range once, for all destinations (no IP_BIND_ADDRESS_NO_PORT in Node).
    const sources = plan.sources?.length ?? 1
    if (open > ports * sources) {
      const needed = Math.ceil(open / ports)
      problems.push(
        plan.sources === undefined
          ? `ephemeral ports: up to ${open} connections to one address need ${open} source ports but ip_local_port_range has ${ports}; ` +
              `spread them with ${loopbackTarget ? `--source 127.0.0.1-127.0.0.${needed} (loopback target)` : `--source over ≥ ${needed} local addresses`}, sysctl -w net.ipv4.ip_local_port_range="1024 65535", or lower --concurrency`
          : `ephemeral ports: up to ${open} connections need ${open} source ports but ${sources} source address${sources === 1 ? '' : 'es'} × ${ports} ports in ip_local_port_range give ${ports * sources}; ` +
              `give ≥ ${needed} addresses to --source, or sysctl -w net.ipv4.ip_local_port_range="1024 65535"`,
      )
    }
    // FIN close: each connect's port stays in TIME_WAIT for 60 s (tcp_tw_reuse=2 reuses them on loopback only).
    if (plan.close === 'fin' && plan.rate !== undefined) {
      const reused = facts.twReuse === '1' || (facts.twReuse === '2' && loopbackTarget)
      const heldByTimeWait = Math.min(plan.connects, Math.ceil(plan.rate * TIME_WAIT_S))
      if (!reused && heldByTimeWait > ports) {
        problems.push(
          `TIME_WAIT: --close fin at ${plan.rate}/s holds ${heldByTimeWait} ports for 60 s, more than the ${ports} in ip_local_port_range; ` +
            'use --close rst (no TIME_WAIT), or sysctl -w net.ipv4.tcp_tw_reuse=1',
        )
      }
    }
  }
  if (facts.conntrackMax !== null && open > facts.conntrackMax) {
    problems.push(`conntrack: up to ${open} connections but nf_conntrack_max is ${facts.conntrackMax}; sysctl -w net.netfilter.nf_conntrack_max=${open * 2}`)
  }
  return problems
}
