import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {Args, Flags} from '@oclif/core'

import {diagnose, savedInputs} from '../analysis/diagnose.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {EXIT} from '../cli/exit-codes.js'
import {InvalidOptionError, UsageError} from '../errors.js'
import {INCIDENTS, findIncident} from '../incidents/catalog.js'
import {type SignatureCheck, checkSignature} from '../incidents/signature.js'
import {assertCanIsolate} from '../netns/isolate.js'
import {renderRunReport} from '../report/run-report.js'
import type {StormResult} from '../results/format.js'
import {forwardStopSignals} from '../signals.js'

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/** The incident's own words, printed beside connstorm's diagnosis of the run. */
export interface IncidentWords {
  name: string
  symptom: string
  cause: string
  expected: string
}

export default class Reproduce extends ConnstormCommand {
  static override summary = 'Reproduce a classic connection-timeout incident in a namespace of its own, and diagnose it'
  static override description =
    'Each incident sets up the lab and the kernel settings that cause it inside a fresh network namespace (root; see storm --isolate), storms it, and prints the report, the diagnosis and the advice between the incident’s symptom and cause and the diagnosis it is known for, then whether the run’s advice matches the incident’s (its signature). Nothing is left behind. Exit 3 when the signature does not match; otherwise the storm’s own code (130 on Ctrl-C …). --list shows every incident with its symptom.'

  static override examples = ['<%= config.bin %> reproduce --list', '<%= config.bin %> reproduce java-default-backlog', '<%= config.bin %> reproduce classic-ladder --json']
  static override enableJsonFlag = true

  static override args = {
    name: Args.string({description: 'the incident (see --list)', required: false}),
  }

  static override flags = {
    list: Flags.boolean({summary: 'list the incidents with their symptoms'}),
  }

  async run(): Promise<(StormResult & {incident: IncidentWords; signature: SignatureCheck}) | {incidents: {name: string; symptom: string; expected: string}[]}> {
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

    const storm = await runStorm(['storm', '--isolate', ...incident.args, '--json'])
    let {code} = storm
    const result = parseResult(storm.stdout)
    // No result: the storm said why on stderr (shared with ours); its exit code says the rest.
    if (result === null) {
      if (code === 0) throw new Error(`internal: the storm for ${incident.name} exited 0 without printing its result`)
      this.exit(code)
    }
    const words: IncidentWords = {name: incident.name, symptom: incident.symptom, cause: incident.cause, expected: incident.expected}
    this.log(`incident  ${incident.name}: ${incident.symptom}\ncause     ${incident.cause}\n`)
    this.log(renderRunReport(diagnose(result, savedInputs(result))))
    this.log(`\nexpected  ${incident.expected}`)
    const signature = checkSignature(incident.signature, result)
    this.log(`${signature.reproduced ? 'reproduced' : 'NOT reproduced'}: ${signature.lines.join('; ')}`)
    const reported = {...result, incident: words, signature}
    // An interrupted storm is no verdict either way: its own code wins.
    if (code === 0 && !signature.reproduced) code = EXIT.notReproduced
    if (code !== 0) {
      // A storm that ran and exits non-zero (interrupted 129/130/143, a failed threshold 99) keeps its code here too.
      if (this.jsonEnabled()) this.logJson(reported)
      this.exit(code)
    }
    return reported
  }
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
