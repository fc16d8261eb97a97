/**
 * Waits for a wall-clock instant (--start-at), so that shards on several hosts fire together: a
 * timer to just before it, then a short spin, which keeps the start within a millisecond.
 */
export async function sleepUntil(epochMs: number, signal?: AbortSignal): Promise<void> {
  // A timer to 2 ms before the instant, then the event loop's turns until it: a timer fires within
  // ~1 ms here when the machine is idle, and a longer spin only takes a core from the processes
  // starting at the same instant (three shards on two cores: a 20 ms spin each made skews of 50–65 ms).
  const coarseMs = epochMs - Date.now() - 2
  if (coarseMs > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, coarseMs)
      signal?.addEventListener('abort', () => {
        clearTimeout(timer)
        resolve()
      }, {once: true})
    })
  }
  while (Date.now() < epochMs && !signal?.aborted) await new Promise((resolve) => setImmediate(resolve))
}
