import type {KernelObservation} from '../results/format.js'

/**
 * Several sockets listening on one address and port with SO_REUSEPORT (nginx `reuseport`, HAProxy
 * and Envoy threads, Go services): the kernel hashes each connect's addresses and ports to one of
 * them, so each accept queue holds its own share of a burst, not the whole burst (docs/kernel.md §16).
 */
export interface ListenerGroup {
  listeners: number
  /** each member's effective backlog, in the kernel's dump order (null: unknown) */
  backlogs: (number | null)[]
  /** Σ (backlog + 1): what the group admits at once while nothing is accepted; null if a backlog is unknown */
  capacity: number | null
  /** the members' backlog when they all have the same one, else null */
  commonBacklog: number | null
}

/** The SO_REUSEPORT group the run saw at its target; null for a single listener (or none). */
export function listenerGroup(listener: KernelObservation['listener'] | undefined): ListenerGroup | null {
  const backlogs = listener?.reusePort?.effectiveBacklogs
  if (backlogs === undefined || backlogs.length < 2) return null
  const known = backlogs.every((backlog) => backlog !== null)
  return {
    listeners: backlogs.length,
    backlogs,
    capacity: known ? backlogs.reduce<number>((sum, backlog) => sum + backlog! + 1, 0) : null,
    commonBacklog: known && backlogs.every((backlog) => backlog === backlogs[0]) ? backlogs[0]! : null,
  }
}

/**
 * How many of `connects` one of `listeners` equally likely members may get: the mean share plus
 * four standard deviations of a binomial share (each connect lands on a given member with
 * probability 1/L, independently, since the hash covers the client's port). The chance that any
 * member gets more is below L × 3.2·10⁻⁵ per burst (docs/kernel.md §16).
 */
export function shareBound(connects: number, listeners: number): number {
  if (listeners <= 1) return connects
  const p = 1 / listeners
  return Math.min(connects, Math.ceil(connects * p + 4 * Math.sqrt(connects * p * (1 - p))))
}

/**
 * Each member's share of the connects this run sent, estimated from what the kernel counted: the
 * connects it admitted at once (its backlog + 1 when its queue filled, fewer if it never dropped)
 * plus its part of the delayed connects in proportion to its drops (a delayed connect's SYNs all
 * hash to the same member). Null when a member's backlog or drops are unknown or nothing was
 * dropped, so the shares cannot be told apart.
 */
export function observedShares(group: ListenerGroup, memberDrops: readonly (number | null)[], delayed: number): number[] | null {
  if (memberDrops.length !== group.listeners || memberDrops.some((drops) => drops === null) || group.backlogs.some((backlog) => backlog === null)) return null
  const totalDrops = memberDrops.reduce<number>((sum, drops) => sum + drops!, 0)
  if (totalDrops === 0 || delayed === 0) return null
  return group.backlogs.map((backlog, index) => (memberDrops[index]! > 0 ? backlog! + 1 : 0) + Math.round((delayed * memberDrops[index]!) / totalDrops))
}
