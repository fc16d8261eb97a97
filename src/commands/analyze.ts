import {Args, Flags} from '@oclif/core'

import {diagnose, savedInputs} from '../analysis/diagnose.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {resolveServer, serverFlag} from '../cli/server-flag.js'
import {renderRunReport} from '../report/run-report.js'
import {renderSearchReport} from '../report/search-text.js'
import type {SearchFile} from '../results/search-format.js'
import {readSaved, sourceName} from '../results/read.js'
import {UsageError} from '../errors.js'
import {joinServerEvidence} from '../watch/evidence.js'
import type {StormResult} from '../results/format.js'

export default class Analyze extends ConnstormCommand {
  static override summary = 'Print the report and advice of a saved run (storm --out), exactly as the live run printed them; or the trace and answer of a saved search'
  static override description =
    'The analysis is a pure function of the result file, so the attribution, the verdict and the advice are the ones the live run printed. --server prints the backlog advice in another server\'s syntax.'

  static override examples = ['<%= config.bin %> analyze run.json', '<%= config.bin %> analyze run.json --server nginx', '<%= config.bin %> analyze run.json --json', '<%= config.bin %> storm --json --burst 50 | <%= config.bin %> analyze -']
  static override enableJsonFlag = true

  static override args = {
    file: Args.string({description: 'a result file written by storm --out; - reads it from stdin (storm --json | connstorm analyze -)', required: true}),
  }

  static override flags = {
    server: serverFlag(),
    'server-evidence': Flags.string({
      summary: "a watch file (connstorm watch --out) from the target's host, laid over this run by wall clock: the verdict and the advice then use its listener, drops and sysctls",
      helpValue: '<watch.json>',
    }),
  }

  async run(): Promise<SearchFile | StormResult> {
    const {args, flags} = await this.parse(Analyze)
    const server = resolveServer(flags.server)
    const file = await readSaved(args.file)
    if (file.kind === 'search' && flags['server-evidence'] !== undefined) throw new UsageError('--server-evidence: only with a saved run, not a search', 'INVALID_OPTION')
    if (file.kind === 'search') {
      // A saved search re-prints its trace and answer; each trial's storm is in the file as it ran.
      this.log(renderSearchReport(file.search))
      return file.search
    }
    const saved = joinServerEvidence(file.result, flags['server-evidence'], sourceName(args.file))
    const diagnosis = diagnose(saved, savedInputs(saved, server))
    this.log(renderRunReport(diagnosis))
    return diagnosis.result
  }
}
