import {type ListenerGroup, listenerGroup} from '../analysis/reuseport.js'
import type {KernelObservation} from '../results/format.js'

/**
 * How a report names the accept queue(s) the target's connects meet: one listener's queue, or the
 * queues of an SO_REUSEPORT group, each holding its own share (docs/kernel.md §16).
 */
export function acceptQueuesPhrase(listener: NonNullable<KernelObservation['listener']>): string {
  const group = listenerGroup(listener)
  if (group === null) return `the listener's accept queue (${listener.effectiveBacklog ?? 'unknown'}+1)`
  return `the accept queues of the ${group.listeners} listeners sharing the port with SO_REUSEPORT (${groupCapacity(group)})`
}

/** "4 × (8+1) = 36", or each member's "8+1 + 16+1 = 26" when their backlogs differ. */
export function groupCapacity(group: ListenerGroup): string {
  if (group.capacity === null) return `${group.backlogs.map((backlog) => `${backlog ?? '?'}+1`).join(' + ')}`
  if (group.commonBacklog !== null) return `${group.listeners} × (${group.commonBacklog}+1) = ${group.capacity}`
  return `${group.backlogs.map((backlog) => `${backlog}+1`).join(' + ')} = ${group.capacity}`
}

/** The clause a listener line adds for a group; '' for a single listener. */
export function groupClause(listener: NonNullable<KernelObservation['listener']>): string {
  const group = listenerGroup(listener)
  if (group === null) return ''
  const drops = listener.reusePort!.drops
  const perMember = drops.every((value) => typeof value === 'number') ? `; drops per listener ${drops.join(', ')}` : ''
  return `; ${group.listeners} listeners share the port (SO_REUSEPORT): ${groupCapacity(group)} at once${perMember}`
}
