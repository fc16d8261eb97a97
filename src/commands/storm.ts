import {Args} from '@oclif/core'

import {ConnstormCommand} from '../cli/base-command.js'
import {exitCodeOf} from '../cli/exit-codes.js'
import {withStopSignals} from '../cli/signals.js'
import {STORM_FLAGS} from '../cli/storm-flags.js'
import {parseStormOptions} from '../cli/storm-options.js'
import {InterruptedBeforeStartError} from '../errors.js'
import {assertCanIsolate, runIsolated} from '../netns/isolate.js'
import type {LiveProgress as Progress} from '../report/progress.js'
import type {StormResult} from '../results/format.js'

export default class Storm extends ConnstormCommand {
  static override summary = 'Fire a burst, a rate or waves of TCP connects and report how long each took'
  static override description = `Each connect is timed from its intended start (coordinated-omission safe) and from its actual start, into HDR histograms; every connect ends as exactly one outcome (connected, timeout, refused, reset, addrNotAvail, fileLimit, unreachable, other). Without TARGET, connstorm starts its built-in lab target (backlog 8, no accept() for the first 1.5 s), storms it, and stops it.

The default --timeout is 15 s so that connects delayed by SYN retransmits (the kernel retries a dropped SYN after 1 s, then on a ladder: 1, 2, 3, 4, 5, 7, 11 s with Linux ≥ 6.5 defaults) are seen rather than cut off. Ctrl-C prints the partial report and exits 130 (SIGTERM 143, SIGHUP 129).

Exit codes: 0 ok; 1 an unexpected error (a bug in connstorm or a broken install); 2 bad input (one line, before any traffic); 99 a --threshold failed; 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM, with the partial report.`

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

  static override flags = STORM_FLAGS

  async run(): Promise<StormResult> {
    const {args, flags} = await this.parse(Storm)
    const options = parseStormOptions(args.target, flags)
    if (options.isolate) {
      assertCanIsolate()
      this.exit(await runIsolated(this.argv))
    }
    // Imported here, not at the top: a usage error or the --isolate re-run above (which only
    // starts the storm again inside the namespace) never loads the engine, the analysis and the
    // reports, a third of the CLI's start-up.
    const [{runStorm}, {renderRunReport}, {writeResultFile}, {LiveProgress}] = await Promise.all([
      import('../run/storm.js'),
      import('../report/run-report.js'),
      import('../results/write.js'),
      import('../report/progress.js'),
    ])
    return withStopSignals(async (stop) => {
      const progress = LiveProgress.wanted({json: this.jsonEnabled(), quiet: options.quiet}) ? new LiveProgress() : undefined
      const onStart = progress && ((live: Parameters<Progress['start']>[0], ladder: Parameters<Progress['start']>[1]) => progress.start(live, ladder, options.plan.connects))
      const diagnosis = await runStorm(options, {signal: stop.signal, tool: {name: this.config.name, version: this.config.version}, ...(onStart ? {onStart} : {})})
        .catch((error: unknown) => {
          if (!(error instanceof InterruptedBeforeStartError)) throw error
          process.stderr.write(`connstorm storm: ${error.message}\n`)
          return this.exit(exitCodeOf({stopReason: 'interrupted'}, stop.stoppedBy))
        })
        .finally(() => progress?.stop())
      const {result} = diagnosis
      if (options.out !== undefined) writeResultFile(options.out, result)
      if (!this.jsonEnabled()) this.log(renderRunReport(diagnosis))
      const code = exitCodeOf(result, stop.stoppedBy)
      if (code !== 0) {
        if (this.jsonEnabled()) this.logJson(result)
        this.exit(code)
      }
      return result
    })
  }
}
