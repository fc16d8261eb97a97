import {describe, expect, it} from 'vitest'

import {StormRecorder} from '../../src/results/recorder.js'

// The native loop tallies the connects that connected with no probe and no retransmit itself and
// hands them over bucket by bucket (native/connect-loop.c take_tally): the recorder must count
// them as it counts the same connects recorded one by one.
describe('StormRecorder.addTallied', () => {
  it('counts as recordStart, recordConnected and recordRetransmits(connected, 0) of each connect would', () => {
    const oneByOne = new StormRecorder()
    for (const [lag, fromActual] of [
      [3, 120],
      [1500, 121],
      [3, 121],
    ] as const) {
      oneByOne.recordStart(lag)
      oneByOne.recordConnected(lag + fromActual, fromActual)
      oneByOne.recordRetransmits('connected', 0, fromActual)
    }
    const tallied = new StormRecorder()
    tallied.addTallied('startLag', 3, 2)
    tallied.addTallied('startLag', 1500, 1)
    tallied.addTallied('lateStarts', 0, 1) // 1500 µs > 1000 µs
    tallied.addTallied('fromIntended', 123, 1)
    tallied.addTallied('fromIntended', 124, 1)
    tallied.addTallied('fromIntended', 1621, 1)
    tallied.addTallied('fromActual', 120, 1)
    tallied.addTallied('fromActual', 121, 2)
    const {timeline: _one, ...expected} = oneByOne.snapshot()
    const {timeline: _two, ...actual} = tallied.snapshot()
    expect(actual).toEqual(expected)
    expect(actual).toMatchObject({attempted: 3, lateStarts: 1, byOutcome: {connected: 3}, retransmits: {byOutcome: {connected: {0: 3}}}})
  })
})
