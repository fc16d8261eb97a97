import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {Args, Flags} from '@oclif/core'

import {diagnose, savedInputs} from '../analysis/diagnose.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {InvalidOptionError, UsageError} from '../errors.js'
import {INCIDENTS, findIncident} from '../incidents/catalog.js'
import {assertCanIsolate} from '../netns/isolate.js'
import {renderRunReport} from '../report/run-report.js'
import type {StormResult} from '../results/format.js'

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface IncidentOutcome {
  name: string
  symptom: string
  expected: string
  matched: boolean
  mismatches: string[]
}

export default class Reproduce extends ConnstormCommand {
  static override summary = 'Reproduce a classic connection-timeout incident in a namespace of its own, and diagnose it'
  static override description =
    'Each incident sets up the lab and the kernel settings that cause it inside a fresh network namespace (root; see storm --isolate), storms it, prints the report, the diagnosis and the advice, and checks the diagnosis against the one written next to the incident. Nothing is left behind. --list shows every incident with its symptom.'

  static override examples = ['<%= config.bin %> reproduce --list', '<%= config.bin %> reproduce java-default-backlog', '<%= config.bin %> reproduce classic-ladder --json']
  static override enableJsonFlag = true

  static override args = {
    name: Args.string({description: 'the incident (see --list)', required: false}),
  }

  static override flags = {
    list: Flags.boolean({summary: 'list the incidents with their symptoms'}),
  }

  async run(): Promise<(StormResult & {incident: IncidentOutcome}) | {incidents: {name: string; symptom: string; expected: string}[]}> {
    const {args, flags} = await this.parse(Reproduce)
    if (flags.list || args.name === undefined) {
      if (!flags.list) throw new UsageError('NAME: give an incident to reproduce, or --list to see them')
      for (const incident of INCIDENTS) {
        this.log(`${incident.name}\n  symptom:  ${incident.symptom}\n  expected: ${incident.expected}${incident.longer ? `\n  takes longer: ${incident.longer}` : ''}\n`)
      }
      return {incidents: INCIDENTS.map(({name, symptom, expected}) => ({name, symptom, expected}))}
    }
    const incident = findIncident(args.name)
    if (!incident) throw new InvalidOptionError('NAME', args.name, `one of ${INCIDENTS.map((candidate) => candidate.name).join(', ')}`)
    assertCanIsolate()

    const {code, stdout} = await runStorm(['storm', '--isolate', ...incident.args, '--json'])
    if (code === 130 || code === 143) this.exit(code)
    if (code !== 0 && code !== 1) throw new Error(`the storm for ${incident.name} failed (exit ${code})`)
    const result = JSON.parse(stdout) as StormResult
    const mismatches = incident.check(result)
    const outcome: IncidentOutcome = {name: incident.name, symptom: incident.symptom, expected: incident.expected, matched: mismatches.length === 0, mismatches}
    this.log(`incident  ${incident.name}: ${incident.symptom}\ncause     ${incident.cause}\n`)
    this.log(renderRunReport(diagnose(result, savedInputs(result))))
    this.log(`\nexpected  ${incident.expected}`)
    this.log(outcome.matched ? 'diagnosis MATCHED' : `diagnosis DID NOT MATCH: ${mismatches.join('; ')}`)
    const reported = {...result, incident: outcome}
    if (!outcome.matched) {
      if (this.jsonEnabled()) this.logJson(reported)
      this.exit(1)
    }
    return reported
  }
}

/** Runs `connstorm storm …` as a child; Ctrl-C reaches it (same process group) and it prints its partial report. */
function runStorm(args: string[]): Promise<{code: number; stdout: string}> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN_JS, ...args], {stdio: ['ignore', 'pipe', 'inherit']})
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
    const onSigint = forward('SIGINT')
    const onSigterm = forward('SIGTERM')
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)
    child.once('close', (code, signal) => {
      process.off('SIGINT', onSigint)
      process.off('SIGTERM', onSigterm)
      resolve({code: code ?? (signal === 'SIGINT' ? 130 : 143), stdout})
    })
  })
}
