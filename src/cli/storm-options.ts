import {UsageError} from '../errors.js'
import {parseLinkRate, parseSysctlOverrides} from '../plan/isolation-options.js'
import {parseLabOptions, pickPrefixedLabFlags} from '../plan/lab-options.js'
import {type PlanFlags, buildPlan} from '../plan/plan.js'
import {checkExpect, parseProbe} from '../plan/probe-spec.js'
import {parseThreshold} from '../plan/thresholds.js'
import {parseDurationMs} from '../plan/units.js'
import {assertWritable} from '../results/write.js'
import type {ProbeRequest} from '../run/run-plan.js'
import type {StormRequest} from '../run/storm.js'
import {DEFAULT_LAB} from './storm-flags.js'
import {resolveServer} from './server-flag.js'

/** Long enough for a SYN-cookie connection to be accepted after the 1, 3, 7 s SYN-ACK retransmits (docs/kernel.md §3). */
const DEFAULT_PROBE_TIMEOUT_MS = 15_000
/** The lab outlives the storm's own deadline by this much at most (it is stopped long before). */
const LAB_DEADLINE_SLACK_MS = 30_000

/** Every storm flag, checked and typed: the storm's request and what the command itself does with it. */
export interface StormOptions extends StormRequest {
  out: string | undefined
  isolate: boolean
  quiet: boolean
}

export interface StormFlagValues extends PlanFlags {
  sysctl?: string[]
  'sysctl-after-listen'?: string[]
  'link-rate'?: string
  threshold?: string[]
  server?: string
  'accept-stall'?: string
  probe?: string
  'probe-timeout'?: string
  expect?: string
  insecure: boolean
  out?: string
  verify: boolean
  isolate: boolean
  'isolated-netns'?: string
  force: boolean
  quiet: boolean
  [labFlag: `lab-${string}`]: string | undefined
}

/**
 * Checks every flag, alone and together, before the lab starts or any traffic is sent: each
 * mistake is one UsageError naming the flag (exit 2).
 */
export function parseStormOptions(target: string | undefined, flags: StormFlagValues): StormOptions {
  const plan = buildPlan(flags)
  const labFlagValues = pickPrefixedLabFlags(flags)
  const sysctls = parseSysctlOverrides(flags.sysctl ?? [])
  const sysctlsAfterListen = parseSysctlOverrides(flags['sysctl-after-listen'] ?? [])
  const linkRate = flags['link-rate'] === undefined ? undefined : parseLinkRate(flags['link-rate'])
  const thresholds = (flags.threshold ?? []).map((expr) => parseThreshold(expr))
  const server = resolveServer(flags.server)
  const acceptStallMs = flags['accept-stall'] === undefined ? null : parseDurationMs('--accept-stall', flags['accept-stall'])
  const probe = parseProbeFlags(flags)
  if ((plan.workers ?? 1) > 1 && !['none', 'send', 'banner'].includes(probe.spec.kind)) throw new UsageError(`--workers: not with --probe ${probe.spec.kind} (undici and node:tls run it on the main thread's event loop; --probe send: and banner run in each worker's native loop)`)
  if (flags.out !== undefined) assertWritable(flags.out)
  if (target !== undefined) {
    const given = Object.keys(labFlagValues)
    if (given.length > 0) throw new UsageError(`--lab-${given[0]}: the lab flags only apply when no TARGET is given (the storm then starts the lab)`)
    if (flags.isolate) throw new UsageError('--isolate: only with the built-in lab (no TARGET): the new namespace holds nothing but its own loopback')
    if (flags.verify) throw new UsageError('--verify: only with the built-in lab (no TARGET): it re-runs the plan against the lab with the advised backlog')
  }
  const lab = target === undefined ? parseLabOptions(labFlagValues, '--lab-', {...DEFAULT_LAB, maxDurationMs: plan.maxDurationMs + LAB_DEADLINE_SLACK_MS}) : undefined
  // The parent of an --isolate run passes these on to the storm inside the namespace, which applies them there.
  const isolated = flags.isolate || flags['isolated-netns'] !== undefined
  if ((sysctls.length > 0 || sysctlsAfterListen.length > 0) && !isolated) {
    throw new UsageError('--sysctl: only with --isolate (connstorm never changes the sysctls of the namespace it was started in)')
  }
  if (linkRate !== undefined && !isolated) {
    throw new UsageError('--link-rate: only with --isolate (connstorm never changes the packet scheduling of the namespace it was started in)')
  }
  return {
    target,
    plan,
    lab,
    probe,
    sysctls,
    sysctlsAfterListen,
    linkRate,
    thresholds,
    server,
    acceptStallMs,
    out: flags.out,
    verify: flags.verify,
    isolate: flags.isolate,
    insideNetns: flags['isolated-netns'],
    force: flags.force,
    quiet: flags.quiet,
  }
}

function parseProbeFlags(flags: StormFlagValues): ProbeRequest {
  const spec = parseProbe(flags.probe ?? 'none')
  checkExpect(spec, flags.expect)
  if (flags.insecure && spec.kind !== 'tls' && spec.kind !== 'https') throw new UsageError('--insecure: only with --probe tls or --probe https (it skips certificate verification)')
  if (flags['probe-timeout'] !== undefined && spec.kind === 'none') throw new UsageError('--probe-timeout: only with a --probe')
  const timeoutMs = flags['probe-timeout'] === undefined ? DEFAULT_PROBE_TIMEOUT_MS : parseDurationMs('--probe-timeout', flags['probe-timeout'])
  return {spec, timeoutMs, insecure: flags.insecure, expect: flags.expect ?? null}
}
