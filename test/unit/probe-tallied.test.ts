import {describe, expect, it} from 'vitest'

import {ProbeRecorder} from '../../src/probe/recorder.js'
import type {ProbeReport} from '../../src/probe/run.js'

// The native loop tallies the ok probes on connects with no retransmit itself and hands them over
// bucket by bucket (native/connect-loop.c tally_probe): the recorder must count them as record()
// counts the same probes one by one.
describe('ProbeRecorder.addTallied', () => {
  it('counts as record() of each ok probe would: first byte from intended, after connect, and the accept wait from 200 ms', () => {
    const ok = (respondedAt: number): ProbeReport => ({outcome: 'ok', respondedAt, tlsDoneAt: null, headersAt: null, status: null, errorCode: null})
    const oneByOne = new ProbeRecorder()
    // intended at 0 ms; connected at 0.1 ms, answered at 0.35 ms; connected at 1 ms, answered at 301 ms
    oneByOne.record(ok(0.35), 0, 0.1)
    oneByOne.record(ok(301), 0, 1)
    const tallied = new ProbeRecorder()
    tallied.addTallied('firstByte', 350, 1)
    tallied.addTallied('firstByte', 301_000, 1)
    tallied.addTallied('responseAfterConnect', 250, 1)
    tallied.addTallied('responseAfterConnect', 300_000, 1)
    tallied.addTallied('acceptWait', 300_000, 1) // 300 ms ≥ 200 ms
    expect(tallied.snapshot()).toEqual(oneByOne.snapshot())
    expect(tallied.snapshot()).toMatchObject({outcomes: {ok: 2}, admittedNotAccepted: 1, errorCodes: {}, httpStatus: {}})
  })
})
