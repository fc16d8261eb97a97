import {isIP} from 'node:net'

import {Args, Flags} from '@oclif/core'

import {adviceOptionsFor, recommend} from '../analysis/recommend.js'
import {SERVER_IDS, type ServerProfile, findServer} from '../analysis/servers.js'
import {THRESHOLD_METRICS, evaluateThresholds, parseThreshold} from '../analysis/thresholds.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {labFlags} from '../cli/lab-flags.js'
import {InterruptedBeforeStartError, InvalidOptionError, UsageError} from '../errors.js'
import {type ProbeRequest, type RunRequest, runPlan} from '../engine/run-plan.js'
import {PROBE_FORMS, checkExpect, parseProbe} from '../probe/spec.js'
import {verifyAdvice} from '../engine/verify.js'
import {parseLabOptions, pickPrefixedLabFlags} from '../lab/options.js'
import {applySysctls, assertCanIsolate, parseSysctlOverrides, prepareIsolatedNamespace, runIsolated} from '../netns/isolate.js'
import {paceLinkToward, parseLinkRate} from '../netns/link.js'
import {DEFAULT_BURST, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS, type PlanFlags, buildPlan} from '../plan/plan.js'
import {isLoopbackAddress, parseTarget, resolveTarget} from '../plan/target.js'
import {parseDurationMs} from '../plan/units.js'
import {LiveProgress} from '../report/progress.js'
import {preflightProblems, readPreflightFacts} from '../kernel/preflight.js'
import {renderRunReport} from '../report/run-report.js'
import type {SynLadder} from '../analysis/ladder.js'
import type {LabListening} from '../lab/lab.js'
import type {LiveStorm} from '../engine/storm.js'
import type {StormResult} from '../results/result.js'
import {resultProblem} from '../results/schema.js'
import {assertWritable, writeFileAtomic} from '../results/write.js'

/**
 * The default lab: a small queue (9 slots) that stays full for 1.5 s, so a 100-connect burst has
 * its excess SYNs dropped at least once and completes on a later retransmit step (~2 s with the
 * Linux ≥ 6.5 defaults, ~3 s with the classic ladder), well inside 15 s.
 */
const DEFAULT_LAB = {backlog: 8, stallMs: 1500}
/** The lab outlives the storm's own deadline by this much at most (it is stopped long before). */
const LAB_DEADLINE_SLACK_MS = 30_000

const EXIT_ON_SIGNAL = {SIGINT: 130, SIGTERM: 143} as const
/** Long enough for a SYN-cookie connection to be accepted after the 1, 3, 7 s SYN-ACK retransmits (docs/kernel.md §3). */
const DEFAULT_PROBE_TIMEOUT_MS = 15_000
/** A --threshold did not hold (k6's convention: the run itself worked, the service did not meet the bar). */
const EXIT_THRESHOLD_FAILED = 1

export default class Storm extends ConnstormCommand {
  static override summary = 'Fire a burst, a rate or waves of TCP connects and report how long each took'
  static override description = `Each connect is timed from its intended start (coordinated-omission safe) and from its actual start, into HDR histograms; every connect ends as exactly one outcome (connected, timeout, refused, reset, addrNotAvail, fileLimit, unreachable, other). Without TARGET, connstorm starts its built-in lab target (backlog 8, no accept() for the first 1.5 s), storms it, and stops it.

The default --timeout is 15 s so that connects delayed by SYN retransmits (the kernel retries a dropped SYN after 1 s, then on a ladder: 1, 2, 3, 4, 5, 7, 11 s with Linux ≥ 6.5 defaults) are seen rather than cut off. Ctrl-C prints the partial report and exits 130.`

  static override examples = [
    '<%= config.bin %> storm',
    '<%= config.bin %> storm 127.0.0.1:8080 --burst 500 --timeout 15s',
    '<%= config.bin %> storm [::1]:8080 --rate 2000 --duration 10s --concurrency 1000 --json > run.json',
    '<%= config.bin %> storm 127.0.0.1:8080 --waves 5 --burst 200 --interval 2s --out run.json',
    '<%= config.bin %> storm --lab-backlog 8 --lab-stall 2s --burst 50',
  ]

  static override enableJsonFlag = true

  static override args = {
    target: Args.string({description: 'host:port or [v6addr]:port; a name is resolved once. Omit it to storm the built-in lab', required: false}),
  }

  static override flags = {
    burst: Flags.string({summary: `connects launched together (burst mode, the default; per wave with --waves) [default: ${DEFAULT_BURST}]`, helpValue: '<n>'}),
    rate: Flags.string({summary: 'open loop: connect starts per second (needs --duration)', helpValue: '<per-second>'}),
    duration: Flags.string({summary: 'how long --rate runs', helpValue: '<duration>'}),
    waves: Flags.string({summary: 'repeat the burst this many times (needs --interval)', helpValue: '<n>'}),
    interval: Flags.string({summary: 'time between wave starts', helpValue: '<duration>'}),
    concurrency: Flags.string({summary: `connects in flight at most; a start that must wait is counted late [default: ${DEFAULT_CONCURRENCY}]`, helpValue: '<n>'}),
    timeout: Flags.string({summary: `per connect; 15 s lets the 1…11 s SYN-retransmit steps show [default: ${DEFAULT_TIMEOUT_MS / 1000}s]`, helpValue: '<duration>'}),
    'max-duration': Flags.string({summary: 'hard deadline for the whole run [default: schedule + timeout + 5s]', helpValue: '<duration>'}),
    close: Flags.string({summary: 'after connect: rst (SO_LINGER 0, no TIME_WAIT), fin, or hold open until --max-duration, then rst [default: rst]', helpValue: 'rst|fin|hold'}),
    out: Flags.string({summary: 'also write the JSON result to this file (atomically: temp file + rename)', helpValue: '<file>'}),
    quiet: Flags.boolean({summary: 'no live progress line (it is shown only on a TTY, and never with --json)'}),
    force: Flags.boolean({summary: 'start even when the pre-flight checks (open files, ephemeral ports, TIME_WAIT, conntrack) say the plan cannot fit'}),
    workers: Flags.string({
      summary: 'threads that share the plan (auto = cores), started together; their histograms are added, never averaged [default: 1]',
      helpValue: '<n|auto>',
    }),
    source: Flags.string({
      summary:
        'bind the connects to these local addresses in turn — 127.0.0.1-127.0.0.8, 127.0.0.0/29 or a,b,c — to hold more connections to one destination than the ~28k ports of one source address. Only when asked: Node cannot set IP_BIND_ADDRESS_NO_PORT, so each bind takes its port for every destination and ports in TIME_WAIT block binds (prefer --close rst)',
      helpValue: '<addresses>',
    }),
    shard: Flags.string({
      summary: 'run the i-th of n shares of the plan (every n-th connect, same timing), for one storm from several hosts; merge the files after',
      helpValue: '<i/n>',
      helpGroup: 'MULTI-HOST',
    }),
    'start-at': Flags.string({
      summary: 'start the first connect at this wall-clock instant (ISO-8601, or +D from now; at most 1 h ahead), so shards fire together',
      helpValue: '<instant>',
      helpGroup: 'MULTI-HOST',
    }),
    isolate: Flags.boolean({
      summary: 'root: run the lab and the storm in a network namespace of their own (clean counters; removed with the run)',
    }),
    sysctl: Flags.string({
      summary: 'with --isolate: set a TCP sysctl inside that namespace only, e.g. net.ipv4.tcp_syn_linear_timeouts=0 (repeatable)',
      helpValue: '<key=value>',
      multiple: true,
    }),
    'link-rate': Flags.string({
      summary:
        'with --isolate: pace the packets sent toward the lab at this rate (e.g. 64kbit), so handshake ACKs trail the SYNs as on a real link and can meet a full accept queue — ACK-time overflow and tcp_abort_on_overflow resets, which plain loopback cannot show',
      helpValue: '<rate>',
    }),
    probe: Flags.string({
      summary: `after each connect: ${PROBE_FORMS}. Times the first response, which shows the accept-queue wait that connect latency hides [default: none]`,
      helpValue: '<probe>',
      helpGroup: 'PROBE',
    }),
    'probe-timeout': Flags.string({summary: 'deadline of each probe, from its connect [default: 15s]', helpValue: '<duration>', helpGroup: 'PROBE'}),
    expect: Flags.string({summary: 'with send/banner: the reply must contain this text (else unexpectedReply)', helpValue: '<text>', helpGroup: 'PROBE'}),
    insecure: Flags.boolean({summary: 'with tls/https: do not verify the certificate (the report says so)', helpGroup: 'PROBE'}),
    server: Flags.string({summary: `print the backlog advice in this server's syntax: ${SERVER_IDS.join(', ')}`, helpValue: '<name>', helpGroup: 'ADVICE'}),
    'accept-stall': Flags.string({
      summary: "the longest pause in your server's accept loop that you know of (GC, event loop), for the sizing model",
      helpValue: '<duration>',
      helpGroup: 'ADVICE',
    }),
    verify: Flags.boolean({summary: 'with the lab: re-run the plan with the advised backlog (and somaxconn, with --isolate) and compare', helpGroup: 'ADVICE'}),
    threshold: Flags.string({
      summary: `pass/fail for CI, repeatable: exit 1 when one fails. e.g. 'p99<200ms', 'synRetransmits==0', 'timeout<1%'. Metrics: ${THRESHOLD_METRICS.join(', ')}`,
      helpValue: '<expr>',
      multiple: true,
      helpGroup: 'ADVICE',
    }),
    'sysctl-after-listen': Flags.string({
      summary: 'with --isolate: set a sysctl after the lab listens and before the storm — e.g. somaxconn raised without restarting the service (repeatable)',
      helpValue: '<key=value>',
      multiple: true,
    }),
    'isolated-netns': Flags.string({hidden: true, description: 'set by --isolate on the storm it runs inside the new namespace'}),
    ...labFlags('lab-', {backlog: String(DEFAULT_LAB.backlog), stall: `${DEFAULT_LAB.stallMs / 1000}s`}),
  }

  async run(): Promise<StormResult> {
    const {args, flags} = await this.parse(Storm)
    // Everything the user typed is checked here, before the lab starts or any traffic is sent.
    const plan = buildPlan(flags as PlanFlags)
    const labFlagValues = pickPrefixedLabFlags(flags)
    const overrides = parseSysctlOverrides(flags.sysctl ?? [])
    const afterListen = parseSysctlOverrides(flags['sysctl-after-listen'] ?? [])
    const linkRate = flags['link-rate'] === undefined ? undefined : parseLinkRate(flags['link-rate'])
    const thresholds = (flags.threshold ?? []).map((expr) => parseThreshold(expr))
    const server = flags.server === undefined ? undefined : resolveServer(flags.server)
    const acceptStallMs = flags['accept-stall'] === undefined ? null : parseDurationMs('--accept-stall', flags['accept-stall'])
    const probe = parseProbeFlags(flags)
    if ((plan.workers ?? 1) > 1 && probe.spec.kind !== 'none') throw new UsageError('--workers: not with --probe yet (probes run on the main thread only)')
    if (flags.out !== undefined) assertWritable(flags.out)
    if (args.target !== undefined) {
      const given = Object.keys(labFlagValues)
      if (given.length > 0) throw new UsageError(`--lab-${given[0]}: the lab flags only apply when no TARGET is given (the storm then starts the lab)`)
      if (flags.isolate) throw new UsageError('--isolate: only with the built-in lab (no TARGET): the new namespace holds nothing but its own loopback')
      if (flags.verify) throw new UsageError('--verify: only with the built-in lab (no TARGET): it re-runs the plan against the lab with the advised backlog')
    }
    const lab =
      args.target === undefined
        ? parseLabOptions(labFlagValues, '--lab-', {...DEFAULT_LAB, maxDurationMs: plan.maxDurationMs + LAB_DEADLINE_SLACK_MS})
        : undefined

    if (flags.isolate) {
      assertCanIsolate()
      this.exit(await runIsolated(this.argv))
    }
    const insideNetns = flags['isolated-netns']
    if ((overrides.length > 0 || afterListen.length > 0) && insideNetns === undefined) {
      throw new UsageError('--sysctl: only with --isolate (connstorm never changes the sysctls of the namespace it was started in)')
    }
    if (linkRate !== undefined && insideNetns === undefined) {
      throw new UsageError('--link-rate: only with --isolate (connstorm never changes the packet scheduling of the namespace it was started in)')
    }
    if (insideNetns !== undefined) prepareIsolatedNamespace(insideNetns, overrides)
    const target = args.target === undefined ? undefined : await resolveTarget(parseTarget(args.target))
    checkSourceFamily(plan.sources, target?.family ?? (isIP(lab!.host) === 6 ? 6 : 4))
    const preflightFacts = readPreflightFacts()
    const problems = preflightProblems(plan, preflightFacts, target === undefined || isLoopbackAddress(target.host))
    if (problems.length > 0 && !flags.force) {
      throw new UsageError(`pre-flight: ${problems.join(' | ')} (--force runs anyway; the limits then show as fileLimit/addrNotAvail outcomes)`)
    }

    // Listen for Ctrl-C before anything starts, so that even a stop during lab start-up is orderly.
    const abort = new AbortController()
    let signalName: keyof typeof EXIT_ON_SIGNAL = 'SIGINT'
    const onSignal = (name: keyof typeof EXIT_ON_SIGNAL) => () => {
      if (!abort.signal.aborted) signalName = name
      abort.abort()
    }
    const onSigint = onSignal('SIGINT')
    const onSigterm = onSignal('SIGTERM')
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)
    try {
      const progress = LiveProgress.wanted({json: this.jsonEnabled(), quiet: flags.quiet}) ? new LiveProgress() : undefined
      const request: RunRequest = {
        ...(progress ? {onStart: (live: LiveStorm, ladder: SynLadder | null) => progress.start(live, ladder, plan.connects)} : {}),
        plan,
        target,
        lab,
        probe,
        ...(afterListen.length > 0 || linkRate !== undefined
          ? {
              afterListen: (listening: LabListening) => {
                applySysctls(afterListen)
                if (linkRate !== undefined) paceLinkToward(listening.port, linkRate)
              },
            }
          : {}),
        ...(linkRate === undefined ? {} : {linkRate}),
        isolatedNetns: insideNetns !== undefined,
        clientLimits: {openFiles: preflightFacts.openFiles, portRange: preflightFacts.portRange, problems},
        signal: abort.signal,
        tool: {name: this.config.name, version: this.config.version},
      }
      let result: StormResult
      try {
        result = await runPlan(request)
        progress?.stop()
      } catch (error) {
        progress?.stop()
        if (!(error instanceof InterruptedBeforeStartError)) throw error
        process.stderr.write(`connstorm storm: ${error.message}\n`)
        this.exit(EXIT_ON_SIGNAL[signalName])
      }

      const advice = recommend(result, adviceOptionsFor(server, acceptStallMs))
      const {recommendations, ...adviceSummary} = advice
      result.recommendations = recommendations
      result.advice = {...adviceSummary, inputs: {acceptStallMs, server: server?.id ?? null}}
      if (flags.verify && result.stopReason === 'completed') result.verification = await verifyAdvice(request, result, advice)
      if (thresholds.length > 0) result.thresholds = evaluateThresholds(thresholds, result)

      if (flags.out !== undefined) {
        // A file that `analyze` would refuse is a bug here, never something to hand the user.
        const problem = resultProblem(result)
        if (problem !== null) throw new Error(`internal: the result does not match schema 1: ${problem}`)
        writeFileAtomic(flags.out, `${JSON.stringify(result, null, 2)}\n`)
      }
      if (!this.jsonEnabled()) this.log(renderRunReport(result, advice, server?.name))
      if (result.stopReason === 'interrupted' || result.thresholds?.some((threshold) => !threshold.held)) {
        if (this.jsonEnabled()) this.logJson(result)
        // Ctrl-C wins over thresholds: a partial run is not a verdict.
        this.exit(result.stopReason === 'interrupted' ? EXIT_ON_SIGNAL[signalName] : EXIT_THRESHOLD_FAILED)
      }
      return result
    } finally {
      process.off('SIGINT', onSigint)
      process.off('SIGTERM', onSigterm)
    }
  }
}

function parseProbeFlags(flags: {probe?: string; 'probe-timeout'?: string; expect?: string; insecure: boolean}): ProbeRequest {
  const spec = parseProbe(flags.probe ?? 'none')
  checkExpect(spec, flags.expect)
  if (flags.insecure && spec.kind !== 'tls' && spec.kind !== 'https') throw new UsageError('--insecure: only with --probe tls or --probe https (it skips certificate verification)')
  if (flags['probe-timeout'] !== undefined && spec.kind === 'none') throw new UsageError('--probe-timeout: only with a --probe')
  const timeoutMs = flags['probe-timeout'] === undefined ? DEFAULT_PROBE_TIMEOUT_MS : parseDurationMs('--probe-timeout', flags['probe-timeout'])
  return {spec, timeoutMs, insecure: flags.insecure, expect: flags.expect ?? null}
}

/** A connect bound to an IPv4 address cannot reach an IPv6 target, nor the other way round. */
function checkSourceFamily(sources: readonly string[] | undefined, targetFamily: 4 | 6): void {
  if (sources === undefined || isIP(sources[0]!) === targetFamily) return
  throw new UsageError(`--source: ${sources[0]} is an IPv${isIP(sources[0]!)} address but the target is IPv${targetFamily}; give source addresses of the target's family`)
}

function resolveServer(name: string): ServerProfile {
  const server = findServer(name)
  if (!server) throw new InvalidOptionError('--server', name, `one of ${SERVER_IDS.join(', ')}`)
  return server
}
