import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {startQueueSampler} from '../../src/kernel/queue-sampler.js'

// The sampler's worker runs compiled: these tests need `npm run build` first (see queue-sampler.ts).
const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/proc', import.meta.url))
const COMPILED_SAMPLER = fileURLToPath(new URL('../../dist/kernel/queue-sampler.js', import.meta.url))

describe('startQueueSampler on captured /proc/net/tcp{,6}', () => {
  it('reports the accept queue of the listener on the port', async () => {
    const sampler = startQueueSampler({port: 48_763, host: '127.0.0.1', procNet: FIXTURE_DIR})
    await sampler.ready
    const result = await sampler.stop()
    expect(result.peakQueue).toBe(3)
    expect(result.samples).toBeGreaterThanOrEqual(2) // the first sample and the one taken at stop()
    expect(result.intervalMs).toBe(40) // 25 Hz by default: at least the 20 Hz the peak queue needs, at half the kernel cost of 40 Hz
  })

  it('reads an IPv4 host through an IPv4-mapped IPv6 listener', async () => {
    const result = await startQueueSampler({port: 58_761, host: '127.0.0.1', procNet: FIXTURE_DIR}).stop()
    expect(result.peakQueue).toBe(1)
  })

  it('reports 0 for an idle listener and null for a port nobody listens on', async () => {
    const idle = startQueueSampler({port: 56_125, procNet: FIXTURE_DIR})
    const nobody = startQueueSampler({port: 1, procNet: FIXTURE_DIR})
    const wrongHost = startQueueSampler({port: 48_763, host: '::1', procNet: FIXTURE_DIR})
    expect((await idle.stop()).peakQueue).toBe(0)
    expect((await nobody.stop()).peakQueue).toBeNull()
    expect((await wrongHost.stop()).peakQueue).toBeNull()
  })

  // The fixture's listener holds 3, at least half of what a listener of unknown backlog holds, so
  // every tick reads it (queue-sampling-policy.ts): the reads count the worker's ticks, one at
  // start, one per 40 ms, one at stop().
  it('reads on every 40 ms tick by default: 25 Hz, never faster, ≥ 15 Hz counted on a loaded machine', async () => {
    const startedAt = performance.now()
    const sampler = startQueueSampler({port: 48_763, procNet: FIXTURE_DIR})
    await sampler.ready
    const readyAt = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const {samples} = await sampler.stop()
    const stoppedAt = performance.now()
    // Never more than the ticks that fit between the start and the answer to stop() (a timer may
    // fire up to 1 ms early on Node's millisecond loop clock: 39 ms).
    expect(samples).toBeLessThanOrEqual(Math.floor((stoppedAt - startedAt) / 39) + 2)
    // Each tick may wake late, and the next is due 40 ms after the late one: 25 Hz less what a
    // busy machine's wake-ups cost (23–26 reads a second measured beside ten busy processes on two
    // cores). ≥ 15 Hz over the measured window allows a mean lateness of 26 ms per tick, and still
    // fails a sampler that ticks at 10 Hz or reads only on the 200 ms idle interval.
    expect(samples).toBeGreaterThanOrEqual(Math.floor(((stoppedAt - readyAt) * 15) / 1000))
  })

  it('answers a second stop() with the same result', async () => {
    const sampler = startQueueSampler({port: 48_763, procNet: FIXTURE_DIR})
    const first = await sampler.stop()
    expect(await sampler.stop()).toBe(first)
  })

  it('refuses an interval that is not a positive number', () => {
    expect(() => startQueueSampler({port: 80, intervalMs: 0})).toThrow(RangeError)
    expect(() => startQueueSampler({port: 80, intervalMs: Number.NaN})).toThrow(RangeError)
  })
})

describe('the sampler worker and the process lifetime (compiled dist/, as the CLI runs it)', () => {
  function runNode(script: string) {
    return spawnSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8', timeout: 20_000})
  }

  it('does not keep the process alive when nobody calls stop()', () => {
    const run = runNode(`
      import {startQueueSampler} from ${JSON.stringify(COMPILED_SAMPLER)}
      const sampler = startQueueSampler({port: 48763, procNet: ${JSON.stringify(FIXTURE_DIR)}})
      await sampler.ready
      console.log('forgotten')
    `)
    expect(run.error).toBeUndefined() // a timeout would set it
    expect(run.status).toBe(0)
    expect(run.stdout).toBe('forgotten\n')
  })

  it('keeps the process alive while awaiting ready and stop(), then ends the worker', () => {
    const run = runNode(`
      import {startQueueSampler} from ${JSON.stringify(COMPILED_SAMPLER)}
      const sampler = startQueueSampler({port: 48763, procNet: ${JSON.stringify(FIXTURE_DIR)}})
      await sampler.ready
      const result = await sampler.stop()
      console.log(JSON.stringify({peakQueue: result.peakQueue, handles: process.getActiveResourcesInfo()}))
    `)
    expect(run.status).toBe(0)
    const printed = JSON.parse(run.stdout) as {peakQueue: number; handles: string[]}
    expect(printed.peakQueue).toBe(3)
    expect(printed.handles.filter((handle) => handle === 'MessagePort' || handle === 'Worker')).toEqual([])
  })
})
