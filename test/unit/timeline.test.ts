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
})
