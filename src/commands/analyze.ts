import {Args} from '@oclif/core'

import {diagnose, savedInputs} from '../analysis/diagnose.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {resolveServer, serverFlag} from '../cli/server-flag.js'
import {renderRunReport} from '../report/run-report.js'
import {renderSearchReport} from '../report/search-text.js'
import type {SearchFile} from '../results/search-format.js'
import {readSaved} from '../results/read.js'
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
  }

  async run(): Promise<SearchFile | StormResult> {
    const {args, flags} = await this.parse(Analyze)
    const server = resolveServer(flags.server)
    const file = await readSaved(args.file)
    if (file.kind === 'search') {
      // A saved search re-prints its trace and answer; each trial's storm is in the file as it ran.
      this.log(renderSearchReport(file.search))
      return file.search
    }
    const saved = file.result
    const diagnosis = diagnose(saved, savedInputs(saved, server))
    this.log(renderRunReport(diagnosis))
    return diagnosis.result
  }
}
