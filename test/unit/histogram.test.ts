import {describe, expect, it} from 'vitest'

import {countsInBuckets, decodeHistogram, encodeHistogram, latencyCountsMs, newLatencyHistogram, recordedValues, summarize} from '../../src/results/histogram.js'

function histogramOf(...valuesUs: number[]) {
  const histogram = newLatencyHistogram()
  for (const value of valuesUs) histogram.recordValue(value)
  return histogram
}

describe('latency histograms', () => {
  it('keeps values exactly up to 2048 µs and to 3 significant digits above', () => {
    const histogram = histogramOf(1, 999, 2047, 1_030_000)
    expect(recordedValues(histogram)).toEqual([
      {valueUs: 1, count: 1},
      {valueUs: 999, count: 1},
      {valueUs: 2047, count: 1},
      // 1 030 000 µs falls in a 512 µs-wide bucket; the iterator reports its highest equivalent value
      {valueUs: 1_030_143, count: 1},
    ])
  })

  it('grows past 360 s instead of clamping: a 10 min latency is kept', () => {
    const histogram = histogramOf(600_000_000)
    expect(histogram.maxValue).toBeGreaterThanOrEqual(600_000_000)
    expect(histogram.maxValue).toBeLessThan(600_000_000 * 1.001)
  })

  it('encodes to compressed base64 and decodes to the same counts', () => {
    const histogram = histogramOf(300, 300, 1_030_000, 2_050_000)
    const encoded = encodeHistogram(histogram)
    expect(encoded).toMatch(/^[A-Za-z0-9+/]+=*$/)
    expect(recordedValues(decodeHistogram(encoded))).toEqual(recordedValues(histogram))
  })

  it('lists the recorded values in ms for the attribution, with their counts', () => {
    expect(latencyCountsMs(histogramOf(300, 300, 1500))).toEqual([
      {latencyMs: 0.3, count: 2},
      {latencyMs: 1.5, count: 1},
    ])
  })
})

describe('summarize', () => {
  it('gives count 0 and zeros for an empty histogram', () => {
    expect(summarize(newLatencyHistogram())).toEqual({count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0})
  })

  it('gives the exact figures of small values: 1 … 100 µs', () => {
    const histogram = newLatencyHistogram()
    for (let us = 1; us <= 100; us++) histogram.recordValue(us)
    expect(summarize(histogram)).toEqual({count: 100, min: 1, mean: 51, p50: 50, p90: 90, p99: 99, p999: 100, max: 100})
  })

  it('keeps every percentile between min and max even where buckets are wide', () => {
    // One value of 1.028 s: HDR's bucket holds it as 1 027 968–1 028 479 µs; the summary shows no value below the minimum.
    const summary = summarize(histogramOf(1_028_000))
    expect(summary.min).toBe(summary.p50)
    expect(summary.p50).toBe(summary.max)
    expect(summary.p99).toBe(summary.max)
    expect(summary.p999).toBe(summary.max)
    expect(summary.min).toBeGreaterThanOrEqual(1_027_000)
    expect(summary.max).toBeLessThanOrEqual(1_029_000)
  })

  it('rounds the mean to a whole µs', () => {
    expect(summarize(histogramOf(1, 2)).mean).toBe(2)
    expect(summarize(histogramOf(1, 1, 2)).mean).toBe(1)
  })
})

describe('countsInBuckets', () => {
  it('counts each value in the bucket low ≤ v < high', () => {
    const histogram = histogramOf(5, 10, 10, 19, 20, 35)
    expect(countsInBuckets(histogram, [10, 20, 30, 40])).toEqual([3, 1, 1])
  })

  it('leaves out values below the first edge and at or above the last', () => {
    const histogram = histogramOf(1, 9, 10, 29, 30, 1000)
    expect(countsInBuckets(histogram, [10, 20, 30])).toEqual([1, 1])
  })

  it('skips empty buckets between values', () => {
    const histogram = histogramOf(1, 45)
    expect(countsInBuckets(histogram, [0, 10, 20, 30, 40, 50])).toEqual([1, 0, 0, 0, 1])
  })

  it('gives zeros for an empty histogram', () => {
    expect(countsInBuckets(newLatencyHistogram(), [0, 10, 20])).toEqual([0, 0])
  })
})
