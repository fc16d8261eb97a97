import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {contradiction} from '../../src/results/consistency.js'
import type {StormResult} from '../../src/results/format.js'

/**
 * Real result files, as the CLI wrote them: the five of test/fixtures/results (analyze-fixtures
 * reads them), and two runs cut short — a merge of a Ctrl-C'd rate run, a completed rate run and a
 * burst whose connects timed out (merge --force), and a --probe http burst stopped by Ctrl-C while
 * its probes waited on a stalled lab.
 */
const RESULTS = fileURLToPath(new URL('../fixtures/results/', import.meta.url))
const CONSISTENCY = fileURLToPath(new URL('../fixtures/consistency/', import.meta.url))

function load(path: string): StormResult {
  return JSON.parse(readFileSync(path, 'utf8')) as StormResult
}

const merged = (): StormResult & {sources: {counts: {attempted: number; connected: number; failed: number}}[]} =>
  load(`${CONSISTENCY}merged-interrupted.json`) as StormResult & {sources: {counts: {attempted: number; connected: number; failed: number}}[]}
const probe = (): StormResult => load(`${CONSISTENCY}probe-interrupted.json`)

// The merged file, by hand from its JSON: attempted 191 = connected 104 + failed 18 (all timeouts)
// + pending 69; notStarted 129 of plan.connects 320; stopReason 'interrupted', partial true;
// histograms: fromIntended and fromActual 104 values, failedFromActual 18, failedEarlyFromActual 0;
// attribution: 9 + 83 + 12 = 104 on steps, 0 between, 18 timed out; sources attempted 71 + 100 + 20.
const HISTOGRAM_OF_18 = 'HISTFAAAACh4nJNpmSzMwMDAysDAwMjAwMDMAAEgNoNoqRYDjL90EqMSEwBJ4wNi'
const HISTOGRAM_OF_104 =
  'HISTFAAAAGZ4nDWKuw0CMRQEx+OH9XzJCSEyKrgOKIYyroPrgCoogoIICMmR+Wywml3NabsegAtQgMo3gzmuC//9KM66D+yefRZft5JiKK1VDdM67dI6bpoTktb2EyLIgd5niT6cT2v3DZN9CAI='

describe('a result whose numbers agree has no contradiction', () => {
  it.each(['lab-burst', 'rate', 'probe', 'verify', 'merged'])('the saved %s run passes', (name) => {
    expect(contradiction(load(`${RESULTS}${name}.json`))).toBeNull()
  })

  it('a merge of an interrupted run, a completed one and one with timeouts passes', () => {
    expect(contradiction(merged())).toBeNull()
  })

  it('a probe run interrupted while its probes were pending passes', () => {
    expect(contradiction(probe())).toBeNull()
  })
})

interface BrokenCase {
  rule: string
  base: () => StormResult
  edit: (result: StormResult & {sources?: {counts: {attempted: number}}[]}) => void
  message: string
}

const broken: BrokenCase[] = [
  {
    rule: 'counts.connected is the connected outcome',
    base: merged,
    edit: (result) => (result.counts.byOutcome.connected = 999),
    message: 'counts.byOutcome.connected is 999 but counts.connected is 104',
  },
  {
    rule: 'counts.failed is the sum of the failure outcomes',
    base: merged,
    edit: (result) => (result.counts.byOutcome.refused = 1),
    message: 'the failure outcomes in counts.byOutcome add up to 19 but counts.failed is 18',
  },
  {
    rule: 'every start ended connected or failed, or was pending at the stop',
    base: merged,
    edit: (result) => (result.counts.attempted = 20),
    message: 'counts.attempted is 20 but counts.connected + counts.failed + counts.pending is 191 (104 + 18 + 69)',
  },
  {
    rule: 'every connect of the plan was started or not started',
    base: merged,
    edit: (result) => (result.counts.notStarted = 130),
    message: 'plan.connects is 320 but counts.attempted + counts.notStarted is 321 (191 + 130)',
  },
  {
    rule: 'a completed run has nothing pending or unstarted',
    base: merged,
    edit: (result) => (result.stopReason = 'completed'),
    message: "counts.pending is 69 and counts.notStarted is 129 but stopReason is 'completed'",
  },
  {
    rule: 'partial says whether the run stopped early',
    base: merged,
    edit: (result) => (result.partial = false),
    message: "partial is false but stopReason is 'interrupted'",
  },
  {
    rule: 'every other failure keeps its errno',
    base: merged,
    edit: (result) => (result.counts.otherErrnos = {EPROTO: 1}),
    message: 'counts.otherErrnos add up to 1 but counts.byOutcome.other is 0',
  },
  {
    rule: 'kernel timeouts are among the timeouts',
    base: merged,
    edit: (result) => (result.counts.kernelTimeouts = 19),
    message: 'counts.kernelTimeouts is 19 but counts.byOutcome.timeout is only 18',
  },
  {
    rule: 'histograms.fromIntended holds one value per connected connect',
    base: merged,
    edit: (result) => (result.histograms.fromIntended = HISTOGRAM_OF_18),
    message: 'histograms.fromIntended holds 18 values but counts.connected is 104',
  },
  {
    rule: 'histograms.fromActual holds one value per connected connect',
    base: merged,
    edit: (result) => (result.histograms.fromActual = HISTOGRAM_OF_18),
    message: 'histograms.fromActual holds 18 values but counts.connected is 104',
  },
  {
    rule: 'histograms.failedFromActual holds one value per failed connect',
    base: merged,
    edit: (result) => (result.histograms.failedFromActual = HISTOGRAM_OF_104),
    message: 'histograms.failedFromActual holds 104 values but counts.failed is 18',
  },
  {
    rule: 'histograms.failedEarlyFromActual holds one value per failure that was not a timeout',
    base: merged,
    edit: (result) => (result.histograms.failedEarlyFromActual = HISTOGRAM_OF_18),
    message: 'histograms.failedEarlyFromActual holds 18 values but counts.failed − counts.byOutcome.timeout is 0 (18 − 18)',
  },
  {
    rule: 'a latency summary counts the values of its histogram',
    base: merged,
    edit: (result) => (result.latencyUs.fromActual.count = 105),
    message: 'latencyUs.fromActual.count is 105 but histograms.fromActual holds 104 values',
  },
  {
    rule: 'the timeline bins every connected connect once',
    base: merged,
    edit: (result) => result.timeline!.connected.push(1),
    message: 'timeline.connected adds up to 105 but counts.connected is 104',
  },
  {
    rule: 'the timeline bins every failed connect once',
    base: merged,
    edit: (result) => result.timeline!.failed.push(1),
    message: 'timeline.failed adds up to 19 but counts.failed is 18',
  },
  {
    rule: 'late starts are among the starts',
    base: merged,
    edit: (result) => (result.self.lateStarts = 192),
    message: 'self.lateStarts is 192 but counts.attempted is only 191',
  },
  {
    rule: "the workers' starts add up to the run's",
    base: merged,
    edit: (result) =>
      (result.self.workers = [
        {attempted: 100, lateStarts: 0, eventLoopDelayUs: null},
        {attempted: 90, lateStarts: 0, eventLoopDelayUs: null},
      ]),
    message: 'self.workers[].attempted add up to 190 but counts.attempted is 191',
  },
  {
    rule: 'only connected connections are held',
    base: merged,
    edit: (result) => (result.heldAtEnd = 105),
    message: 'heldAtEnd is 105 but counts.connected is only 104',
  },
  {
    rule: 'the attribution places every connected connect on a step or between steps',
    base: merged,
    edit: (result) => (result.attribution!.betweenSteps.connects = 1),
    message: 'attribution.steps[].connects + attribution.betweenSteps.connects is 105 (104 + 1) but counts.connected is 104',
  },
  {
    rule: 'the attribution counts every timeout',
    base: merged,
    edit: (result) => (result.attribution!.timedOut[0]!.connects = 17),
    message: 'attribution.timedOut[].connects add up to 17 but counts.byOutcome.timeout is 18',
  },
  {
    rule: "a merge's counts are the sums of its sources'",
    base: merged,
    edit: (result) => (result.sources![0]!.counts.attempted = 72),
    message: 'sources[].counts.attempted add up to 192 but counts.attempted is 191',
  },
  {
    rule: 'every connected connection was probed: its probe ended or was pending at the stop',
    base: probe,
    edit: (result) => (result.probe!.pending = 1),
    message: 'probe.outcomes + probe.pending is 1 but counts.connected is 2',
  },
  {
    rule: "a probe's latency summary counts the values of its histogram",
    base: probe,
    edit: (result) => (result.probe!.latencyUs.firstByte.count = 1),
    message: 'probe.latencyUs.firstByte.count is 1 but probe.histograms.firstByteUs holds 0 values',
  },
]

describe('a result that breaks one identity by one number is refused, naming the fields and their values', () => {
  it.each(broken)('$rule', ({base, edit, message}) => {
    const result = base()
    edit(result)
    expect(contradiction(result)).toBe(message)
  })
})

describe('what schema 1 leaves loose is refused, not crashed on', () => {
  it('an attribution.timedOut entry without a connects count', () => {
    const result = merged()
    ;(result.attribution!.timedOut as unknown[])[0] = null
    expect(contradiction(result)).toBe('attribution.timedOut[] holds an entry without a connects count')
  })

  it("a merge's sources without counts are not read", () => {
    const result = merged()
    ;(result.sources as unknown[])[0] = {file: 'int.json'}
    expect(contradiction(result)).toBeNull()
  })
})

describe("the kernel's counts per connect (counts.countedRetransmits)", () => {
  it('refuses more counted connects of an outcome than ended so', async () => {
    const {contradiction} = await import('../../src/results/consistency.js')
    const {burstOf200AgainstBacklog8} = await import('../helpers/synthetic-result.js')
    const result = burstOf200AgainstBacklog8()
    result.counts.countedRetransmits = {byOutcome: {connected: {'0': 9, '2': 191}}, notCounted: 0}
    expect(contradiction(result)).toBeNull()
    result.counts.countedRetransmits = {byOutcome: {connected: {'0': 9, '2': 192}}, notCounted: 0}
    expect(contradiction(result)).toBe('counts.countedRetransmits.byOutcome.connected counts 201 connects but counts byOutcome.connected is 200')
  })
})
