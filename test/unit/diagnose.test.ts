import {describe, expect, it} from 'vitest'

import {diagnose, savedInputs} from '../../src/analysis/diagnose.js'
import {findServer} from '../../src/analysis/servers.js'
import type {StormRun} from '../../src/engine/storm.js'
import {buildPlan} from '../../src/plan/plan.js'
import {parseThreshold} from '../../src/plan/thresholds.js'
import type {KernelObservation, Measurement} from '../../src/results/format.js'
import {StormRecorder} from '../../src/results/recorder.js'
import {buildMeasurement} from '../../src/run/build-result.js'

const SYSCTLS = {'net.ipv4.tcp_syn_retries': '6', 'net.ipv4.tcp_syn_linear_timeouts': '4', 'net.ipv4.tcp_abort_on_overflow': '0'}

interface Spec {
  flags?: Parameters<typeof buildPlan>[0]
  /** connect latencies from the actual start, µs */
  connected?: number[]
  fileLimit?: number
  refused?: number
  kernel?: KernelObservation
}

/** A measurement as a live run hands it to diagnose(): 2 immediate connects unless told otherwise. */
function measurement(spec: Spec = {}): Measurement {
  const recorder = new StormRecorder()
  const connected = spec.connected ?? [300, 310]
  const failures = (spec.fileLimit ?? 0) + (spec.refused ?? 0)
  for (let i = 0; i < connected.length + failures; i++) recorder.recordStart(10)
  for (const us of connected) recorder.recordConnected(us, us)
  for (let i = 0; i < (spec.fileLimit ?? 0); i++) recorder.recordFailure('fileLimit', 5, 'EMFILE')
  for (let i = 0; i < (spec.refused ?? 0); i++) recorder.recordFailure('refused', 1_020_000, 'ECONNREFUSED')
  const run: StormRun = {
    recorder,
    probes: null,
    startedAt: new Date('2025-11-25T12:00:00.000Z'),
    durationMs: 1000,
    startWindowMs: 1,
    stopReason: 'completed',
    pending: 0,
    notStarted: 0,
    heldAtEnd: 0,
    eventLoopDelayUs: null,
  }
  return buildMeasurement(run, {
    tool: {name: 'connstorm', version: '0.1.0'},
    target: {requested: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, family: 4},
    plan: buildPlan(spec.flags ?? {burst: '2'}),
    ...(spec.kernel ? {kernel: spec.kernel} : {}),
  })
}

const redis = findServer('redis')!
const nginx = findServer('nginx')!

describe('savedInputs: a saved run is diagnosed again with what it was diagnosed with', () => {
  it('takes the server and accept stall the run was given', () => {
    const saved = diagnose(measurement(), {server: redis, acceptStallMs: 600}).result
    expect(savedInputs(saved)).toEqual({server: redis, acceptStallMs: 600})
  })

  it('lets a --server given now take precedence over the saved one', () => {
    const saved = diagnose(measurement(), {server: redis, acceptStallMs: 600}).result
    expect(savedInputs(saved, nginx).server).toBe(nginx)
  })

  it('has no server and no accept stall for a measurement never diagnosed (no advice saved)', () => {
    expect(savedInputs(measurement())).toEqual({server: undefined, acceptStallMs: null})
  })
})

describe('diagnose: what the result records besides the measurement', () => {
  it('saves the advice inputs (server id, accept stall) and names the server', () => {
    const diagnosis = diagnose(measurement(), {server: redis, acceptStallMs: 600})
    expect(diagnosis.result.advice!.inputs).toEqual({acceptStallMs: 600, server: 'redis'})
    expect(diagnosis.serverName).toBe('Redis')
  })

  it('saves null inputs and names no server when none was given', () => {
    const diagnosis = diagnose(measurement(), {acceptStallMs: null})
    expect(diagnosis.result.advice!.inputs).toEqual({acceptStallMs: null, server: null})
    expect(diagnosis).not.toHaveProperty('serverName')
  })

  it('keeps --verify\'s somaxconn out of the saved advice, and the recommendations beside it', () => {
    const {result, advice} = diagnose(measurement(), {acceptStallMs: null})
    expect(result.advice).not.toHaveProperty('proposedSomaxconn')
    expect(result.advice).not.toHaveProperty('recommendations')
    expect(result.recommendations).toEqual(advice.recommendations)
  })

  it('writes the ladder with the sysctls as read (strings) next to the computed send times', () => {
    const {result} = diagnose(measurement({kernel: {netns: 'isolated', sysctls: SYSCTLS, counterDeltas: null, listener: null}}), {acceptStallMs: null})
    expect(result.ladder).toEqual({synRetries: '6', linearTimeouts: '4', sendTimesMs: [0, 1000, 2000, 3000, 4000, 5000, 7000, 11_000, 19_000, 35_000, 67_000], giveUpMs: 131_000})
  })

  it('attributes a result saved before failures had their own histogram (no failedEarlyFromActual): no failed steps', () => {
    const m = measurement({refused: 1, kernel: {netns: 'isolated', sysctls: SYSCTLS, counterDeltas: null, listener: null}})
    const {failedEarlyFromActual: _absent, ...older} = m.histograms
    const {result} = diagnose({...m, histograms: older as Measurement['histograms']}, {acceptStallMs: null})
    expect(result.attribution!.failedSteps).toEqual([])
    // the refusal has no latency there, so the 2 connects are all the finished connects it can place
    expect(result.attribution!.steps.map((step) => [step.retransmits, step.connects, step.share])).toEqual([[0, 2, 1]])
    // the same run with the histogram: the refusal at 1.02 s answered the first retransmit
    expect(diagnose(m, {acceptStallMs: null}).result.attribution!.failedSteps).toEqual([{retransmits: 1, connects: 1}])
  })

  it('reads SYN-cookie ACKs from the listener\'s counters: waits with cookies and no overflow are dropped ACKs', () => {
    const kernel: KernelObservation = {
      netns: 'isolated',
      sysctls: SYSCTLS,
      counterDeltas: {TcpExtTCPSynRetrans: 0, TcpActiveOpens: 2, TcpExtSyncookiesRecv: 5},
      listener: {effectiveBacklog: 8, peakQueue: 9, samples: 20, source: 'netlink'},
    }
    const m: Measurement = {...measurement({kernel}), acceptWait: {admittedNotAccepted: 2, delayUs: {p50: 400_000, p99: 400_000, max: 400_000}}}
    const {afterConnect} = diagnose(m, {acceptStallMs: null}).result
    expect(afterConnect!.mechanisms).toEqual(['ackDropped'])
    expect(afterConnect!.sentence).toContain('(TcpExtListenOverflows +0, TcpExtSyncookiesRecv +5, TcpExtTCPReqQFullDoCookies +0 agree)')
  })
})

describe('diagnose: thresholds', () => {
  it('evaluates the --threshold expressions given: 2 connected holds connected==2', () => {
    const {result} = diagnose(measurement(), {acceptStallMs: null, thresholds: [parseThreshold('connected==2')]})
    expect(result.thresholds).toEqual([{expr: 'connected==2', held: true, value: 2, unit: 'count', display: '2'}])
  })

  it('evaluates a saved result\'s thresholds again instead of trusting their saved verdict', () => {
    const saved = diagnose(measurement(), {acceptStallMs: null, thresholds: [parseThreshold('connected==2')]}).result
    const tampered = {...saved, thresholds: [{expr: 'connected==2', held: false, value: 0, unit: 'count' as const, display: '0'}]}
    expect(diagnose(tampered, {acceptStallMs: null}).result.thresholds).toEqual([{expr: 'connected==2', held: true, value: 2, unit: 'count', display: '2'}])
  })

  it('writes no thresholds section when there are none, and drops a saved one when told there are none now', () => {
    expect(diagnose(measurement(), {acceptStallMs: null}).result).not.toHaveProperty('thresholds')
    const saved = diagnose(measurement(), {acceptStallMs: null, thresholds: [parseThreshold('connected==2')]}).result
    expect(diagnose(saved, {acceptStallMs: null, thresholds: []}).result).not.toHaveProperty('thresholds')
  })
})

describe('diagnose: local limits', () => {
  it('with --close hold counts every connect as open at once, even above --concurrency', () => {
    const {limitFindings} = diagnose(measurement({flags: {burst: '1000', concurrency: '100', close: 'hold'}, fileLimit: 3}), {acceptStallMs: null})
    expect(limitFindings[0]!.limit).toBe('open files: this process may open an unknown number of files and the plan keeps up to 1000 sockets open')
  })

  it('otherwise counts the connects in flight: --concurrency 100 of a 1000 burst', () => {
    const {limitFindings} = diagnose(measurement({flags: {burst: '1000', concurrency: '100'}, fileLimit: 3}), {acceptStallMs: null})
    expect(limitFindings[0]!.limit).toBe('open files: this process may open an unknown number of files and the plan keeps up to 100 sockets open')
  })

  it('counts a burst smaller than --concurrency as the burst: 50 of concurrency 100', () => {
    const {limitFindings} = diagnose(measurement({flags: {burst: '50', concurrency: '100'}, fileLimit: 3}), {acceptStallMs: null})
    expect(limitFindings[0]!.limit).toBe('open files: this process may open an unknown number of files and the plan keeps up to 50 sockets open')
  })
})
