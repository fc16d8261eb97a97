/**
 * The lab's acceptor thread: owns the listening socket. It refuses to accept() by blocking its own
 * event loop (KERNEL.md Q7: a Node listener accepts only when its loop runs), which leaves the
 * kernel's accept queue to fill, exactly as a stalled server does.
 */
import {type Server, type Socket, createServer} from 'node:net'
import {performance} from 'node:perf_hooks'
import {parentPort, workerData} from 'node:worker_threads'

import {ACCEPTED, blockThread} from './control.js'
import type {LabOptions} from './options.js'

export interface AcceptorData {
  options: LabOptions
  control: Int32Array
}

/** Messages from the acceptor to the main thread. */
export type AcceptorMessage =
  | {type: 'listening'; host: string; port: number; family: 4 | 6}
  | {type: 'listen-error'; code: string; message: string}

const {options, control} = workerData as AcceptorData
const held = new Set<Socket>()
const acceptGapMs = options.acceptRate === null ? 0 : 1000 / options.acceptRate

const server: Server = createServer((socket) => {
  const acceptedAt = performance.now()
  Atomics.add(control, ACCEPTED, 1)
  socket.on('error', ignore)
  handleAccepted(socket)
  // One accept per callback (libuv), so blocking here caps the accept rate (KERNEL.md Q7).
  if (acceptGapMs > 0) blockThread(control, acceptedAt + acceptGapMs - performance.now())
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
      held.add(socket)
      socket.once('close', () => held.delete(socket))
      break
    }
  }
}

server.on('error', (error: NodeJS.ErrnoException) => {
  post({type: 'listen-error', code: error.code ?? 'unknown', message: error.message})
})

server.listen({host: options.host, port: options.port, backlog: options.backlog}, () => {
  const address = server.address()
  if (address === null || typeof address === 'string') return
  post({type: 'listening', host: address.address, port: address.port, family: address.family === 'IPv6' ? 6 : 4})
  if (options.stallEveryMs !== null && options.stallForMs !== null) {
    const stallFor = options.stallForMs
    setInterval(() => blockThread(control, stallFor), options.stallEveryMs)
  }
  blockThread(control, options.stallMs)
})

parentPort!.on('message', (message: unknown) => {
  if (message !== 'stop') return
  server.close()
  for (const socket of held) socket.destroy()
  process.exit(0)
})

function post(message: AcceptorMessage): void {
  parentPort!.postMessage(message)
}

function ignore(): void {}
