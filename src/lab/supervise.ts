import {STOP_SIGNALS} from '../signals.js'
import type {LabStopReason, LabSummary, RunningLab} from './lab.js'

/**
 * Keeps a started lab until it stops: on SIGINT/SIGTERM/SIGHUP, at its --max-duration, or — for a lab
 * started by a storm (`watchStdin`) — when the storm's end of stdin closes, so the lab never
 * outlives the storm even if the storm is SIGKILLed. A "go" line on stdin starts its stall
 * (the storm sends it right before its first connect). Resolves with the lab's summary.
 */
export async function superviseLab(lab: RunningLab, {watchStdin}: {watchStdin: boolean}): Promise<LabSummary> {
  const stopOn = (reason: LabStopReason) => () => lab.stop(reason)
  const onSignal = stopOn('signal')
  for (const signal of STOP_SIGNALS) process.once(signal, onSignal)
  if (watchStdin) {
    process.stdin.once('end', stopOn('parent-gone')).once('close', stopOn('parent-gone'))
    process.stdin.setEncoding('utf8').on('data', (line: string) => {
      if (line.includes('go')) lab.go()
    })
  }
  const summary = await lab.stopped
  for (const signal of STOP_SIGNALS) process.off(signal, onSignal)
  process.stdin.destroy()
  return summary
}
