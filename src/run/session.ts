import type {KernelObservation, QueueTimeline} from '../results/format.js'
import {STORM_COUNTERS, counterDeltas, readCounters} from '../kernel/counters.js'
import {type HandshakesInFlight, readHandshakesInFlight} from '../kernel/handshakes.js'
import {findListeners, readDiagGroupDrops, readDiagListenerDrops, readListenerDrops, sameListener} from '../kernel/listeners.js'
import {type QueueSampler, queueTimelineSince, startQueueSampler} from '../kernel/queue-sampler.js'
import {readStormSysctls} from '../kernel/sysctl.js'
import type {Plan} from '../plan/plan.js'
import {type ResolvedTarget, isLocalAddress} from '../plan/target.js'
import {ladderFromSysctls} from '../analysis/diagnosis.js'
import type {SynLadder} from '../results/format.js'
import {type LiveStorm, type ProbeConfig, type StormRun, runStorm, warmUp} from '../engine/storm.js'
import {runStormWorkers} from '../engine/workers.js'

export interface SessionOptions {
  plan: Plan
  target: ResolvedTarget
  /** true when this process runs in a network namespace connstorm made for the run (--isolate) */
  isolatedNetns: boolean
  signal?: AbortSignal
  probe?: ProbeConfig
  /** called right before the counters' snapshot and the first connect (the lab's stall starts then) */
  beforeFirstConnect?: () => void
  /** called once the storm starts, with a way to read it live (the progress display) */
  onStart?: (live: LiveStorm, ladder: SynLadder | null) => void
}

export interface StormSession {
  run: StormRun
  kernel: KernelObservation
  /** the listener's queue over the run, when the sampler saw it (a listener on this machine) */
  queueTimeline: QueueTimeline | null
}

/**
 * A storm with the kernel watched around it: sysctls read, counters snapshotted right before the
 * first connect and right after the last, and — when the target listens on this machine — its
 * effective backlog and accept queue sampled while the storm runs.
 */
export async function runStormSession({plan, target, isolatedNetns, signal, probe, onStart, beforeFirstConnect}: SessionOptions): Promise<StormSession> {
  // Warm-up connects go to a listener of our own; they must happen before the counters' snapshot.
  await warmUp(target.family)
  const sysctls = readStormSysctls()
  const local = isLocalAddress(target.host)
  const lookup = local ? await findListeners(target.port, target.host).catch(() => null) : null
  const listener = lookup?.listeners[0]
  // More than one socket on the listener's own address and port: an SO_REUSEPORT group (docs/kernel.md §16).
  const group = listener ? lookup!.listeners.filter((member) => sameListener(member, listener)) : []
  let sampler: QueueSampler | undefined
  if (listener) {
    // ss names the listener's family: a dual-stack :: (shown as '*' or '::') lives in tcp6 only.
    const family = listener.family
    sampler = startQueueSampler({port: target.port, host: target.host, families: [family], effectiveBacklog: listener.sendQ})
    await sampler.ready.catch(() => undefined)
  }

  // The listener's own drop count, read beside the counters' snapshot (netlink, synchronous); without
  // netlink, ss is asked now, a moment before the first connect (docs/kernel.md §14).
  const dropsFallback = listener && readDiagListenerDrops(listener) === undefined ? await readListenerDrops(listener) : null
  let dropsBefore: number | null = null
  let memberDropsBefore: (number | null)[] | undefined
  const snapshotListener = () => {
    if (!listener) return
    dropsBefore = readDiagListenerDrops(listener) ?? dropsFallback
    if (group.length > 1) memberDropsBefore = readDiagGroupDrops(listener)
  }

  const ladder = ladderFromSysctls(sysctls)
  let before: ReturnType<typeof readCounters> = null
  // Other traffic's handshakes under way right after the snapshot, before the first connect (none
  // are ours yet): they would move the counters unseen by TcpActiveOpens (docs/kernel.md §17). Not
  // read in a namespace made for this run, which has no other traffic (~3 ms a read, §11).
  let handshakesAtStart: HandshakesInFlight | null = null
  const snapshotCounters = () => {
    before = readCounters()
    if (!isolatedNetns && before !== null) handshakesAtStart = readHandshakesInFlight()
  }
  let run: StormRun
  if ((plan.workers ?? 1) > 1) {
    // Workers warm up in their own threads; the snapshot waits for them, so it counts only the storm.
    run = await runStormWorkers(plan, target, plan.workers!, {
      signal,
      ...(probe ? {probe} : {}),
      beforeStart: () => {
        beforeFirstConnect?.()
        snapshotCounters()
        snapshotListener()
      },
    })
  } else {
    // The engine sets up its loop, then waits for --start-at, then snapshots and starts the clock.
    run = await runStorm(plan, target, {
      signal,
      probe,
      onStart: onStart && ((live) => onStart(live, ladder)),
      ...(plan.startAt === undefined ? {} : {startAt: plan.startAt}),
      beforeClock: () => {
        beforeFirstConnect?.()
        snapshotCounters()
        snapshotListener()
      },
    })
  }
  const after = readCounters()
  const dropsAfter = listener ? await readListenerDrops(listener) : null
  const memberDropsAfter = group.length > 1 ? readDiagGroupDrops(listener!) : undefined
  const sampled = await sampler?.stop().catch(() => null)

  return {
    run,
    queueTimeline: sampled && listener ? queueTimelineSince(sampled, run.startedAt.getTime(), listener.sendQ) : null,
    kernel: {
      netns: before === null ? 'unknown' : isolatedNetns ? 'isolated' : 'shared',
      sysctls,
      counterDeltas: before && after ? counterDeltas(before, after, STORM_COUNTERS) : null,
      ...(handshakesAtStart ? {handshakesAtStart} : {}),
      listener: listener
        ? {
            effectiveBacklog: listener.sendQ,
            peakQueue: sampled?.peakQueue ?? null,
            samples: sampled?.samples ?? 0,
            source: lookup!.source,
            drops: listenerDropsDelta(dropsBefore, dropsAfter),
            ...(group.length > 1 ? {reusePort: {effectiveBacklogs: group.map((member) => member.sendQ), drops: memberDropsDeltas(group.length, memberDropsBefore, memberDropsAfter)}} : {}),
          }
        : null,
    },
  }
}

/** after − before; null when either read failed, or when the count went down (another socket took the port). */
function listenerDropsDelta(before: number | null, after: number | null): number | null {
  return before === null || after === null || after < before ? null : after - before
}

/**
 * Each group member's drops, matched by position in the kernel's dump: only while the group kept
 * its size (a member that left or joined would shift every position after it), else all unknown.
 */
function memberDropsDeltas(members: number, before: (number | null)[] | undefined, after: (number | null)[] | undefined): (number | null)[] {
  if (before?.length !== members || after?.length !== members) return Array.from({length: members}, () => null)
  return before.map((value, index) => listenerDropsDelta(value, after[index]!))
}
