import {describe, expect, it} from 'vitest'

import {StormRecorder} from '../../src/results/recorder.js'

/** Feeds a recorder a deterministic mix of starts, connects and failures, from `seed` on. */
function feed(recorder: StormRecorder, seed: number, count: number): void {
  for (let i = seed; i < seed + count; i++) {
    recorder.recordStart((i * 37) % 2500)
    if (i % 5 === 0) recorder.recordFailure('timeout', 1_000_000 + i, i % 10 === 0 ? 'ETIMEDOUT' : undefined)
    else if (i % 7 === 0) recorder.recordFailure('other', 200 + i, 'EPROTO')
    else if (i % 11 === 0) recorder.recordFailure('refused', 90 + i, 'ECONNREFUSED')
    else recorder.recordConnected(150 + ((i * 13) % 3_000_000), 120 + ((i * 13) % 3_000_000))
    recorder.timeline.record(i % 4000, i % 5 === 0 ? 'failed' : 'connected')
  }
}

describe('StormRecorder snapshot and add (how --workers threads combine)', () => {
  it('adding two halves gives exactly what one recorder of the whole would hold', () => {
    const whole = new StormRecorder()
    feed(whole, 0, 3000)

    const first = new StormRecorder()
    const second = new StormRecorder()
    feed(first, 0, 1700)
    feed(second, 1700, 1300)
    const combined = new StormRecorder()
    combined.add(first.snapshot())
    combined.add(second.snapshot())

    expect(combined.snapshot()).toEqual(whole.snapshot())
    for (const name of ['fromIntended', 'fromActual', 'failedFromActual', 'failedEarlyFromActual', 'startLag'] as const) {
      for (const percentile of [50, 99, 99.9, 100]) {
        expect(combined[name].getValueAtPercentile(percentile), `${name} p${percentile}`).toBe(whole[name].getValueAtPercentile(percentile))
      }
      expect(combined[name].totalCount).toBe(whole[name].totalCount)
    }
    expect(combined.byOutcome).toEqual(whole.byOutcome)
    expect(combined.otherErrnos).toEqual({EPROTO: whole.otherErrnos.EPROTO})
    expect(combined.kernelTimeouts).toBe(whole.kernelTimeouts)
    expect([combined.attempted, combined.lateStarts]).toEqual([whole.attempted, whole.lateStarts])
    expect(combined.timeline.toJSON()).toEqual(whole.timeline.toJSON())
  })

  it('a snapshot carries every field the recorder has', () => {
    const recorder = new StormRecorder()
    const {histograms, ...counts} = recorder.snapshot()
    expect([...Object.keys(histograms), ...Object.keys(counts)].sort()).toEqual(Object.keys(recorder).sort())
  })

  it('a snapshot is a copy: recording after it does not change it', () => {
    const recorder = new StormRecorder()
    feed(recorder, 0, 10)
    const snapshot = recorder.snapshot()
    const before = JSON.stringify(snapshot)
    feed(recorder, 10, 10)
    expect(JSON.stringify(snapshot)).toBe(before)
  })
})

describe('StormRecorder failures', () => {
  it('places failures other than timeouts in failedEarlyFromActual (their time places them on the SYN ladder)', () => {
    const recorder = new StormRecorder()
    recorder.recordFailure('timeout', 15_000_000)
    recorder.recordFailure('refused', 1500, 'ECONNREFUSED')
    expect(recorder.failedFromActual.totalCount).toBe(2)
    expect(recorder.failedEarlyFromActual.totalCount).toBe(1)
    expect(recorder.failedEarlyFromActual.maxValue).toBe(1500)
  })

  it('keeps the errno of each other failure, as unknown when there is none, and no errno of a classified failure', () => {
    const recorder = new StormRecorder()
    recorder.recordFailure('other', 10)
    recorder.recordFailure('other', 10)
    recorder.recordFailure('other', 10, 'EPROTO')
    recorder.recordFailure('refused', 10, 'ECONNREFUSED')
    expect(recorder.otherErrnos).toStrictEqual({unknown: 2, EPROTO: 1})
  })
})
