import {Flags} from '@oclif/core'

import {ConnstormCommand} from '../cli/base-command.js'
import {labFlags} from '../cli/lab-flags.js'
import {type LabSummary, describeListening, startLab} from '../lab/lab.js'
import {superviseLab} from '../lab/supervise.js'
import {parseLabOptions} from '../plan/lab-options.js'

export default class Lab extends ConnstormCommand {
  static override summary = 'Run the built-in misbehaving target: a listener that stalls, rate-limits or drops its accepts'
  static override description = `Listens on loopback (by default) with the backlog you give and refuses to accept() for as long as you say, so the kernel's accept queue fills exactly as it does behind a stalled server. The first stdout line is "listening HOST:PORT" (with --json: a JSON object with the address). It runs in its own process, always exits by itself after --max-duration, and exits cleanly on SIGINT/SIGTERM.`

  static override examples = [
    '<%= config.bin %> lab --port 0 --backlog 8 --stall 2.5s',
    '<%= config.bin %> lab --port 9000 --backlog 128 --stall-every 5s --stall-for 300ms',
    '<%= config.bin %> lab --port 9000 --accept-rate 200 --on-accept hold',
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...labFlags('', {backlog: '511', stall: '0'}),
    port: Flags.string({summary: 'port to listen on; 0 picks a free one [default: 0]', helpValue: '<port>'}),
    'max-duration': Flags.string({summary: 'exit by itself after this long [default: 10m]', helpValue: '<duration>'}),
  }

  async run(): Promise<LabSummary> {
    const {flags} = await this.parse(Lab)
    const options = parseLabOptions(flags)
    const lab = await startLab(options)
    const {listening} = lab
    if (this.jsonEnabled()) {
      process.stdout.write(`${JSON.stringify(listening)}\n`)
    } else {
      this.log(`listening ${listening.address}`)
      this.log(describeListening(listening))
    }

    const summary = await superviseLab(lab, {watchStdin: false})
    this.log(`stopped (${summary.stopReason}) after ${(summary.durationMs / 1000).toFixed(1)} s; accepted ${summary.accepted} connections`)
    if (summary.stopReason === 'crashed') {
      if (this.jsonEnabled()) this.logJson(summary)
      this.exit(1)
    }
    return summary
  }
}
