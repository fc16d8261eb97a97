import {alignServerEvidence, serverQueueTimeline, withServerEvidence} from '../analysis/server-evidence.js'
import type {Measurement} from '../results/format.js'
import {readWatchFile} from './file.js'

/**
 * `--server-evidence WATCH.json` on a saved run: the watch file read and checked, laid over the
 * run's window by wall clock, and joined to the measurement before it is diagnosed. Without the
 * flag the measurement is returned as it is. Bad files and windows that do not overlap: one line, exit 2.
 */
export function joinServerEvidence<M extends Measurement>(measurement: M, watchFile: string | undefined, resultName: string): M {
  if (watchFile === undefined) return measurement
  const watch = readWatchFile(watchFile)
  return withServerEvidence(measurement, alignServerEvidence(measurement, watch, {storm: resultName, watch: `'${watchFile}'`}), serverQueueTimeline(measurement, watch))
}
