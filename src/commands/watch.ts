import {Args, Flags} from '@oclif/core'

import {ConnstormCommand} from '../cli/base-command.js'
import {withStopSignals} from '../cli/signals.js'
import {summariseWindow} from '../analysis/server-evidence.js'
import type {WatchFile} from '../results/format.js'
import {assertWritable} from '../results/write.js'
import {writeWatchFile} from '../watch/file.js'
import {DEFAULT_WATCH_DURATION, parseWatchOptions} from '../watch/options.js'
import {listenerChangeLine, secondLine, summaryLine} from '../watch/text.js'
import {watchListener} from '../watch/watch.js'

export default class Watch extends ConnstormCommand {
  static override summary = "Watch a listener on this host during someone else's storm: its accept queue, backlog, drops and the TCP counters"
  static override description = `Run it on the server's host (no root needed). Every --interval it reads the listener(s) on PORT over netlink — accept queue (Recv-Q), effective backlog (Send-Q) and the listener's own drops — and this network namespace's TCP counters and sysctls. On a terminal it prints a line per second; --out saves a watch file (wall-clock timestamps) for \`report --server-evidence\`. It stops after --duration or on Ctrl-C, SIGTERM or SIGHUP, saves what it saw and exits 0 (bad input: one line, exit 2). A port nobody listens on yet is watched until a listener appears.`

  static override examples = ['<%= config.bin %> watch 8088 --out server.json', '<%= config.bin %> watch 198.18.0.2:8088 --interval 10ms --duration 30s --out server.json']

  static override args = {
    port: Args.string({description: 'PORT, or ADDRESS:PORT to watch only the listener bound to that address ([v6addr]:PORT)', required: true}),
  }

  static override flags = {
    interval: Flags.string({summary: 'time between two reads, 10ms to 1s [default: 20ms]', helpValue: '<duration>'}),
    duration: Flags.string({summary: `stop after this long [default: ${DEFAULT_WATCH_DURATION}]`, helpValue: '<duration>'}),
    out: Flags.string({summary: 'save the watch file here (JSON, schema/watch-v1.schema.json); - is stdout', helpValue: '<file>'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Watch)
    const options = parseWatchOptions(args.port, flags)
    if (options.out !== undefined) assertWritable(options.out)
    const tty = process.stdout.isTTY === true
    const say = (line: string) => process.stderr.write(`${line}\n`)
    say(`watching port ${options.port}${options.host === undefined ? '' : ` on ${options.host}`} every ${options.intervalMs} ms for at most ${flags.duration ?? DEFAULT_WATCH_DURATION}; Ctrl-C stops`)
    // A stop signal is how a watch normally ends: the file is whole, so the exit is 0.
    const watch: WatchFile = await withStopSignals((stop) =>
      watchListener({
        ...options,
        signal: stop.signal,
        tool: {name: this.config.name, version: this.config.version},
        onListeners: (change, listeners) => say(listenerChangeLine(change, options.port, listeners)),
        ...(tty ? {onSecond: (second) => this.log(secondLine(second))} : {}),
      }),
    )
    if (options.out !== undefined) writeWatchFile(options.out, watch)
    say(summaryLine(summariseWindow(watch.samples, 0, watch.samples.length - 1), options.out))
  }
}
