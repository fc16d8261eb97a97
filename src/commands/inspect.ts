import {Args} from '@oclif/core'

import {ConnstormCommand} from '../cli/base-command.js'
import {InvalidOptionError} from '../errors.js'
import type {Inspection} from '../results/format.js'
import {inspectPort} from '../run/inspection.js'
import {parseTarget, resolveTarget} from '../plan/target.js'
import {renderInspection} from '../report/inspect-text.js'

export default class Inspect extends ConnstormCommand {
  static override summary = "Show a port's listeners (effective backlog, accept queue), the TCP sysctls, the SYN retransmit ladder and the counters"
  static override description =
    'Reads this machine only (its network namespace): each listener over netlink sock_diag, as `ss -ltn` shows it (`ss` itself without the native addon; Send-Q is the backlog the kernel really uses, min(backlog, somaxconn) at listen() time; Recv-Q is the accept queue now), /proc/sys for the sysctls, /proc/net/netstat and /proc/net/snmp for the counters. A port with no listener is reported, not an error.'

  static override examples = ['<%= config.bin %> inspect 8080', '<%= config.bin %> inspect 127.0.0.1:8080 --json', '<%= config.bin %> inspect [::1]:8080']
  static override enableJsonFlag = true

  static override args = {
    target: Args.string({description: 'PORT, HOST:PORT or [v6addr]:PORT', required: true}),
  }

  async run(): Promise<Inspection> {
    const {args} = await this.parse(Inspect)
    const {host, port} = parsePortOrTarget(args.target)
    const address = host === undefined ? undefined : (await resolveTarget({host, port})).host
    const inspection = await inspectPort(port, address)
    this.log(renderInspection(inspection))
    return inspection
  }
}

function parsePortOrTarget(text: string): {host?: string; port: number} {
  if (/^\d+$/.test(text)) {
    const port = Number(text)
    if (port >= 1 && port <= 65_535) return {port}
    throw new InvalidOptionError('TARGET', text, 'PORT from 1 to 65535, HOST:PORT or [v6addr]:PORT')
  }
  return parseTarget(text)
}
