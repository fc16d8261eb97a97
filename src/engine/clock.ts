/**
 * Waits for a wall-clock instant (--start-at), so that shards on several hosts fire together: a
 * timer to just before it, then a short spin, which keeps the start within a millisecond.
 */
export async function sleepUntil(epochMs: number, signal?: AbortSignal): Promise<void> {
  const coarseMs = epochMs - Date.now() - 20
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
