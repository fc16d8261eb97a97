import {afterEach, describe, expect, it} from 'vitest'

import {childPids, runCli, stopAllLabs} from '../helpers/cli.js'
import {connectsBetween, parseJsonResult} from '../helpers/result.js'

// The default run's immediate connects are timed within 100 ms of their start: this file needs a
// quiet machine and runs one at a time (vitest.config.ts). Its text report, stopping early and the
// lab's own life are lifecycle-outcomes.test.ts's, side by side.
afterEach(stopAllLabs)

describe('connstorm storm with no TARGET (the default run, as `npm start` does it)', () => {
  it('starts the lab, shows immediate connects next to ones delayed by a SYN retransmit, stops the lab; the storm lasts < 3 s', async () => {
    let stormPid = 0
    const run = await runCli(['storm', '--json'], {onSpawn: (child) => (stormPid = child.pid!)})
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    // The storm itself: the 91 held back complete on the first SYN retransmit after the 1.5 s stall,
    // the 2 s step at the latest (≈ 2.05 s with the kernel's timer drift); 3 s leaves a loaded
    // machine ~1 s to notice. (Node's start-up, seconds on a busy 2-core machine, is not the storm's.)
    expect(result.durationMs).toBeLessThan(3000)
    expect(result.target.lab).toBe(true)
    expect(result.lab).toMatchObject({backlog: 8, stallMs: 1500, onAccept: 'close'})
    expect(result.counts.connected).toBe(100)
    // backlog 8 → 9 admitted at once; the other 91 wait for a retransmitted SYN (≥ 1 s).
    expect(connectsBetween(result, 0, 100_000)).toBe(9)
    expect(connectsBetween(result, 1_000_000, 15_000_000)).toBe(91)
    expect(childPids(stormPid)).toEqual([])
  })
})
