/**
 * Connects completed and failed per time bin since the run's start, bounded in size whatever the
 * run: bins start at 10 ms and double (merging neighbours) whenever there would be more than
 * MAX_BINS, so a 10 s burst keeps 10 ms resolution and a 1 h run still fits in a few KB.
 */
export const MAX_BINS = 600
const FIRST_BIN_MS = 10

export interface TimelineData {
  binMs: number
  connected: number[]
  failed: number[]
}

export class Timeline {
  private binMs = FIRST_BIN_MS
  private readonly connected: number[] = []
  private readonly failed: number[] = []

  record(atMs: number, outcome: 'connected' | 'failed', count = 1): void {
    let bin = Math.floor(Math.max(0, atMs) / this.binMs)
    while (bin >= MAX_BINS) {
      this.coarsen()
      bin = Math.floor(Math.max(0, atMs) / this.binMs)
    }
    const series = outcome === 'connected' ? this.connected : this.failed
    while (this.connected.length <= bin) this.connected.push(0)
    while (this.failed.length <= bin) this.failed.push(0)
    series[bin]! += count
  }

  /** Adds another timeline (a shard's, a worker's), shifted by offsetMs from this one's start. */
  add(other: TimelineData, offsetMs = 0): void {
    for (const [position, n] of other.connected.entries()) if (n > 0) this.record(offsetMs + position * other.binMs, 'connected', n)
    // Stryker disable next-line StringLiteral: record() puts every outcome but 'connected' in the failed series
    for (const [position, n] of other.failed.entries()) if (n > 0) this.record(offsetMs + position * other.binMs, 'failed', n)
  }

  toJSON(): TimelineData {
    return {binMs: this.binMs, connected: [...this.connected], failed: [...this.failed]}
  }

  private coarsen(): void {
    this.binMs *= 2
    for (const series of [this.connected, this.failed]) {
      const merged: number[] = []
      for (let index = 0; index < series.length; index += 2) merged.push(series[index]! + (series[index + 1] ?? 0))
      series.splice(0, series.length, ...merged)
    }
  }
}
