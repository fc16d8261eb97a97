import {describe, expect, it} from 'vitest'

import {type StormFlagValues, parseStormOptions} from '../../src/cli/storm-options.js'
import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {thrown} from '../helpers/thrown.js'

const NO_FLAGS: StormFlagValues = {insecure: false, verify: false, isolate: false, force: false, quiet: false}

function usageError(target: string | undefined, flags: Partial<StormFlagValues>): string {
  const error = thrown(() => parseStormOptions(target, {...NO_FLAGS, ...flags}))
  expect(error).toBeInstanceOf(UsageError)
  return (error as UsageError).message
}

describe('storm flags checked together, before anything runs', () => {
  it('storms the built-in lab when there is no TARGET: backlog 8, no accept for 1.5 s, alive 30 s past the run', () => {
    const options = parseStormOptions(undefined, NO_FLAGS)
    expect(options.target).toBeUndefined()
    expect(options.lab).toMatchObject({backlog: 8, stallMs: 1500, maxDurationMs: options.plan.maxDurationMs + 30_000})
    expect(options.plan).toMatchObject({mode: 'burst', connects: 100})
    expect(options.probe).toEqual({spec: {kind: 'none'}, timeoutMs: 15_000, insecure: false, expect: null})
  })

  it('starts no lab for a TARGET, and refuses the lab flags, --isolate and --verify with one', () => {
    expect(parseStormOptions('127.0.0.1:80', NO_FLAGS).lab).toBeUndefined()
    expect(usageError('127.0.0.1:80', {'lab-backlog': '4'})).toBe('--lab-backlog: the lab flags only apply when no TARGET is given (the storm then starts the lab)')
    expect(usageError('127.0.0.1:80', {isolate: true})).toMatch(/^--isolate: only with the built-in lab \(no TARGET\)/)
    expect(usageError('127.0.0.1:80', {verify: true})).toMatch(/^--verify: only with the built-in lab \(no TARGET\)/)
  })

  it('takes --sysctl, --sysctl-after-listen and --link-rate only with --isolate (or inside the namespace it made)', () => {
    expect(usageError(undefined, {sysctl: ['net.core.somaxconn=128']})).toMatch(/^--sysctl: only with --isolate/)
    expect(usageError(undefined, {'sysctl-after-listen': ['net.core.somaxconn=128']})).toMatch(/^--sysctl: only with --isolate/)
    expect(usageError(undefined, {'link-rate': '64kbit'})).toMatch(/^--link-rate: only with --isolate/)
    expect(parseStormOptions(undefined, {...NO_FLAGS, isolate: true, sysctl: ['net.core.somaxconn=128'], 'link-rate': '64kbit'})).toMatchObject({
      sysctls: [{key: 'net.core.somaxconn', value: '128'}],
      linkRate: '64kbit',
    })
    expect(parseStormOptions(undefined, {...NO_FLAGS, 'isolated-netns': 'net:[1]', sysctl: ['net.core.somaxconn=128']}).insideNetns).toBe('net:[1]')
  })

  it('refuses probe options that do nothing, and probes on several workers', () => {
    expect(usageError(undefined, {insecure: true, probe: 'banner'})).toMatch(/^--insecure: only with --probe tls or --probe https/)
    expect(usageError(undefined, {'probe-timeout': '2s'})).toBe('--probe-timeout: only with a --probe')
    expect(usageError(undefined, {workers: '2', probe: 'http'})).toBe("--workers: not with --probe http (undici and node:tls run it on the main thread's event loop; --probe send: and banner run in each worker's native loop)")
    expect(parseStormOptions(undefined, {...NO_FLAGS, workers: '2', probe: 'banner'}).probe).toMatchObject({spec: {kind: 'banner'}})
    expect(parseStormOptions(undefined, {...NO_FLAGS, probe: 'send:x', 'probe-timeout': '2s'}).probe).toMatchObject({spec: {kind: 'send'}, timeoutMs: 2000})
  })

  it('names an unknown --server with the known ones, and resolves a known one', () => {
    const error = thrown(() => parseStormOptions(undefined, {...NO_FLAGS, server: 'iis'}))
    expect(error).toBeInstanceOf(InvalidOptionError)
    expect((error as Error).message).toMatch(/^--server: invalid value 'iis': expected one of .*nginx/)
    expect(parseStormOptions(undefined, {...NO_FLAGS, server: 'nginx'}).server?.id).toBe('nginx')
  })

  it('parses thresholds and the accept stall up front', () => {
    const options = parseStormOptions(undefined, {...NO_FLAGS, threshold: ['p99<200ms', 'timeout<1%'], 'accept-stall': '600ms'})
    expect(options.thresholds.map((threshold) => [threshold.metric, threshold.operator, threshold.value, threshold.unit])).toEqual([
      ['p99', '<', 200_000, 'us'],
      ['timeout', '<', 1, 'percent'],
    ])
    expect(options.acceptStallMs).toBe(600)
    expect(thrown(() => parseStormOptions(undefined, {...NO_FLAGS, threshold: ['p99<200']}))).toBeInstanceOf(InvalidOptionError)
  })
})
