import {decodeHistogram} from '../../src/results/histogram.js'
import type {StormResult} from '../../src/results/result.js'

/** Connects in a result whose latency from intended start was within [lowUs, highUs). */
export function connectsBetween(result: StormResult, lowUs: number, highUs: number): number {
  const histogram = decodeHistogram(result.histograms.fromIntended)
  const iterator = (histogram as unknown as {recordedValuesIterator: {reset(): void; hasNext(): boolean; next(): {valueIteratedTo: number; countAtValueIteratedTo: number}}}).recordedValuesIterator
  iterator.reset()
  let count = 0
  while (iterator.hasNext()) {
    const step = iterator.next()
    if (step.valueIteratedTo >= lowUs && step.valueIteratedTo < highUs) count += step.countAtValueIteratedTo
  }
  return count
}

export function parseJsonResult(stdout: string): StormResult {
  return JSON.parse(stdout) as StormResult
}
