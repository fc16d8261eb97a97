import type {StormResult} from '../results/format.js'

/**
 * The exit codes, in one place. 1 means "the service did not meet a --threshold" (k6's
 * convention: the run itself worked); 2 a user's mistake; 128 + n the signal that stopped a run.
 */
export const EXIT = {ok: 0, thresholdFailed: 1, usage: 2, SIGINT: 130, SIGTERM: 143} as const

export type StopSignal = 'SIGINT' | 'SIGTERM'

/** How a finished run ends the process: a signal wins over thresholds (a partial run is no verdict). */
export function exitCodeOf(result: Pick<StormResult, 'stopReason'> & Partial<Pick<StormResult, 'thresholds'>>, stoppedBy: StopSignal): number {
  if (result.stopReason === 'interrupted') return EXIT[stoppedBy]
  if (result.thresholds?.some((threshold) => !threshold.held)) return EXIT.thresholdFailed
  return EXIT.ok
}
