/**
 * The lab's acceptor thread: owns the listening socket. It refuses to accept() by blocking its own
 * event loop (docs/kernel.md §7: a Node listener accepts only when its loop runs), which leaves the
 * kernel's accept queue to fill, exactly as a stalled server does.
 */
import {readSync} from 'node:fs'
import {type Server, type Socket, createServer} from 'node:net'
import {performance} from 'node:perf_hooks'
import {parentPort, workerData} from 'node:worker_threads'

import {ACCEPTED, blockThread, waitForGo} from './control.js'
import {tcpInfoReader} from '../native/addon.js'
import type {LabOptions} from '../plan/lab-options.js'
import type {LabAcceptWait} from '../results/format.js'
import {encodeHistogram, newLatencyHistogram} from '../results/histogram.js'

export interface AcceptorData {
  options: LabOptions
  control: Int32Array
  /**
   * Started by a storm: accept nothing until it is about to send its first connect, and count the
   * stall from then. A stall counted from listen() would shrink by the storm's own set-up (warm-up,
   * the queue sampler, tc), 0.1–2.6 s on a loaded machine, and move the step connects land on.
   */
  stallFromGo: boolean
}

/** Messages from the acceptor to the main thread. */
export type AcceptorMessage =
  | {type: 'listening'; host: string; port: number; family: 4 | 6}
  | {type: 'listen-error'; code: string; message: string}
  /** at stop: what the lab measured of its accept-queue wait (null without the addon) */
  | {type: 'accept-wait'; acceptWait: LabAcceptWait | null}

const {options, control, stallFromGo} = workerData as AcceptorData
const held = new Set<Socket>()
const acceptGapMs = options.acceptRate === null ? 0 : 1000 / options.acceptRate

/** What the lab says first in banner mode, and answers in http mode. */
const BANNER = 'connstorm-lab ready\r\n'
const HTTP_RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n'

/**
 * With --accept-rate, the earliest moment of the next accept. An accept up to CATCH_UP_MS after its
 * target moves the target one gap on from the previous one, not from the accept, so a thread woken
 * late (a loaded machine wakes Atomics.wait ~0.1–1 ms late) catches up and the average rate stays
 * the one asked; a later accept (the queue was empty) starts the schedule afresh, so an idle spell
 * never banks a burst.
 */
let nextAcceptAt = 0
const CATCH_UP_MS = 10

/**
 * The accept-queue wait of every accepted connection, read before anything else the lab does with
 * it: tcpi_last_ack_recv, ms since the handshake's last ACK (docs/kernel.md §10); and its
 * tcpi_total_rto, the SYN-ACKs the kernel retransmitted for it (Linux ≥ 6.7). Constant memory.
 */
const acceptWaits = newLatencyHistogram()
let acceptWaitsMeasured = 0
const synAckRetransmits: Record<string, number> = {}
let synAckRetransmitsKnown = true

function measureAcceptWait(socket: Socket): void {
  if (tcpInfoReader === null) return
  const fd = (socket as unknown as {_handle?: {fd?: number} | null})._handle?.fd
  if (typeof fd !== 'number' || fd < 0) return
  const info = tcpInfoReader.tcpInfo(fd)
  const waitedMs = info?.lastAckRecvMs
  if (info === null || typeof waitedMs !== 'number') return
  acceptWaitsMeasured++
  // The histogram's floor is 1 µs: a 0 ms wait is kept as 1 µs, still below the first ms step.
  acceptWaits.recordValue(Math.max(1, waitedMs * 1000))
  if (info.totalRto === null) synAckRetransmitsKnown = false
  else synAckRetransmits[info.totalRto] = (synAckRetransmits[info.totalRto] ?? 0) + 1
}

function acceptWaitReport(): LabAcceptWait | null {
  if (tcpInfoReader === null) return null
  return {measured: acceptWaitsMeasured, histogramUs: encodeHistogram(acceptWaits), synAckRetransmits: synAckRetransmitsKnown ? synAckRetransmits : null}
}

const server: Server = createServer((socket) => {
  const acceptedAt = performance.now()
  measureAcceptWait(socket)
  Atomics.add(control, ACCEPTED, 1)
  socket.on('error', ignore)
  // The application's work on this connection: nothing else is accepted meanwhile (one thread).
  blockThread(control, options.handlerDelayMs)
  handleAccepted(socket)
  // One accept per callback (libuv), so blocking here caps the accept rate (docs/kernel.md §7).
  if (acceptGapMs > 0) {
    nextAcceptAt = (acceptedAt - nextAcceptAt < CATCH_UP_MS ? nextAcceptAt : acceptedAt) + acceptGapMs
    blockThread(control, nextAcceptAt - performance.now())
  }
})

function handleAccepted(socket: Socket): void {
  switch (options.onAccept) {
    case 'close': {
      socket.destroy()
      break
    }
    case 'rst': {
      socket.resetAndDestroy()
      break
    }
    case 'hold': {
      keep(socket)
      break
    }
    case 'echo': {
      keep(socket)
      socket.on('data', (chunk) => socket.write(chunk))
      echoWhatArrived(socket)
      break
    }
    case 'banner': {
      keep(socket)
      socket.write(BANNER)
      break
    }
    case 'http': {
      keep(socket)
      let request = ''
      socket.on('data', (chunk) => {
        request += chunk.toString('latin1')
        if (request.includes('\r\n\r\n')) socket.end(HTTP_RESPONSE)
      })
      break
    }
  }
}

/**
 * Echoes at once what the client sent before the lab accepted it. Left to the 'data' handler, the
 * reply would wait until libuv's accept loop had emptied the queue (it accepts while accept()
 * succeeds, docs/kernel.md §7), so with --handler-delay every queued connection would be answered
 * only after the last one's handler, not after its own: the client's first byte would no longer
 * tell its accept wait. A write to a fresh socket leaves at once (libuv tries it synchronously);
 * the read is a plain non-blocking read(2) of the accepted descriptor (EAGAIN: nothing came yet,
 * and the 'data' handler answers what comes).
 */
function echoWhatArrived(socket: Socket): void {
  const fd = (socket as unknown as {_handle?: {fd?: number} | null})._handle?.fd
  if (typeof fd !== 'number' || fd < 0) return
  try {
    const length = readSync(fd, echoBuffer, 0, echoBuffer.length, null)
    if (length > 0) socket.write(Buffer.from(echoBuffer.subarray(0, length)))
  } catch {
    // EAGAIN (nothing yet) or a reset connection: the 'data' and 'error' handlers take it from here.
  }
}

const echoBuffer = Buffer.alloc(64 * 1024)

/** Connections the lab keeps open until the client closes them or the lab stops. */
function keep(socket: Socket): void {
  held.add(socket)
  socket.once('close', () => held.delete(socket))
}

server.on('error', (error: NodeJS.ErrnoException) => {
  post({type: 'listen-error', code: error.code ?? 'unknown', message: error.message})
})

server.listen({host: options.host, port: options.port, backlog: options.backlog}, () => {
  const address = server.address()
  if (address === null || typeof address === 'string') return
  post({type: 'listening', host: address.address, port: address.port, family: address.family === 'IPv6' ? 6 : 4})
  if (stallFromGo) waitForGo(control)
  if (options.stallEveryMs !== null && options.stallForMs !== null) {
    const stallFor = options.stallForMs
    setInterval(() => blockThread(control, stallFor), options.stallEveryMs)
  }
  blockThread(control, options.stallMs)
})

parentPort!.on('message', (message: unknown) => {
  if (message !== 'stop') return
  // Posted before the exit below: the main thread hears it before the worker's 'exit'.
  post({type: 'accept-wait', acceptWait: acceptWaitReport()})
  server.close()
  for (const socket of held) socket.destroy()
  process.exit(0)
})

function post(message: AcceptorMessage): void {
  parentPort!.postMessage(message)
}

function ignore(): void {}
