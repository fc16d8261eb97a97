import {decodeHistogram, recordedValues} from '../../src/results/histogram.js'
import type {StormResult} from '../../src/results/format.js'

/** Connects in a result whose latency from intended start was within [lowUs, highUs). */
export function connectsBetween(result: StormResult, lowUs: number, highUs: number): number {
  return recordedValues(decodeHistogram(result.histograms.fromIntended))
    .filter(({valueUs}) => valueUs >= lowUs && valueUs < highUs)
    .reduce((sum, {count}) => sum + count, 0)
}

export function parseJsonResult(stdout: string): StormResult {
  return JSON.parse(stdout) as StormResult
}
