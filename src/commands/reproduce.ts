import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {Args, Flags} from '@oclif/core'

import {diagnose, savedInputs} from '../analysis/diagnose.js'
import {alignServerEvidence, withServerEvidence} from '../analysis/server-evidence.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {EXIT} from '../cli/exit-codes.js'
import {InvalidOptionError, UsageError} from '../errors.js'
import {ALL_INCIDENTS, type RealServerIncident, findIncident, isRealServerIncident} from '../incidents/catalog.js'
import {type RealRun, assertCanRunTwoHosts, assertServerInstalled, runRealServerIncident} from '../incidents/real-run.js'
import {type AdviceSignature, type SignatureCheck, checkSignature, parseSignature} from '../incidents/signature.js'
import {assertCanIsolate} from '../netns/isolate.js'
import {createTwoHosts} from '../netns/topology.js'
import {renderRunReport} from '../report/run-report.js'
import type {StormResult} from '../results/format.js'
import {STOP_SIGNALS, forwardStopSignals} from '../signals.js'
import {startWatchProcess} from '../watch/process.js'

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/** The incident's own words, printed beside connstorm's diagnosis of the run. */
export interface IncidentWords {
  name: string
  symptom: string
  cause: string
  expected: string
}

/** What a real-server incident ran, beside its diagnosis. */
export type ServerRun = RealRun['server'] & {
  /** what the server's listener got (Send-Q, read by the watch on its host); null when never seen */
  effectiveBacklog: number | null
  /** lines of the server's own log about its backlog */
  log: string[]
}

type Reproduced = StormResult & {incident: IncidentWords; signature: SignatureCheck; server?: ServerRun}
type Listed = {name: string; symptom: string; expected: string; server?: {name: string; debianPackage: string; reproducedWith: string}}

export default class Reproduce extends ConnstormCommand {
  static override summary = 'Reproduce a classic connection-timeout incident in a namespace of its own, and diagnose it'
  static override description =
    'Each lab incident sets up the lab and the kernel settings that cause it inside a fresh network namespace (root; see storm --isolate); each real-server incident starts the server (a Debian package) in a server namespace with its sysctls, stops it accepting the way it really stalls, storms it from a client namespace and joins the watch of its port as the server’s evidence. Either way it prints the report, the diagnosis and the advice between the incident’s symptom and cause and the diagnosis it is known for, then whether the run’s advice matches the incident’s (its signature). Nothing is left behind. Exit 3 when the signature does not match; 2 when a real server is not installed (the line names its Debian package); otherwise the storm’s own code (130 on Ctrl-C …). --list shows every incident with its symptom, and its server.'

  static override examples = ['<%= config.bin %> reproduce --list', '<%= config.bin %> reproduce java-default-backlog', '<%= config.bin %> reproduce classic-ladder --json']
  static override enableJsonFlag = true

  static override args = {
    name: Args.string({description: 'the incident (see --list)', required: false}),
  }

  static override flags = {
    list: Flags.boolean({summary: 'list the incidents with their symptoms'}),
    // For the tests: a deliberately wrong expectation shows that a run which does not match exits 3.
    signature: Flags.string({hidden: true, multiple: true, description: 'replace the incident\'s signature: KNOB:CURRENT:PROPOSED (PROPOSED a value, higher or kept); repeatable'}),
  }

  async run(): Promise<Reproduced | {incidents: Listed[]}> {
    const {args, flags} = await this.parse(Reproduce)
    if (flags.list || args.name === undefined) {
      if (!flags.list) throw new UsageError('NAME: give an incident to reproduce, or --list to see them')
      const listed: Listed[] = []
      for (const incident of ALL_INCIDENTS) {
        const real = isRealServerIncident(incident) ? incident : null
        const server = real ? `\n  server:   ${real.server.name} (Debian package ${real.server.debianPackage}), in a namespace of its own; reproduced with ${real.reproducedWith}` : ''
        this.log(`${incident.name}\n  symptom:  ${incident.symptom}${server}\n  expected: ${incident.expected}${incident.longer ? `\n  takes longer: ${incident.longer}` : ''}\n`)
        listed.push({
          name: incident.name,
          symptom: incident.symptom,
          expected: incident.expected,
          ...(real ? {server: {name: real.server.name, debianPackage: real.server.debianPackage, reproducedWith: real.reproducedWith}} : {}),
        })
      }
      return {incidents: listed}
    }
    const incident = findIncident(args.name)
    if (!incident) throw new InvalidOptionError('NAME', args.name, `one of ${ALL_INCIDENTS.map((candidate) => candidate.name).join(', ')}`)
    const expectedSignature: readonly AdviceSignature[] = flags.signature === undefined ? incident.signature : flags.signature.map((text) => parseSignature(text))
    if (isRealServerIncident(incident)) {
      assertServerInstalled(incident)
      assertCanRunTwoHosts(incident)
    } else {
      assertCanIsolate()
    }

    let code: number
    let result: StormResult | null
    let server: ServerRun | undefined
    if (isRealServerIncident(incident)) {
      const real = await this.runReal(incident)
      ;({code, result, server} = real)
    } else {
      const storm = await runStorm(['storm', '--isolate', ...incident.args, '--json'])
      code = storm.code
      result = parseResult(storm.stdout)
    }
    // No result: the storm said why on stderr (shared with ours); its exit code says the rest.
    if (result === null) {
      if (code === 0) throw new Error(`internal: the storm for ${incident.name} exited 0 without printing its result`)
      this.exit(code)
    }
    const words: IncidentWords = {name: incident.name, symptom: incident.symptom, cause: incident.cause, expected: incident.expected}
    this.log(`incident  ${incident.name}: ${incident.symptom}\ncause     ${incident.cause}\n`)
    if (server !== undefined) this.log(`${serverLines(server).join('\n')}\n`)
    const diagnosis = diagnose(result, savedInputs(result))
    // The server's side, when watched, is part of the run report (before the advice).
    this.log(renderRunReport(diagnosis))
    if (server !== undefined) this.log(`\n${effectiveBacklogLine(server)}`)
    this.log(`\nexpected  ${incident.expected}`)
    const signature = checkSignature(expectedSignature, diagnosis.result)
    this.log(`${signature.reproduced ? 'reproduced' : 'NOT reproduced'}: ${signature.lines.join('; ')}`)
    const reported: Reproduced = {...diagnosis.result, incident: words, signature, ...(server ? {server} : {})}
    // An interrupted storm is no verdict either way: its own code wins.
    if (code === 0 && !signature.reproduced) code = EXIT.notReproduced
    if (code !== 0) {
      // A storm that ran and exits non-zero (interrupted 129/130/143, a failed threshold 99) keeps its code here too.
      if (this.jsonEnabled()) this.logJson(reported)
      this.exit(code)
    }
    return reported
  }

  /**
   * Two hosts on one machine: the server in one namespace with the incident's sysctls, the storm
   * in the other, the watch of the server's port joined to the storm's result as the server's
   * evidence (its real listener, drops and sysctls: docs/kernel.md §14).
   */
  private async runReal(incident: RealServerIncident): Promise<{code: number; result: StormResult | null; server: ServerRun}> {
    const abort = new AbortController()
    let stoppedBy: NodeJS.Signals | undefined
    const handlers = STOP_SIGNALS.map((name) => [name, () => {
      stoppedBy ??= name
      abort.abort(name)
    }] as const)
    for (const [name, handler] of handlers) process.on(name, handler)
    let run: RealRun
    try {
      run = await runRealServerIncident(incident, {createHosts: () => createTwoHosts(), startWatch: startWatchProcess, runJs: RUN_JS, signal: abort.signal})
    } finally {
      for (const [name, handler] of handlers) process.off(name, handler)
    }
    let result = parseResult(run.stdout)
    if (result !== null && run.watch !== null) {
      result = withServerEvidence(result, alignServerEvidence(result, run.watch, {storm: `the storm of ${incident.name}`, watch: `of ${incident.server.name}'s port`}))
    }
    const code = stoppedBy === undefined ? run.code : EXIT[stoppedBy as keyof typeof EXIT] ?? run.code
    const effectiveBacklog = result?.kernel?.serverEvidence?.listener.effectiveBacklog ?? null
    return {code, result, server: {...run.server, effectiveBacklog, log: run.logLines}}
  }
}

function serverLines(server: ServerRun): string[] {
  const lines = [
    `server    ${server.name} ${server.version} (Debian package ${server.debianPackage}) in the server's namespace: ${server.config}`,
    `          asks listen() for ${server.askedBacklog}${server.sysctls.length > 0 ? `; sysctls there: ${server.sysctls.join(', ')}` : ''}`,
    `stall     ${server.stall}`,
  ]
  for (const line of server.log) lines.push(`log       ${line}`)
  return lines
}

/** The server's real effective backlog: what it asked for against what its listener got. */
function effectiveBacklogLine(server: ServerRun): string {
  const asked = server.askedBacklog.split(' ')[0]!
  const got = server.effectiveBacklog === null ? 'unknown (the watch saw no listener)' : String(server.effectiveBacklog)
  const capped = server.effectiveBacklog !== null && server.effectiveBacklog < Number(asked) ? ' (capped by net.core.somaxconn at listen())' : ''
  return `backlog   ${server.name} asked listen() for ${asked}; its listener got ${got}${capped} (Send-Q, read by connstorm watch on the server's host)`
}

function parseResult(stdout: string): StormResult | null {
  if (stdout.trim() === '') return null
  try {
    const parsed = JSON.parse(stdout) as StormResult | {error: unknown}
    // Under --json a refusal is {"error": {…}} on stdout (cli/base-command.ts): no result.
    return 'schemaVersion' in parsed ? parsed : null
  } catch {
    return null
  }
}

/** Runs `connstorm storm …` as a child; Ctrl-C reaches it (same process group) and it prints its partial report. */
function runStorm(args: string[]): Promise<{code: number; stdout: string}> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN_JS, ...args], {stdio: ['ignore', 'pipe', 'inherit']})
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    void forwardStopSignals(child).then((code) => resolve({code, stdout}))
  })
}
