import {type ListenerWithDrops, listenerFromDiag, listenerMatches} from '../kernel/listeners.js'
import {type NativeWatchHandle, nativeAddon} from '../native/addon.js'

/** A sample of the addon's sampling thread, its listeners matched to the watched port and host. */
export interface DrainedSample {
  t: number
  listeners: ListenerWithDrops[]
  counters?: Record<string, number>
}

export interface NativeSampler {
  /** the samples taken since the last drain, oldest first */
  drain(): DrainedSample[]
  /** ends the thread: at once when `interrupt`, else at the deadline (just ahead); why it ended */
  stop(interrupt: boolean): 'duration' | 'interrupted'
}

/**
 * The watch's sampling loop on the addon's thread (native/watch-sampler.c): a tick every
 * intervalMs on a fixed grid until durationMs, one sock_diag dump of the port's listeners per tick
 * and the `counters` by the watch's rule, the first sample taken before this returns. Null without
 * the addon, with one built before it, or where sock_diag is refused: then the JavaScript loop
 * (watch-worker.ts) does the same job.
 */
export function startNativeSampler(options: {port: number; host?: string; intervalMs: number; durationMs: number; counters: readonly string[]}): NativeSampler | null {
  const addon = nativeAddon
  if (addon?.watchStart === undefined || addon.watchDrain === undefined || addon.watchStop === undefined) return null
  let handle: NativeWatchHandle | null
  try {
    handle = addon.watchStart({port: options.port, intervalMs: options.intervalMs, durationMs: options.durationMs, counters: options.counters})
  } catch {
    return null
  }
  if (handle === null) return null
  const sampler = handle
  const {port, host} = options
  // The thread leaves out the listeners of a sample whose rows are those of the sample before: the
  // same (matched) array is kept for it, which JSON writes out the same.
  let previous: ListenerWithDrops[] = []
  return {
    drain() {
      return addon.watchDrain!(sampler).map(({t, listeners, counters}) => {
        if (listeners !== null) previous = listeners.map(listenerFromDiag).filter((listener) => listenerMatches(listener, port, host))
        return counters === undefined ? {t, listeners: previous} : {t, listeners: previous, counters}
      })
    },
    stop(interrupt) {
      return addon.watchStop!(sampler, interrupt)
    },
  }
}
