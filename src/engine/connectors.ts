import {Socket, connect} from 'node:net'

import {tcpInfoReader} from '../native/addon.js'
import type {ResolvedTarget} from '../plan/target.js'
import {HandleConnection, startHandleConnect} from './handle-connect.js'
import type {SourceEndpoint} from './source-binding.js'

/**
 * The two connect paths that run on Node's event loop, behind one interface: net.Socket ("net")
 * and bare TCP handles ("handle"). connect-path.ts chooses one per run; the engine then starts every
 * connect through it and hears back through its context's owner — shared handlers, no closure per
 * connect. (The native loop makes its connects on its own thread: native-driver.ts.)
 */

/** The engine's side of a connect: who hears that it connected or failed. */
export interface ConnectOwner<Context> {
  onConnect(context: Context): void
  onError(context: Context, error: NodeJS.ErrnoException): void
}

/** What a connect carries back to its owner. */
export interface ConnectContext {
  readonly engine: ConnectOwner<this>
}

/** A connect in flight or connected: both paths close it the same two ways (destroy, resetAndDestroy). */
export type Connection = Socket | HandleConnection

export interface Connector {
  /**
   * Starts one connect. A connect the kernel refused at once (EMFILE, a taken port …) is still
   * returned; startError() says so, and no completion follows.
   */
  start<Context extends ConnectContext>(target: ResolvedTarget, endpoint: SourceEndpoint | undefined, context: Context): Connection
}

/** Set when the kernel refused to start a connect at once (bare handles report it synchronously). */
export function startError(connection: Connection): string | null {
  return connection instanceof HandleConnection ? connection.startError : null
}

/** The only connection that is a stream: probes and --close hold need one (connect-path.ts). */
export function asStream(connection: Connection): Socket {
  if (!(connection instanceof Socket)) throw new Error('internal: a stream was needed on the bare-handle path')
  return connection
}

/**
 * A connect that ended this soon after its SYN left has no retransmit (the first waits for the
 * initial RTO, 1 s), so its count is 0 without the 1.5–2.3 µs TCP_INFO call: the native loop's
 * NO_RETRANSMIT_BEFORE_US (native/connect-loop.c), the same bound here.
 */
export const NO_RETRANSMIT_BEFORE_MS = 200

/**
 * The connect's SYN retransmits as the kernel counted them (TCP_INFO tcpi_total_retrans, through
 * the addon), read on its descriptor before it is closed; null without the addon or once the socket
 * is closed (a net.Socket has closed itself before its 'error' is heard). docs/kernel.md.
 */
export function synRetransmitsOf(connection: Connection, afterMs: number): number | null {
  if (tcpInfoReader === null) return null
  if (afterMs < NO_RETRANSMIT_BEFORE_MS) return 0
  const fd = connection instanceof HandleConnection ? connection.fd() : ((connection as unknown as {_handle?: {fd?: number} | null})._handle?.fd ?? -1)
  return typeof fd === 'number' && fd >= 0 ? tcpInfoReader.synRetransmits(fd) : null
}

const CONTEXT = Symbol('connstorm.connectContext')
type TrackedSocket = Socket & {[CONTEXT]?: ConnectContext}

export const NET_CONNECTOR: Connector = {
  start(target, endpoint, context) {
    const {host, port} = target
    const socket = connect(endpoint ? {host, port, ...endpoint} : {host, port}) as TrackedSocket
    socket[CONTEXT] = context
    socket.once('connect', onSocketConnect)
    socket.on('error', onSocketError)
    return socket
  },
}

export const HANDLE_CONNECTOR: Connector = {
  start(target, endpoint, context) {
    return startHandleConnect(target, endpoint, context, onHandleConnectDone)
  },
}

function onSocketConnect(this: TrackedSocket): void {
  const context = this[CONTEXT]!
  context.engine.onConnect(context)
}

function onSocketError(this: TrackedSocket, error: NodeJS.ErrnoException): void {
  const context = this[CONTEXT]!
  context.engine.onError(context, error)
}

function onHandleConnectDone(context: ConnectContext, code: string | null): void {
  if (code === null) context.engine.onConnect(context)
  else context.engine.onError(context, {code} as NodeJS.ErrnoException)
}
