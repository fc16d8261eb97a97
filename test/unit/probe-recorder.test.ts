import {describe, expect, it} from 'vitest'

import type {ProbeReport} from '../../src/probe/run.js'
import {recordedValues} from '../../src/results/histogram.js'
import {ProbeRecorder} from '../../src/probe/recorder.js'

const NONE: ProbeReport = {outcome: 'ok', respondedAt: null, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}

/** Times are performance.now() ms: intended start at 1000, connect() done 0.5 ms later. Every delay stays below 2048 µs, which HDR keeps exactly. */
const INTENDED = 1000
const CONNECTED = 1000.5

function record(...reports: Partial<ProbeReport>[]): ProbeRecorder {
  const recorder = new ProbeRecorder()
  for (const report of reports) recorder.record({...NONE, ...report}, INTENDED, CONNECTED)
  return recorder
}

const valuesUs = (histogram: ProbeRecorder['firstByte']) => recordedValues(histogram).map(({valueUs, count}) => [valueUs, count])

describe('ProbeRecorder', () => {
  it('counts each outcome, errno and HTTP status', () => {
    const recorder = record(
      {outcome: 'ok', status: 200},
      {outcome: 'ok', status: 200},
      {outcome: 'unexpectedReply', status: 503},
      {outcome: 'resetAfterConnect', errorCode: 'ECONNRESET'},
      {outcome: 'probeError', errorCode: 'ECONNRESET'},
      {outcome: 'tlsError', errorCode: 'ERR_SSL_WRONG_VERSION_NUMBER'},
    )
    expect(recorder.outcomes).toEqual({ok: 2, probeTimeout: 0, resetAfterConnect: 1, closedBeforeReply: 0, tlsError: 1, unexpectedReply: 1, probeError: 1})
    expect(recorder.httpStatus).toEqual({200: 2, 503: 1})
    expect(recorder.errorCodes).toEqual({ECONNRESET: 2, ERR_SSL_WRONG_VERSION_NUMBER: 1})
  })

  it('records a plain first byte from the intended start, and its delay after connect', () => {
    const recorder = record({respondedAt: 1001.5})
    expect(valuesUs(recorder.firstByte)).toEqual([[1500, 1]])
    expect(valuesUs(recorder.responseAfterConnect)).toEqual([[1000, 1]])
    expect(recorder.tlsHandshake.totalCount).toBe(0)
    expect(recorder.httpHeaders.totalCount).toBe(0)
    expect(recorder.admittedNotAccepted).toBe(0)
    expect(recorder.acceptWait.totalCount).toBe(0)
  })

  it('records the TLS handshake, not a first byte, when the answer was a ServerHello', () => {
    const recorder = record({respondedAt: 1001.2, tlsDoneAt: 1001.8})
    expect(valuesUs(recorder.tlsHandshake)).toEqual([[1800, 1]])
    expect(recorder.firstByte.totalCount).toBe(0)
    expect(valuesUs(recorder.responseAfterConnect)).toEqual([[700, 1]])
  })

  it('records HTTP headers, not a first byte, when the answer was a response', () => {
    const recorder = record({respondedAt: 1001.2, headersAt: 1002})
    expect(valuesUs(recorder.httpHeaders)).toEqual([[2000, 1]])
    expect(recorder.firstByte.totalCount).toBe(0)
  })

  it('counts an answer 200 ms or more after connect as admitted but not accepted in time', () => {
    const recorder = record({respondedAt: CONNECTED + 199.9}, {respondedAt: CONNECTED + 200}, {respondedAt: CONNECTED + 1000})
    expect(recorder.admittedNotAccepted).toBe(2)
    expect(recorder.acceptWait.totalCount).toBe(2)
    expect(recorder.acceptWait.minNonZeroValue).toBe(200_000)
    expect(recorder.responseAfterConnect.totalCount).toBe(3)
  })

  it('records nothing in the latency histograms for a probe that got no answer', () => {
    const recorder = record({outcome: 'probeTimeout'})
    for (const histogram of [recorder.firstByte, recorder.tlsHandshake, recorder.httpHeaders, recorder.responseAfterConnect, recorder.acceptWait]) {
      expect(histogram.totalCount).toBe(0)
    }
    expect(recorder.outcomes.probeTimeout).toBe(1)
  })

  it('records an answer faster than 1 µs as 1 µs, the histogram floor', () => {
    const recorder = record({respondedAt: CONNECTED + 0.0001})
    expect(valuesUs(recorder.responseAfterConnect)).toEqual([[1, 1]])
  })

  it('starts with nothing pending', () => {
    expect(new ProbeRecorder().pending).toBe(0)
  })
})
