/**
 * The entry of the lab a storm starts for itself (lab/process.ts): the lab of `connstorm lab
 * --json`, without oclif, watching its stdin (see supervise.ts) and stalling from the storm's "go". Its options arrive already checked, as one
 * JSON argument. Skipping oclif halves the lab's start-up (0.28 s of CPU instead of 0.52 s,
 * measured), which every storm against the built-in lab waits for.
 *
 * Protocol on stdout: first line, the listening address (LabListening as JSON); last line, the
 * summary (LabSummary as JSON). A refused setting: one line on stderr and exit 2.
 */
import {UsageError} from '../errors.js'
import type {LabOptions} from '../plan/lab-options.js'
import {startLab} from './lab.js'
import {superviseLab} from './supervise.js'

try {
  const options = JSON.parse(process.argv[2] ?? '') as LabOptions
  const lab = await startLab(options, {stallFromGo: true})
  process.stdout.write(`${JSON.stringify(lab.listening)}\n`)
  const summary = await superviseLab(lab, {watchStdin: true})
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  process.exitCode = summary.stopReason === 'crashed' ? 1 : 0
} catch (error) {
  if (!(error instanceof UsageError)) throw error
  process.stderr.write(`connstorm lab: ${error.message}\n`)
  process.exitCode = 2
}
