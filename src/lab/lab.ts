import {Worker} from 'node:worker_threads'

import {UsageError} from '../errors.js'
import {effectiveBacklog, readSysctlInt} from '../kernel/sysctl.js'
import {formatAddress} from '../plan/target.js'
import {ACCEPTED, newControl, requestStop, signalGo} from './control.js'
import type {AcceptorData, AcceptorMessage} from './acceptor.js'
import type {LabOptions} from '../plan/lab-options.js'
import type {LabAcceptWait} from '../results/format.js'

export interface LabListening {
  address: string
  host: string
  port: number
  family: 4 | 6
  backlog: number
  /** min(backlog, net.core.somaxconn) read at listen time; null when somaxconn is unreadable */
  effectiveBacklog: number | null
  somaxconn: number | null
}

export type LabStopReason = 'signal' | 'max-duration' | 'parent-gone' | 'crashed'

export interface LabSummary extends LabListening {
  accepted: number
  /** the accept-queue wait the lab read at each accept() (acceptor.ts); null without the addon or when the acceptor did not report */
  acceptWait: LabAcceptWait | null
  durationMs: number
  stopReason: LabStopReason
}

export interface RunningLab {
  listening: LabListening
  /** resolves once the lab has stopped, for whatever reason */
  stopped: Promise<LabSummary>
  stop(reason: LabStopReason): void
  /** with stallFromGo: the storm is about to send its first connect; the stall starts now */
  go(): void
}

/** Starts the acceptor thread and resolves once it listens; the lab stops itself at maxDurationMs. */
export async function startLab(options: LabOptions, {stallFromGo = false} = {}): Promise<RunningLab> {
  const control = newControl()
  const somaxconn = readSysctlInt('net.core.somaxconn')
  const data: AcceptorData = {options, control, stallFromGo}
  const worker = new Worker(new URL('acceptor.js', import.meta.url), {workerData: data})
  const startedAt = Date.now()

  const listening = await new Promise<LabListening>((resolve, reject) => {
    worker.once('message', (message: AcceptorMessage) => {
      if (message.type === 'listen-error') {
        void worker.terminate()
        reject(new UsageError(listenErrorMessage(options, message.code)))
        return
      }
      // The first message is one of those two (acceptor.ts posts accept-wait only at stop).
      if (message.type !== 'listening') return
      resolve({
        address: formatAddress(message.host, message.port),
        host: message.host,
        port: message.port,
        family: message.family,
        backlog: options.backlog,
        effectiveBacklog: effectiveBacklog(options.backlog, somaxconn),
        somaxconn,
      })
    })
    worker.once('error', reject)
  })

  let stopReason: LabStopReason = 'signal'
  let resolveStopped: (summary: LabSummary) => void = () => {}
  const stopped = new Promise<LabSummary>((resolve) => {
    resolveStopped = resolve
  })
  const deadline = setTimeout(() => stop('max-duration'), options.maxDurationMs)
  let stopping = false
  let acceptedAtStop: number | undefined
  function stop(reason: LabStopReason): void {
    if (stopping) return
    stopping = true
    stopReason = reason
    clearTimeout(deadline)
    // Counted now: waking a stalled acceptor lets it drain the queue on its way out, and those
    // accepts happened after the stop, not during the stall the report describes.
    acceptedAtStop = Atomics.load(control, ACCEPTED)
    requestStop(control) // ends a stall now, so the acceptor can hear 'stop'
    worker.postMessage('stop')
    // If the acceptor does not exit promptly, end it: the lab must never outlive its deadline.
    const kill = setTimeout(() => void worker.terminate(), 1000)
    kill.unref()
  }
  let acceptWait: LabAcceptWait | null = null
  worker.on('message', (message: AcceptorMessage) => {
    if (message.type === 'accept-wait') acceptWait = message.acceptWait
  })
  worker.on('error', (error) => {
    process.stderr.write(`connstorm lab: the acceptor thread failed: ${error.message}\n`)
    stop('crashed')
  })
  worker.once('exit', () => {
    clearTimeout(deadline)
    const accepted = acceptedAtStop ?? Atomics.load(control, ACCEPTED)
    resolveStopped({...listening, accepted, acceptWait, durationMs: Date.now() - startedAt, stopReason})
  })
  return {listening, stopped, stop, go: () => signalGo(control)}
}

export function describeListening(listening: LabListening): string {
  const effective =
    listening.effectiveBacklog === null
      ? 'net.core.somaxconn unreadable, so the effective backlog is unknown'
      : `effective ${listening.effectiveBacklog} = min(${listening.backlog}, net.core.somaxconn ${listening.somaxconn}); the accept queue holds ${listening.effectiveBacklog + 1}`
  return `backlog ${listening.backlog} (${effective})`
}

function listenErrorMessage(options: LabOptions, code: string): string {
  const address = formatAddress(options.host, options.port)
  switch (code) {
    case 'EADDRNOTAVAIL': {
      return `--host: cannot listen on ${address} (EADDRNOTAVAIL): not an address of this machine`
    }
    case 'EADDRINUSE': {
      return `--port: cannot listen on ${address} (EADDRINUSE): the port is in use`
    }
    case 'EACCES': {
      return `--port: cannot listen on ${address} (EACCES): ports below 1024 need root`
    }
    default: {
      return `--host/--port: cannot listen on ${address} (${code})`
    }
  }
}
