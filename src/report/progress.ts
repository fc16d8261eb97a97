import {createRequire} from 'node:module'

import type {SingleBar} from 'cli-progress'

import {stepWindows} from '../analysis/attribution.js'
import type {SynLadder} from '../results/format.js'
import {type Histogram, recordedValues} from '../results/histogram.js'

const REFRESH_MS = 250

/** What the progress line reads of a running storm (the engine's LiveStorm has it). */
export interface LiveStormView {
  readonly recorder: {readonly byOutcome: {readonly connected: number}; readonly finished: number; readonly fromActual: Histogram}
  /** connects started so far */
  launched(): number
  /** connecting, or connected and being probed */
  open(): number
  /** brings the recorder up to date: the native loop's tallies are taken when read (engine/native-driver.ts) */
  refresh(): void
}

/**
 * The live progress line on a TTY (cli-progress draws it on stderr): launched / connected / failed
 * / in flight / elapsed, and how many connects each ladder step has so far. Reads the recorder a
 * few times a second; it never touches the hot path.
 */
export class LiveProgress {
  // cli-progress is required here, not imported at the top: only a run watched on a TTY draws the
  // line, and every other run (and every usage error) would pay its load at start-up.
  private readonly bar: SingleBar = new (createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress')).SingleBar(
    {
      format: '{bar} {launched}/{total} launched | connected {connected} | failed {failed} | in flight {open} | {elapsed} s | steps {steps}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 20,
      fps: 1000 / REFRESH_MS,
    },
    {barCompleteChar: '█', barIncompleteChar: '░', format: ''},
  )
  private timer: NodeJS.Timeout | undefined
  private started = 0

  /** Only where someone watches: a TTY on stderr, no --json, no --quiet. */
  static wanted({json, quiet}: {json: boolean; quiet: boolean}): boolean {
    return process.stderr.isTTY === true && !json && !quiet
  }

  start(live: LiveStormView, ladder: SynLadder | null, total: number): void {
    this.started = Date.now()
    this.bar.start(total, 0, this.values(live, ladder))
    this.timer = setInterval(() => this.bar.update(live.launched(), this.values(live, ladder)), REFRESH_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.bar.stop()
  }

  private values(live: LiveStormView, ladder: SynLadder | null): Record<string, string | number> {
    live.refresh()
    const {recorder} = live
    const connected = recorder.byOutcome.connected
    return {
      launched: live.launched(),
      connected,
      failed: recorder.finished - connected,
      open: live.open(),
      elapsed: ((Date.now() - this.started) / 1000).toFixed(1),
      steps: ladder ? stepCounts(recorder.fromActual, ladder) : '—',
    }
  }
}

/** "k0 9 · k2 91": connects per ladder step so far (the same windows the final attribution uses, without the RTT allowance). */
function stepCounts(histogram: Histogram, ladder: SynLadder): string {
  const windows = stepWindows(ladder.sendTimesMs, 0)
  const counts = new Map<number, number>()
  for (const {valueUs, count} of recordedValues(histogram)) {
    const window = windows.find((candidate) => valueUs / 1000 >= candidate.fromMs && valueUs / 1000 <= candidate.toMs)
    if (window) counts.set(window.retransmits, (counts.get(window.retransmits) ?? 0) + count)
  }
  return [...counts.entries()].map(([k, n]) => `k${k} ${n}`).join(' · ') || '—'
}
