import {STOP_SIGNALS, type StopSignal} from '../signals.js'

/**
 * Ctrl-C, SIGTERM and SIGHUP become an abort of the run, listened for before anything starts so that
 * even a stop during lab start-up is orderly; `stoppedBy` names the first signal that came.
 */
export class StopSignals {
  private readonly controller = new AbortController()
  private first: StopSignal = 'SIGINT'
  private readonly handlers = new Map<StopSignal, () => void>()

  constructor() {
    for (const name of STOP_SIGNALS) {
      const handler = () => {
        if (!this.controller.signal.aborted) this.first = name
        this.controller.abort()
      }
      this.handlers.set(name, handler)
      process.on(name, handler)
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  get stoppedBy(): StopSignal {
    return this.first
  }

  dispose(): void {
    for (const [name, handler] of this.handlers) process.off(name, handler)
  }
}

/** Runs `work` with the stop signals listened for, and stops listening however it ends. */
export async function withStopSignals<T>(work: (stop: StopSignals) => Promise<T>): Promise<T> {
  const stop = new StopSignals()
  try {
    return await work(stop)
  } finally {
    stop.dispose()
  }
}
