import {type SynLadder} from '../analysis/ladder.js'
import {ladderFromSysctls} from '../analysis/diagnosis.js'
import {STORM_COUNTERS, readCounters} from './counters.js'
import {type ListenerInfo, type ListenerSource, findListeners} from './listeners.js'
import {STORM_SYSCTLS, SYSCTL_MEANINGS, type StormSysctl, readStormSysctls, sysctlPath} from './sysctl.js'

export interface Inspection {
  port: number
  host: string | null
  listeners: ListenerInfo[]
  /** where the listeners were read: ss shows the effective backlog, /proc only the queue */
  listenerSource: ListenerSource | 'unknown'
  sysctls: {name: StormSysctl; value: string; meaning: string; path: string}[]
  ladder: SynLadder | null
  /** absolute values since boot, in this network namespace (nstat names); null when unreadable */
  counters: Record<string, number> | null
}

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
