import type {StormResult} from '../results/format.js'
import {SIGNAL_EXIT_CODE, type StopSignal} from '../signals.js'

/**
 * The exit codes, in one place (the table is in the README and in `storm --help`):
 *   0 ok · 1 an unexpected error (a bug in connstorm or a broken install: oclif's default) ·
 *   2 bad input · 3 `reproduce`: the incident did not show its signature ·
 *   4 `report --push`: the metrics were not delivered ·
 *   99 a --threshold failed (k6's code for the same: the run worked, the service did not meet it) ·
 *   129 / 130 / 143 stopped by SIGHUP / SIGINT / SIGTERM, with the partial report.
 * A CI job can tell a slow service (99) from a broken tool (1) from a wrong command line (2).
 */
export const EXIT = {ok: 0, unexpected: 1, usage: 2, notReproduced: 3, pushFailed: 4, thresholdFailed: 99, ...SIGNAL_EXIT_CODE} as const

export type {StopSignal} from '../signals.js'

/** How a finished run ends the process: a signal wins over thresholds (a partial run is no verdict). */
export function exitCodeOf(result: Pick<StormResult, 'stopReason'> & Partial<Pick<StormResult, 'thresholds'>>, stoppedBy: StopSignal): number {
  if (result.stopReason === 'interrupted') return EXIT[stoppedBy]
  if (result.thresholds?.some((threshold) => !threshold.held)) return EXIT.thresholdFailed
  return EXIT.ok
}
