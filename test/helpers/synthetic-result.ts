import type {KernelObservation} from '../../src/results/format.js'
import type {StormRun} from '../../src/engine/storm.js'
import {type PlanFlags, buildPlan} from '../../src/plan/plan.js'
import type {ResolvedTarget} from '../../src/plan/target.js'
import type {FailureOutcome} from '../../src/results/outcome.js'
import {StormRecorder} from '../../src/results/recorder.js'
import type {LabInfo, StormResult} from '../../src/results/format.js'
import {diagnose, savedInputs} from '../../src/analysis/diagnose.js'
import type {ServerProfile} from '../../src/analysis/servers.js'
import type {ReportRun} from '../../src/report/compare.js'
import {type MergeSource, type MergedResult, mergeResults} from '../../src/results/merge.js'
import {renderTextReport} from '../../src/report/text.js'
import {type ResultContext, buildMeasurement} from '../../src/run/build-result.js'

/**
 * Hand-built StormResults for the advice engine's tests. Everything goes through the real
 * StormRecorder, buildMeasurement and diagnose, so the SYN ladder, the attribution of connects to ladder steps
 * and the corroboration against the counters are computed exactly as for a live run; only the
 * connects themselves and what the kernel showed are made up.
 */

/**
 * The sysctls of the lab kernel (docs/kernel.md §0: the same in the root namespace and in a
 * fresh one), as src/kernel/sysctl.ts reports them (the tab in
 * ip_local_port_range becomes one space). tcp_max_tw_buckets is not listed there, so it is left out.
 */
export const LAB_KERNEL_SYSCTLS: Readonly<Record<string, string>> = {
  'net.core.somaxconn': '4096',
  'net.ipv4.tcp_max_syn_backlog': '2048',
  'net.ipv4.tcp_syncookies': '1',
  'net.ipv4.tcp_abort_on_overflow': '0',
  'net.ipv4.tcp_syn_retries': '6',
  'net.ipv4.tcp_syn_linear_timeouts': '4',
  'net.ipv4.tcp_synack_retries': '5',
  'net.ipv4.ip_local_port_range': '32768 60999',
  'net.ipv4.tcp_tw_reuse': '2',
}

/** Every storm sysctl unreadable (another OS, or /proc/sys not mounted). */
export const ALL_SYSCTLS_UNKNOWN: Readonly<Record<string, string>> = Object.fromEntries(
  [...Object.keys(LAB_KERNEL_SYSCTLS), 'net.ipv4.tcp_max_tw_buckets'].map((name) => [name, 'unknown']),
)

/**
 * A connect's latency from its actual start on the default ladder (docs/kernel.md §2: 1.03 2.05 3.07
 * 4.10 5.12 7.14 11.36 s), plus a loopback round trip for the SYN-ACK.
 */
export const ON_STEP_MS: Readonly<Record<number, number>> = {0: 0.3, 1: 1030, 2: 2050, 3: 3070, 4: 4100, 5: 5120, 6: 7140, 7: 11_360}

export interface ConnectGroup {
  /** connect latency from the actual start (the moment the first SYN left), ms */
  latencyMs: number
  count: number
}

/** connects that all needed `retransmits` SYN retransmits (ON_STEP_MS) */
export function onStep(retransmits: number, count: number): ConnectGroup {
  const latencyMs = ON_STEP_MS[retransmits]
  if (latencyMs === undefined) throw new RangeError(`no nominal latency for step ${retransmits}`)
  return {latencyMs, count}
}

const ERRNO: Record<FailureOutcome, string | undefined> = {
  timeout: undefined, // our own --timeout, not the kernel's ETIMEDOUT
  refused: 'ECONNREFUSED',
  reset: 'ECONNRESET',
  addrNotAvail: 'EADDRNOTAVAIL',
  fileLimit: 'EMFILE',
  unreachable: 'EHOSTUNREACH',
  other: 'EPROTO',
}

export interface SyntheticSpec {
  /** the storm flags, exactly as typed (buildPlan validates them) */
  plan: PlanFlags
  connects?: readonly ConnectGroup[]
  /** failed connects by outcome; a timeout takes the plan's --timeout, the others fail at once */
  failures?: Partial<Record<FailureOutcome, number>>
  /** merged over LAB_KERNEL_SYSCTLS, or ALL_SYSCTLS_UNKNOWN to start from nothing */
  sysctls?: Readonly<Record<string, string>>
  /** nstat deltas; null: the counters could not be read */
  counterDeltas?: Record<string, number> | null
  /** the target's listener as ss showed it; null: not seen (remote target) */
  listener?: {effectiveBacklog: number | null; peakQueue: number | null; drops?: number | null; reusePort?: {effectiveBacklogs: (number | null)[]; drops: (number | null)[]}} | null
  /** the built-in lab target: what it was told (merged over a plain backlog-511 lab) */
  lab?: Partial<LabInfo>
  /** true: no kernel observation at all (the storm ran without looking) */
  noKernel?: boolean
}

const TOOL = {name: 'connstorm', version: '0.1.0'}
const TARGET: ResolvedTarget = {requested: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, family: 4}

export function syntheticResult(spec: SyntheticSpec): StormResult {
  const plan = buildPlan(spec.plan)
  const recorder = new StormRecorder()
  const groups = spec.connects ?? []
  const failures = Object.entries(spec.failures ?? {}) as [FailureOutcome, number][]
  const attempted = groups.reduce((sum, group) => sum + group.count, 0) + failures.reduce((sum, [, count]) => sum + count, 0)
  for (let i = 0; i < attempted; i++) recorder.recordStart(10)
  // The engine puts every end on the timeline too (engine/storm.ts): a result file without it
  // would contradict itself (results/consistency.ts).
  for (const group of groups) {
    const us = group.latencyMs * 1000
    for (let i = 0; i < group.count; i++) {
      recorder.recordConnected(us, us)
      recorder.timeline.record(group.latencyMs, 'connected')
    }
  }
  for (const [outcome, count] of failures) {
    const us = outcome === 'timeout' ? plan.timeoutMs * 1000 : 150
    for (let i = 0; i < count; i++) {
      recorder.recordFailure(outcome, us, ERRNO[outcome])
      recorder.timeline.record(us / 1000, 'failed')
    }
  }

  const run: StormRun = {
    recorder,
    probes: null,
    startedAt: new Date('2025-11-25T12:00:00.000Z'),
    durationMs: plan.maxDurationMs - 5000,
    startWindowMs: plan.mode === 'burst' ? 2 : plan.maxDurationMs - 5000 - plan.timeoutMs,
    heldAtEnd: 0,
    stopReason: 'completed',
    pending: 0,
    notStarted: 0,
    eventLoopDelayUs: {p50: 100, p99: 2000, max: 4000},
  }

  const kernel: KernelObservation | undefined = spec.noKernel
    ? undefined
    : {
        netns: 'shared',
        sysctls: {...LAB_KERNEL_SYSCTLS, ...spec.sysctls},
        counterDeltas: spec.counterDeltas === undefined ? {} : spec.counterDeltas,
        listener: spec.listener ? {...spec.listener, samples: 50, source: 'ss'} : null,
      }
  const lab: LabInfo | undefined = spec.lab
    ? {
        backlog: 511,
        effectiveBacklog: 511,
        somaxconn: 4096,
        stallMs: 0,
        stallEveryMs: null,
        stallForMs: null,
        acceptRate: null,
        onAccept: 'close',
        handlerDelayMs: 0,
        accepted: null,
        ...spec.lab,
      }
    : undefined

  return buildResult(run, {tool: TOOL, target: TARGET, plan, ...(lab ? {lab} : {}), ...(kernel ? {kernel} : {})})
}

/**
 * Situation 1 of the advice tests: a burst of 200 against a listener with backlog 8 that is not
 * accepting. 9 = 8 + 1 get in at once (docs/kernel.md §1), the other 191 get in on the second SYN
 * retransmit (2 s on the default ladder, docs/kernel.md §2) once accepts resume; ss saw Recv-Q 9
 * against Send-Q 8 (docs/kernel.md §6: a full queue reads B + 1). TCPSynRetrans +382 = 191 × 2.
 */
export function burstOf200AgainstBacklog8(overrides: Partial<SyntheticSpec> = {}): StormResult {
  return syntheticResult({
    plan: {burst: '200'},
    connects: [onStep(0, 9), onStep(2, 191)],
    listener: {effectiveBacklog: 8, peakQueue: 9},
    counterDeltas: {TcpActiveOpens: 200, TcpExtTCPSynRetrans: 191 * 2, TcpExtListenOverflows: 563},
    ...overrides,
  })
}

/** A result as a live run would have it: the measurement built from the run, then diagnosed. */
export function buildResult(run: StormRun, context: ResultContext): StormResult {
  return diagnose(buildMeasurement(run, context), {acceptStallMs: null}).result
}

/** The text report of a result with the limit findings its diagnosis gives, as `analyze` prints it. */
export function textReport(result: StormResult): string {
  return renderTextReport(result, diagnose(result, savedInputs(result)).limitFindings)
}

/** A saved run as `report` reads it: its column label and its diagnosis. */
export function analyzeRun(label: string, result: StormResult, server?: ServerProfile): ReportRun {
  return {label, ...diagnose(result, savedInputs(result, server))}
}

/** What `connstorm merge` writes: the shards' merged measurement, diagnosed like any run. */
export function mergeAndDiagnose(sources: readonly MergeSource[], options?: {force?: boolean}): MergedResult {
  const measurement = mergeResults(sources, options)
  return {...diagnose(measurement, {acceptStallMs: null}).result, sources: measurement.sources, merge: measurement.merge}
}
