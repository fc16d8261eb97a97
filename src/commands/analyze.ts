import {Args, Flags} from '@oclif/core'

import {adviceOptionsFor, recommend} from '../analysis/recommend.js'
import {SERVER_IDS, findServer} from '../analysis/servers.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {InvalidOptionError} from '../errors.js'
import {renderRunReport} from '../report/run-report.js'
import {readResultFile} from '../results/read.js'
import type {StormResult} from '../results/result.js'

export default class Analyze extends ConnstormCommand {
  static override summary = 'Print the report and advice of a saved run (storm --out), exactly as the live run printed them'
  static override description =
    'The analysis is a pure function of the result file, so the attribution, the verdict and the advice are the ones the live run printed. --server prints the backlog advice in another server\'s syntax.'

  static override examples = ['<%= config.bin %> analyze run.json', '<%= config.bin %> analyze run.json --server nginx', '<%= config.bin %> analyze run.json --json']
  static override enableJsonFlag = true

  static override args = {
    file: Args.string({description: 'a result file written by storm --out', required: true}),
  }

  static override flags = {
    server: Flags.string({summary: `print the backlog advice in this server's syntax: ${SERVER_IDS.join(', ')}`, helpValue: '<name>'}),
  }

  async run(): Promise<StormResult> {
    const {args, flags} = await this.parse(Analyze)
    const result = readResultFile(args.file)
    const serverId = flags.server ?? result.advice?.inputs.server ?? undefined
    const server = serverId === undefined ? undefined : findServer(serverId)
    if (serverId !== undefined && !server) throw new InvalidOptionError('--server', serverId, `one of ${SERVER_IDS.join(', ')}`)
    const advice = recommend(result, adviceOptionsFor(server, result.advice?.inputs.acceptStallMs ?? null))
    const {recommendations, ...summary} = advice
    const analyzed: StormResult = {...result, recommendations, advice: {...summary, inputs: {acceptStallMs: result.advice?.inputs.acceptStallMs ?? null, server: server?.id ?? null}}}
    this.log(renderRunReport(analyzed, advice, server?.name))
    return analyzed
  }
}
