import type {ChildProcess} from 'node:child_process'
import {constants} from 'node:os'

/**
 * The signals that stop a run with its partial report, and the exit code each gives (128 + n,
 * the shell's convention). SIGHUP is the terminal closing or an ssh session dropping: a storm
 * started there still owes its report (stderr may be gone, --out is not).
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export type StopSignal = (typeof STOP_SIGNALS)[number]

export const SIGNAL_EXIT_CODE: Readonly<Record<StopSignal, number>> = {SIGHUP: 129, SIGINT: 130, SIGTERM: 143}

/**
 * Passes every stop signal this process receives on to `child` (a storm we started, e.g. inside a
 * namespace), and resolves with the child's exit code once it has exited and closed its output: its own code, or 128 + n when
 * a signal ended it. A child that could not be started resolves with 1.
 */
export async function forwardStopSignals(child: ChildProcess): Promise<number> {
  const handlers = STOP_SIGNALS.map((signal) => [signal, () => child.kill(signal)] as const)
  for (const [signal, handler] of handlers) process.on(signal, handler)
  try {
    return await new Promise<number>((resolve) => {
      child.once('error', () => resolve(1))
      // 'close', not 'exit': a caller reading the child's stdout has all of it by then.
      child.once('close', (code, signal) => resolve(code ?? exitCodeOfSignal(signal)))
    })
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler)
  }
}

/** 128 + the signal's number, as a shell reports a process a signal ended. */
export function exitCodeOfSignal(signal: NodeJS.Signals | null): number {
  return 128 + (signal === null ? 0 : constants.signals[signal])
}
