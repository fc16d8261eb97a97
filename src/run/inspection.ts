import type {Inspection} from '../results/format.js'
import {ladderFromSysctls} from '../analysis/diagnosis.js'
import {STORM_COUNTERS, readCounters} from '../kernel/counters.js'
import {findListeners} from '../kernel/listeners.js'
import {STORM_SYSCTLS, type StormSysctl} from '../results/sysctls.js'
import {SYSCTL_MEANINGS, readStormSysctls, sysctlPath} from '../kernel/sysctl.js'

/** Everything connstorm knows about a port on this machine and the kernel's settings around it. */
export async function inspectPort(port: number, host?: string): Promise<Inspection> {
  const lookup = await findListeners(port, host).catch(() => null)
  const sysctls = readStormSysctls()
  const counters = readCounters()
  return {
    port,
    host: host ?? null,
    listeners: lookup?.listeners ?? [],
    listenerSource: lookup?.source ?? 'unknown',
    sysctls: STORM_SYSCTLS.map((name) => ({name, value: sysctls[name], meaning: SYSCTL_MEANINGS[name], path: sysctlPath(name)})),
    ladder: ladderFromSysctls(sysctls),
    counters: counters === null ? null : Object.fromEntries(STORM_COUNTERS.filter((name) => name in counters).map((name) => [name, counters[name]!])),
  }
}
