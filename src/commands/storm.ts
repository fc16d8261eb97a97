import {Args, Flags} from '@oclif/core'

import {ConnstormCommand} from '../cli/base-command.js'
import {labFlags} from '../cli/lab-flags.js'
import {UsageError} from '../errors.js'
import {type StormSession, runStormSession} from '../engine/session.js'
import type {LabListening} from '../lab/lab.js'
import {type LabOptions, parseLabOptions, pickPrefixedLabFlags} from '../lab/options.js'
import {assertCanIsolate, parseSysctlOverrides, prepareIsolatedNamespace, runIsolated} from '../netns/isolate.js'
import {type LabProcess, startLabProcess} from '../lab/process.js'
import {DEFAULT_BURST, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS, type PlanFlags, buildPlan} from '../plan/plan.js'
import {type ResolvedTarget, parseTarget, resolveTarget} from '../plan/target.js'
import {renderTextReport} from '../report/text.js'
import {type LabInfo, type StormResult, buildResult} from '../results/result.js'
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
    isolate: Flags.boolean({
      summary: 'root: run the lab and the storm in a network namespace of their own (clean counters; removed with the run)',
    }),
    sysctl: Flags.string({
      summary: 'with --isolate: set a TCP sysctl inside that namespace only, e.g. net.ipv4.tcp_syn_linear_timeouts=0 (repeatable)',
      helpValue: '<key=value>',
      multiple: true,
    }),
    'isolated-netns': Flags.string({hidden: true, description: 'set by --isolate on the storm it runs inside the new namespace'}),
    ...labFlags('lab-', {backlog: String(DEFAULT_LAB.backlog), stall: `${DEFAULT_LAB.stallMs / 1000}s`}),
  }

  async run(): Promise<StormResult> {
    const {args, flags} = await this.parse(Storm)
    const plan = buildPlan(flags as PlanFlags)
    const labFlagValues = pickPrefixedLabFlags(flags)
    const overrides = parseSysctlOverrides(flags.sysctl ?? [])
    if (flags.out !== undefined) assertWritable(flags.out)
    if (args.target !== undefined) {
      const given = Object.keys(labFlagValues)
      if (given.length > 0) throw new UsageError(`--lab-${given[0]}: the lab flags only apply when no TARGET is given (the storm then starts the lab)`)
      if (flags.isolate) throw new UsageError('--isolate: only with the built-in lab (no TARGET): the new namespace holds nothing but its own loopback')
    }
    const labOptions =
      args.target === undefined
        ? parseLabOptions(labFlagValues, '--lab-', {...DEFAULT_LAB, maxDurationMs: plan.maxDurationMs + LAB_DEADLINE_SLACK_MS})
        : undefined

    if (flags.isolate) {
      assertCanIsolate()
      this.exit(await runIsolated(this.argv))
    }
    const insideNetns = flags['isolated-netns']
    if (overrides.length > 0 && insideNetns === undefined) {
      throw new UsageError('--sysctl: only with --isolate (connstorm never changes the sysctls of the namespace it was started in)')
    }
    if (insideNetns !== undefined) prepareIsolatedNamespace(insideNetns, overrides)
    const target = args.target === undefined ? undefined : await resolveTarget(parseTarget(args.target))

    // Listen for Ctrl-C before anything starts, so that even a stop during lab start-up is orderly.
    const abort = new AbortController()
    let signalName: keyof typeof EXIT_ON_SIGNAL | undefined
    const onSignal = (name: keyof typeof EXIT_ON_SIGNAL) => () => {
      signalName ??= name
      abort.abort()
    }
    const onSigint = onSignal('SIGINT')
    const onSigterm = onSignal('SIGTERM')
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)

    let lab: LabProcess | undefined
    let session: StormSession
    let labInfo: LabInfo | undefined
    try {
      if (labOptions) {
        try {
          lab = await startLabProcess(labOptions, abort.signal)
        } catch (error) {
          if (!abort.signal.aborted) throw error
          process.stderr.write('connstorm storm: interrupted while the lab was starting; nothing was measured\n')
          this.exit(EXIT_ON_SIGNAL[signalName ?? 'SIGINT'])
        }
      }
      const stormTarget = target ?? targetOfLab(lab!)
      session = await runStormSession({plan, target: stormTarget, isolatedNetns: insideNetns !== undefined, signal: abort.signal})
      const labReport = await lab?.stop()
      if (lab && labOptions) labInfo = describeLabRun(labOptions, lab.listening, labReport ?? null)
      const result = buildResult(session.run, {
        tool: {name: this.config.name, version: this.config.version},
        target: stormTarget,
        plan,
        lab: labInfo,
        kernel: session.kernel,
      })
      if (flags.out !== undefined) writeFileAtomic(flags.out, `${JSON.stringify(result, null, 2)}\n`)
      if (!this.jsonEnabled()) this.log(renderTextReport(result))
      if (result.stopReason === 'interrupted') {
        if (this.jsonEnabled()) this.logJson(result)
        this.exit(EXIT_ON_SIGNAL[signalName ?? 'SIGINT'])
      }
      return result
    } finally {
      await lab?.stop()
      process.off('SIGINT', onSigint)
      process.off('SIGTERM', onSigterm)
    }
  }
}

function targetOfLab(lab: LabProcess): ResolvedTarget {
  const {address, host, port, family} = lab.listening
  return {requested: address, host, port, family}
}

function describeLabRun(options: LabOptions, listening: LabListening, report: {accepted: number} | null): LabInfo {
  return {
    backlog: options.backlog,
    effectiveBacklog: listening.effectiveBacklog,
    somaxconn: listening.somaxconn,
    stallMs: options.stallMs,
    stallEveryMs: options.stallEveryMs,
    stallForMs: options.stallForMs,
    acceptRate: options.acceptRate,
    onAccept: options.onAccept,
    accepted: report?.accepted ?? null,
  }
}
