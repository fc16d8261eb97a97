import {describe, expect, it} from 'vitest'

import {MAX_BINS, Timeline} from '../../src/results/timeline.js'

describe('Timeline', () => {
  it('counts completions per 10 ms bin from the run start', () => {
    const timeline = new Timeline()
    timeline.record(1, 'connected')
    timeline.record(9.9, 'connected')
    timeline.record(25, 'failed')
    expect(timeline.toJSON()).toEqual({binMs: 10, connected: [2, 0, 0], failed: [0, 0, 1]})
  })

  it('doubles its bins instead of growing past the bound, keeping every count', () => {
    const timeline = new Timeline()
    for (let ms = 0; ms < 3_600_000; ms += 97) timeline.record(ms, ms % 2 === 0 ? 'connected' : 'failed')
    const data = timeline.toJSON()
    expect(data.connected.length).toBeLessThanOrEqual(MAX_BINS)
    expect(data.binMs).toBe(10 * 2 ** Math.ceil(Math.log2(3_600_000 / 10 / MAX_BINS)))
    const total = data.connected.reduce((a, b) => a + b, 0) + data.failed.reduce((a, b) => a + b, 0)
    expect(total).toBe(Math.ceil(3_600_000 / 97))
  })

  it('merges neighbouring bins of both series when a completion lands at bin 600, the first past the bound', () => {
    const timeline = new Timeline()
    timeline.record(5, 'connected')
    timeline.record(15, 'failed')
    timeline.record(5999, 'connected') // bin 599: still fits
    expect(timeline.toJSON().binMs).toBe(10)
    timeline.record(6000, 'failed') // bin 600 at 10 ms is bin 300 at 20 ms
    const data = timeline.toJSON()
    expect(data.binMs).toBe(20)
    expect(data.connected.length).toBe(301)
    expect([data.connected[0], data.failed[0], data.connected[299], data.failed[300]]).toEqual([1, 1, 1, 1])
    expect(data.connected.reduce((a, b) => a + b, 0) + data.failed.reduce((a, b) => a + b, 0)).toBe(4)
  })

  it('adds nothing for the empty bins of another timeline, so it grows only up to its last completion', () => {
    const timeline = new Timeline()
    timeline.add({binMs: 10, connected: [0, 2, 0, 0], failed: [0, 0, 0, 0]})
    expect(timeline.toJSON()).toEqual({binMs: 10, connected: [0, 2], failed: [0, 0]})
    timeline.add({binMs: 10, connected: [0, 0, 0], failed: [0, 0, 0]}, 1000)
    expect(timeline.toJSON()).toEqual({binMs: 10, connected: [0, 2], failed: [0, 0]})
  })
})
