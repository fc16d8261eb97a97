/**
 * When the accept-queue sampler reads /proc/net/tcp{,6}, and when it skips a tick.
 *
 * Why: each read makes the kernel walk the whole established hash to find where the listeners
 * end — ~2.3 ms of CPU here when few connections exist (a 262,144-bucket table), which is exactly
 * the case at high paced rates with RST close. At 25 reads a second that thread takes ~6 % of a
 * core and, sharing a core with the storm's main thread, preempted it for ~2 ms every 40 ms
 * (`perf sched timehist`). /proc/net/netstat costs ~0.1 ms and says when a queue is under
 * pressure: its drop and cookie counters move only when a queue overflows or a SYN got a cookie.
 *
 * So every tick reads the counters, and the queue itself only while something is going on —
 * the counters moved, or the last read saw the queue at least half full (against a target that
 * keeps up at 20k connects/s a read often sees 1 or 2 waiting: not a reason to read 25 times a
 * second) — and otherwise once per idle interval. A queue that fills to less than overflowing
 * and drains again between two idle reads is the one case a fast sampler would see and this misses.
 */

/** the counters that move when a listener's queues are under pressure (docs/kernel.md §5) */
export const QUEUE_PRESSURE_COUNTERS = ['TcpExtListenDrops', 'TcpExtListenOverflows', 'TcpExtSyncookiesSent', 'TcpExtTCPReqQFullDrop'] as const

/** How long the queue may go unread while it is empty and no counter moves. */
export const IDLE_QUEUE_INTERVAL_MS = 200

export interface SamplingState {
  /** the pressure counters at the last tick, joined; null before the first tick or when unreadable */
  lastPressure: string | null
  /** the longest queue seen by the last read, on a matching listener (null: none seen) */
  lastQueue: number | null
  /** when the last read happened (ms, any monotonic clock) */
  lastReadAt: number
}

/** The queue length from which every tick reads: half of what the queue holds (backlog + 1); 1 when the backlog is unknown. */
export function busyQueueLength(effectiveBacklog: number | null): number {
  return effectiveBacklog === null ? 1 : Math.max(1, Math.ceil((effectiveBacklog + 1) / 2))
}

/**
 * Whether this tick reads the queue. `pressure` is null when /proc/net/netstat cannot be read: then
 * always read. `busyQueue`: from this length on (busyQueueLength), every tick reads.
 */
export function shouldReadQueue(state: SamplingState, pressure: string | null, now: number, busyQueue = 1, idleIntervalMs = IDLE_QUEUE_INTERVAL_MS): boolean {
  if (pressure === null || state.lastPressure === null) return true
  if (pressure !== state.lastPressure) return true
  if (state.lastQueue !== null && state.lastQueue >= busyQueue) return true
  return now - state.lastReadAt >= idleIntervalMs
}

/** The pressure counters as one comparable value; null when any is missing. */
export function pressureKey(counters: Record<string, number> | null): string | null {
  if (counters === null) return null
  const values: number[] = []
  for (const name of QUEUE_PRESSURE_COUNTERS) {
    const value = counters[name]
    if (value === undefined) return null
    values.push(value)
  }
  return values.join(',')
}
