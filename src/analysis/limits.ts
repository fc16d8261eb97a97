import type {Plan} from '../plan/plan.js'
import type {ClientLimits, PreflightFacts} from '../results/format.js'

/**
 * Connects that failed on this machine, before any SYN left: which local limit was hit and the
 * line that lifts it. A storm that runs out of file descriptors or source ports measures the
 * client, not the server, and the report must say so instead of blaming the target.
 */

export interface LocalLimitFinding {
  outcome: 'fileLimit' | 'addrNotAvail'
  count: number
  /** what ran out, in numbers */
  limit: string
  /** the command or flag that lifts it */
  fix: string
}

/** File descriptors the process needs besides its sockets (stdio, the lab pipe, workers, /proc reads). */
export const FD_HEADROOM = 64

export interface LimitFacts {
  byOutcome: {fileLimit: number; addrNotAvail: number}
  /** sockets open at once at most: --concurrency, or every connect with --close hold */
  openAtOnce: number
  sources: readonly string[] | undefined
  loopbackTarget: boolean
  limits: ClientLimits | undefined
}

export function localLimitFindings(facts: LimitFacts): LocalLimitFinding[] {
  const findings: LocalLimitFinding[] = []
  const openFiles = facts.limits?.openFiles ?? null
  if (facts.byOutcome.fileLimit > 0) {
    const needed = facts.openAtOnce + FD_HEADROOM
    findings.push({
      outcome: 'fileLimit',
      count: facts.byOutcome.fileLimit,
      limit: `open files: this process may open ${openFiles ?? 'an unknown number of'} files and the plan keeps up to ${facts.openAtOnce} sockets open`,
      fix: `ulimit -n ${needed} before the run (LimitNOFILE=${needed} for a systemd service; the hard limit too: Node raises the soft limit to it), or lower --concurrency`,
    })
  }
  if (facts.byOutcome.addrNotAvail > 0) {
    const range = facts.limits?.portRange ?? null
    const ports = range ? range[1] - range[0] + 1 : null
    const sourceCount = facts.sources?.length ?? 1
    const addressesNeeded = ports === null ? null : Math.ceil(facts.openAtOnce / ports) + 1
    const spread =
      addressesNeeded === null
        ? 'more addresses with --source'
        : facts.loopbackTarget
          ? `--source 127.0.0.1-127.0.0.${Math.max(addressesNeeded, sourceCount + 1)}`
          : `--source over ≥ ${Math.max(addressesNeeded, sourceCount + 1)} local addresses`
    findings.push({
      outcome: 'addrNotAvail',
      count: facts.byOutcome.addrNotAvail,
      limit:
        `source ports: ${range ? `ip_local_port_range ${range[0]}–${range[1]} gives ${ports} ports` : 'the ephemeral port range'}` +
        ` per source address × ${sourceCount} address${sourceCount === 1 ? '' : 'es'}, and ports in TIME_WAIT stay taken for 60 s`,
      fix: `${spread}, sysctl -w net.ipv4.ip_local_port_range="1024 65535", or --close rst (no TIME_WAIT)`,
    })
  }
  return findings
}

/** Seconds a client-closed connection holds its port in TIME_WAIT on Linux (TCP_TIMEWAIT_LEN). */
const TIME_WAIT_S = 60

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
    if (
      plan.close === 'fin' &&
      // Stryker disable next-line ConditionalExpression: without a rate, plan.rate * 60 is NaN and NaN > ports is false: no TIME_WAIT line either way
      plan.rate !== undefined
    ) {
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
