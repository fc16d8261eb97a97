/**
 * Connects that failed on this machine, before any SYN left: which local limit was hit and the
 * line that lifts it. A storm that runs out of file descriptors or source ports measures the
 * client, not the server, and the report must say so instead of blaming the target.
 */

/** What the pre-flight read before the run (the same facts the refusal lines are built from). */
export interface ClientLimits {
  /** this process's open-file limit (soft = hard once Node has started) */
  openFiles: number | null
  portRange: [number, number] | null
  /** problems the pre-flight found and --force overrode */
  problems: string[]
}

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
