import {type WindowSummary, summariseWindow} from '../analysis/server-evidence.js'
import type {ListenerWithDrops} from '../kernel/listeners.js'
import type {WatchSample} from '../results/format.js'

/** What a watch says while it runs: the port's listeners coming and going, and each second's summary. */
export type WatchEvent =
  | {type: 'listeners'; change: 'waiting' | 'appeared' | 'gone'; listeners: ListenerWithDrops[]}
  | {type: 'second'; second: WindowSummary}

/**
 * The samples of a watch as they come, whoever took them (the addon's sampling thread, or the
 * JavaScript loop of watch-worker.ts): the file's samples, and the events they make.
 */
export class WatchBook {
  readonly samples: WatchSample[] = []
  private hadListeners: boolean | null = null
  private secondFrom = 0

  constructor(
    private readonly startedAtMs: number,
    private readonly emit: (event: WatchEvent) => void,
  ) {}

  /** Adds a sample read at wall clock `readAtMs`; `last` closes the watch's last second. */
  add(readAtMs: number, listeners: ListenerWithDrops[], counters: Record<string, number> | undefined, last: boolean): void {
    const {samples} = this
    // Never before the watch's start nor before the sample above it: the wall clock may step back.
    const t = Math.max(readAtMs, samples.at(-1)?.t ?? this.startedAtMs)
    const entry: WatchSample = {t, listeners}
    if (counters !== undefined) entry.counters = counters
    samples.push(entry)
    const has = listeners.length > 0
    if (this.hadListeners === null || has !== this.hadListeners) {
      this.emit({type: 'listeners', change: has ? 'appeared' : this.hadListeners === null ? 'waiting' : 'gone', listeners})
    }
    this.hadListeners = has
    if (t - samples[this.secondFrom]!.t >= 1000 || last) {
      // The sample that closes one second opens the next: its drops and counters are the base.
      this.emit({type: 'second', second: summariseWindow(samples, this.secondFrom, samples.length - 1)})
      this.secondFrom = samples.length - 1
    }
  }
}
