import {describe, expect, it} from 'vitest'

import {OUTCOMES, classifyErrno, emptyOutcomeCounts} from '../../src/results/outcome.js'
import {LATE_START_THRESHOLD_US, StormRecorder} from '../../src/results/recorder.js'

describe('classifyErrno', () => {
  it.each([
    ['ETIMEDOUT', 'timeout'],
    ['ECONNREFUSED', 'refused'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['EADDRNOTAVAIL', 'addrNotAvail'],
    ['EADDRINUSE', 'addrNotAvail'],
    ['EMFILE', 'fileLimit'],
    ['ENFILE', 'fileLimit'],
    ['EHOSTUNREACH', 'unreachable'],
    ['ENETUNREACH', 'unreachable'],
    ['EHOSTDOWN', 'unreachable'],
    ['ENETDOWN', 'unreachable'],
  ])('classifies %s as %s', (code, outcome) => {
    expect(classifyErrno(code)).toBe(outcome)
  })

  it('classifies unknown, empty and missing codes as other', () => {
    expect(classifyErrno('EPROTO')).toBe('other')
    expect(classifyErrno('ERR_SOCKET_CLOSED')).toBe('other')
    expect(classifyErrno('')).toBe('other')
    expect(classifyErrno(undefined)).toBe('other')
  })

  it('is case-sensitive, as errno codes are', () => {
    expect(classifyErrno('econnrefused')).toBe('other')
  })

  it('classifies codes that happen to be Object.prototype names as other, like any unknown code', () => {
    // Contract: every result is one of the outcomes; an inherited property must not leak through.
    for (const code of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
      expect(classifyErrno(code), code).toBe('other')
    }
  })

  it('only ever answers with a failure outcome', () => {
    const failures = OUTCOMES.filter((outcome) => outcome !== 'connected')
    for (const code of ['ETIMEDOUT', 'ECONNREFUSED', 'EMFILE', 'EWHATEVER', undefined]) {
      expect(failures).toContain(classifyErrno(code))
    }
  })
})

describe('emptyOutcomeCounts', () => {
  it('has a zero for every outcome and nothing else', () => {
    expect(emptyOutcomeCounts()).toStrictEqual({
      connected: 0,
      timeout: 0,
      refused: 0,
      reset: 0,
      addrNotAvail: 0,
      fileLimit: 0,
      unreachable: 0,
      other: 0,
    })
  })

  it('gives a fresh object each time', () => {
    const first = emptyOutcomeCounts()
    first.refused = 3
    expect(emptyOutcomeCounts().refused).toBe(0)
  })
})

describe('StormRecorder', () => {
  it('starts empty', () => {
    const recorder = new StormRecorder()
    expect(recorder.attempted).toBe(0)
    expect(recorder.finished).toBe(0)
    expect(recorder.lateStarts).toBe(0)
    expect(recorder.kernelTimeouts).toBe(0)
    expect(recorder.otherErrnos).toStrictEqual({})
    expect(recorder.fromIntended.totalCount).toBe(0)
  })

  it('counts every start as attempted and records its lag', () => {
    const recorder = new StormRecorder()
    recorder.recordStart(0)
    recorder.recordStart(12)
    recorder.recordStart(400)
    expect(recorder.attempted).toBe(3)
    expect(recorder.startLag.totalCount).toBe(3)
    expect(recorder.startLag.maxValue).toBe(400)
  })

  it('counts a start as late only when it lags more than 1 ms behind its intended time', () => {
    expect(LATE_START_THRESHOLD_US).toBe(1000)
    const recorder = new StormRecorder()
    recorder.recordStart(999)
    recorder.recordStart(1000)
    expect(recorder.lateStarts).toBe(0)
    recorder.recordStart(1000.5)
    recorder.recordStart(1001)
    recorder.recordStart(250_000)
    expect(recorder.lateStarts).toBe(3)
    expect(recorder.attempted).toBe(5)
  })

  it('records a connect in both latency histograms and counts it as connected', () => {
    const recorder = new StormRecorder()
    recorder.recordConnected(1_030_000, 300)
    recorder.recordConnected(450, 420)
    expect(recorder.outcomeCount('connected')).toBe(2)
    expect(recorder.byOutcome.connected).toBe(2)
    expect(recorder.fromIntended.totalCount).toBe(2)
    expect(recorder.fromActual.totalCount).toBe(2)
    expect(recorder.fromIntended.minNonZeroValue).toBe(450)
    expect(recorder.fromActual.minNonZeroValue).toBe(300)
    expect(recorder.fromActual.maxValue).toBe(420)
    expect(recorder.failedFromActual.totalCount).toBe(0)
  })

  it('records sub-microsecond latencies as 1 µs instead of losing them', () => {
    const recorder = new StormRecorder()
    recorder.recordConnected(0.2, 0)
    expect(recorder.fromIntended.totalCount).toBe(1)
    expect(recorder.fromActual.totalCount).toBe(1)
    expect(recorder.fromActual.minNonZeroValue).toBe(1)
    expect(recorder.fromActual.maxValue).toBe(1)
  })

  it('counts each failure under its outcome and records time to failure', () => {
    const recorder = new StormRecorder()
    recorder.recordFailure('refused', 150, 'ECONNREFUSED')
    recorder.recordFailure('refused', 170, 'ECONNREFUSED')
    recorder.recordFailure('reset', 900, 'ECONNRESET')
    expect(recorder.outcomeCount('refused')).toBe(2)
    expect(recorder.outcomeCount('reset')).toBe(1)
    expect(recorder.outcomeCount('connected')).toBe(0)
    expect(recorder.failedFromActual.totalCount).toBe(3)
    expect(recorder.fromIntended.totalCount).toBe(0)
    expect(recorder.otherErrnos).toStrictEqual({})
  })

  it('keeps the errno codes of other failures, counted, with unknown for a missing code', () => {
    const recorder = new StormRecorder()
    recorder.recordFailure('other', 10, 'EPROTO')
    recorder.recordFailure('other', 10, 'EPROTO')
    recorder.recordFailure('other', 10, 'ENOBUFS')
    recorder.recordFailure('other', 10)
    expect(recorder.outcomeCount('other')).toBe(4)
    expect(recorder.otherErrnos).toStrictEqual({EPROTO: 2, ENOBUFS: 1, unknown: 1})
  })

  it("counts as kernel timeouts only the timeouts that carry the kernel's ETIMEDOUT, not the tool's own", () => {
    const recorder = new StormRecorder()
    recorder.recordFailure('timeout', 15_000_000)
    recorder.recordFailure('timeout', 15_000_000)
    recorder.recordFailure('timeout', 134_000_000, 'ETIMEDOUT')
    expect(recorder.outcomeCount('timeout')).toBe(3)
    expect(recorder.kernelTimeouts).toBe(1)
    expect(recorder.otherErrnos).toStrictEqual({})
  })

  it('records a time to failure beyond the histogram range without clamping it', () => {
    const recorder = new StormRecorder()
    recorder.recordFailure('timeout', 400_000_000)
    expect(recorder.failedFromActual.maxValue).toBeGreaterThanOrEqual(400_000_000)
    expect(recorder.failedFromActual.maxValue).toBeLessThan(400_000_000 * 1.001)
  })

  it('counts as finished every connect that ended, whatever the outcome', () => {
    const recorder = new StormRecorder()
    for (let i = 0; i < 5; i++) recorder.recordStart(10)
    recorder.recordConnected(300, 290)
    recorder.recordConnected(310, 300)
    recorder.recordFailure('refused', 100, 'ECONNREFUSED')
    recorder.recordFailure('other', 100, 'EPROTO')
    expect(recorder.attempted).toBe(5)
    expect(recorder.finished).toBe(4)
  })
})
