import {describe, expect, it} from 'vitest'

import type {StormRun} from '../../src/engine/storm.js'
import {UsageError} from '../../src/errors.js'
import {buildPlan} from '../../src/plan/plan.js'
import {StormRecorder} from '../../src/results/recorder.js'
import type {StormResult} from '../../src/results/format.js'
import {buildResult} from '../helpers/synthetic-result.js'
import {assertValidResultFile, resultProblem, searchProblem} from '../../src/results/schema.js'

/** A small valid result, as `storm` writes it: 3 connected, 1 refused, kernel not looked at. */
function valid(): StormResult {
  const recorder = new StormRecorder()
  for (let i = 0; i < 4; i++) recorder.recordStart(20)
  for (const us of [300, 310, 320]) recorder.recordConnected(us + 5, us)
  recorder.recordFailure('refused', 150, 'ECONNREFUSED')
  const run: StormRun = {
    recorder,
    probes: null,
    startedAt: new Date('2025-11-25T12:00:00.000Z'),
    durationMs: 12.5,
    startWindowMs: 0.25,
    stopReason: 'completed',
    pending: 0,
    notStarted: 0,
    heldAtEnd: 0,
    eventLoopDelayUs: null,
    connectPath: 'native',
  }
  return buildResult(run, {
    tool: {name: 'connstorm', version: '0.1.0'},
    target: {requested: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, family: 4},
    plan: buildPlan({burst: '4'}),
  })
}

/** The result after a JSON round trip, as a file holds it. */
const asFile = (result: StormResult): Record<string, any> => JSON.parse(JSON.stringify(result))

describe('resultProblem', () => {
  it('finds no problem in a result storm wrote', () => {
    expect(resultProblem(asFile(valid()))).toBeNull()
  })

  it('names the root for a value that is not an object', () => {
    expect(resultProblem(42)).toBe('/: must be object')
  })

  it('names the path and the problem of a wrong field', () => {
    const data = asFile(valid())
    data.counts.attempted = 'four'
    expect(resultProblem(data)).toBe('/counts/attempted: must be integer')
  })

  it('lists the allowed values of an enum field', () => {
    const data = asFile(valid())
    data.stopReason = 'crashed'
    expect(resultProblem(data)).toBe('/stopReason: must be equal to one of the allowed values ({"allowedValues":["completed","deadline","interrupted"]})')
  })

  it('gives the one allowed value of a const field', () => {
    const data = asFile(valid())
    data.schemaVersion = 2
    expect(resultProblem(data)).toBe('/schemaVersion: must be equal to constant ({"allowedValue":1})')
  })

  it('finds a histogram that matches the schema but does not decode', () => {
    const data = asFile(valid())
    data.histograms.fromActual = 'AAAA'
    expect(resultProblem(data)).toBe('/histograms/fromActual: is not an HdrHistogram (compressed base64) that decodes')
  })

  it('checks the probe histograms too', () => {
    const data = asFile(valid())
    const good = data.histograms.fromActual
    const summary = data.latencyUs.fromActual
    data.probe = {
      kind: 'send',
      description: "send 'x', wait for the first byte back",
      timeoutMs: 1000,
      insecure: false,
      expect: null,
      outcomes: {ok: 3, probeTimeout: 0, resetAfterConnect: 0, closedBeforeReply: 0, tlsError: 0, unexpectedReply: 0, probeError: 0},
      httpStatus: {},
      errorCodes: {},
      pending: 0,
      latencyUs: {firstByte: summary, tlsHandshake: summary, httpHeaders: summary, responseAfterConnect: summary},
      histograms: {firstByteUs: good, tlsHandshakeUs: good, httpHeadersUs: 'AAAA', responseAfterConnectUs: good},
    }
    expect(resultProblem(data)).toBe('/probe/histograms/httpHeadersUs: is not an HdrHistogram (compressed base64) that decodes')
  })
})

describe('assertValidResultFile', () => {
  it('accepts a valid result', () => {
    expect(() => assertValidResultFile(asFile(valid()), 'run.json')).not.toThrow()
  })

  it('throws a one-line UsageError naming the file and the problem', () => {
    const data = asFile(valid())
    delete data.counts
    let error: unknown
    try {
      assertValidResultFile(data, 'run.json')
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(UsageError)
    expect((error as Error).message).toBe("FILE: 'run.json' is not a valid connstorm result: /: must have required property 'counts'")
  })
})

describe('the compiled validator', () => {
  it('is the current schema compiled (else: npm run build), so what a read checks is what the schema file says', async () => {
    const {readFileSync} = await import('node:fs')
    const {Ajv} = await import('ajv')
    const {default: standaloneCode} = await import('ajv/dist/standalone/index.js')
    const schema = JSON.parse(readFileSync(new URL('../../schema/result-v1.schema.json', import.meta.url), 'utf8')) as object
    const ajv = new Ajv({allErrors: false, strict: true, code: {source: true}})
    const fresh = standaloneCode(ajv, ajv.compile(schema))
    const built = readFileSync(new URL('../../schema/result-v1.validate.cjs', import.meta.url), 'utf8')
    expect(built.slice(built.indexOf('\n') + 1)).toBe(fresh)
  })
})

describe('searchProblem: a saved search, envelope and every trial', () => {
  function search(): Record<string, any> {
    return asFile({
      schemaVersion: 1,
      kind: 'search',
      tool: {name: 'connstorm', version: '0.1.0'},
      startedAt: '2025-11-25T12:00:00.000Z',
      durationMs: 1200,
      target: null,
      dimension: 'burst',
      criterion: {kind: 'ndr', thresholds: []},
      settings: {dimension: 'burst', start: 4, max: 4096, maxTrials: 20, maxDurationMs: 300_000, settleMs: 0},
      trials: [{size: 4, confirming: false, why: 'the first trial', pass: true, admittedAtOnce: 3, failedBecause: null, result: valid()}],
      bracket: {largestPass: 4, smallestFail: null},
      confirmed: true,
      stopReason: 'answered',
      stop: null,
    } as unknown as StormResult)
  }

  it('finds no problem in a search whose trials are storm results', () => {
    expect(searchProblem(search())).toBeNull()
  })

  it('names the field of the envelope that is wrong', () => {
    expect(searchProblem({...search(), dimension: 'waves'})).toBe('/dimension: must be equal to one of the allowed values ({"allowedValues":["burst","rate"]})')
  })

  it("checks each trial's result against the result schema, naming the trial", () => {
    const broken = search()
    broken.trials[0].result.counts.connected = -1
    expect(searchProblem(broken)).toBe('/trials/0/result/counts/connected: must be >= 0')
    broken.trials[0].result = 'x'
    expect(searchProblem(broken)).toBe('/trials/0/result: must be object')
  })
})
