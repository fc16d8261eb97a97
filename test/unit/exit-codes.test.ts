import {describe, expect, it} from 'vitest'

import {EXIT, exitCodeOf} from '../../src/cli/exit-codes.js'
import {exitCodeOfSignal} from '../../src/signals.js'

describe('the exit codes (the README table)', () => {
  it('keeps a failed threshold (99), bad input (2), an undelivered push (4) and an unexpected error (1) apart, as a CI job must tell them', () => {
    expect(EXIT).toEqual({ok: 0, unexpected: 1, usage: 2, notReproduced: 3, pushFailed: 4, thresholdFailed: 99, SIGHUP: 129, SIGINT: 130, SIGTERM: 143})
  })

  it('gives a signal 128 + its number, as a shell reports it (SIGHUP 1, SIGINT 2, SIGTERM 15, SIGKILL 9)', () => {
    expect([exitCodeOfSignal('SIGHUP'), exitCodeOfSignal('SIGINT'), exitCodeOfSignal('SIGTERM'), exitCodeOfSignal('SIGKILL')]).toEqual([129, 130, 143, 137])
  })

  it.each([
    [{stopReason: 'completed' as const}, 'SIGINT' as const, 0],
    [{stopReason: 'deadline' as const}, 'SIGINT' as const, 0],
    [{stopReason: 'completed' as const, thresholds: [{expr: 'p99<1s', held: true}]}, 'SIGINT' as const, 0],
    [{stopReason: 'completed' as const, thresholds: [{expr: 'p99<1s', held: true}, {expr: 'timeout<1%', held: false}]}, 'SIGINT' as const, 99],
    // a partial run is no verdict: the signal's code wins over a failed threshold
    [{stopReason: 'interrupted' as const, thresholds: [{expr: 'timeout<1%', held: false}]}, 'SIGHUP' as const, 129],
    [{stopReason: 'interrupted' as const}, 'SIGTERM' as const, 143],
  ])('a run that ended %j (stopped by %s if interrupted) exits %i', (result, signal, code) => {
    expect(exitCodeOf(result as Parameters<typeof exitCodeOf>[0], signal)).toBe(code)
  })
})
