import {getSystemErrorName} from 'node:util'

/**
 * The bare-handle path ("handle"): connects made on Node's own TCP handles (the `tcp_wrap` binding that
 * net.Socket is built on), without a net.Socket, a stream or an EventEmitter around them.
 *
 * Why: a storm that only connects and closes pays for everything net.Socket sets up for data it
 * never reads or writes. Measured here (bench, 60 000 connects, K=64 against the native target):
 * 42–48 µs of user CPU per connect through net.Socket, 9–13 µs on the bare handle — the
 * difference between 0.6× and 0.8× of a native client, and what makes --workers scale, since
 * every core is then spent in the kernel rather than in JavaScript.
 *
 * Used only where nothing but connect and close happens (no --probe, no --close hold: those need
 * a net.Socket to read, write or notice the peer closing). Where the binding is missing or
 * changed (another Node), or CONNSTORM_SOCKET_PATH=net is set, net.Socket is used instead;
 * the results are the same, only the CPU per connect differs.
 */

interface TcpHandle {
  bind(address: string, port: number): number
  bind6(address: string, port: number, flags: number): number
  connect(request: ConnectRequest, address: string, port: number): number
  connect6(request: ConnectRequest, address: string, port: number): number
  reset(callback: () => void): number
  close(callback: () => void): void
  /** the socket's descriptor (-1 once closed) */
  readonly fd: number
}

interface ConnectRequest {
  oncomplete: (this: ConnectRequest, status: number) => void
  [CONTEXT]?: unknown
  [ON_DONE]?: HandleConnectDone<unknown>
}

interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle
  TCPConnectWrap: new () => ConnectRequest
  constants: {SOCKET: number}
}

const CONTEXT = Symbol('connstorm.context')
const ON_DONE = Symbol('connstorm.onDone')

/** How a connect ended: `null` for connected, else the errno code (ECONNREFUSED …). One shared function, no closure per connect. */
export type HandleConnectDone<Context> = (context: Context, code: string | null) => void

function loadBinding(): TcpWrapBinding | null {
  if (process.env.CONNSTORM_SOCKET_PATH === 'net') return null
  try {
    // Deprecated as a public API (DEP0111: a warning only under --pending-deprecation); checked
    // member by member, so a Node whose binding differs falls back to net.Socket.
    const binding = (process as unknown as {binding(name: string): Partial<TcpWrapBinding>}).binding('tcp_wrap')
    const {TCP, TCPConnectWrap, constants} = binding
    if (typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function' || typeof constants?.SOCKET !== 'number') return null
    const methods = ['bind', 'bind6', 'connect', 'connect6', 'reset', 'close'] as const
    if (!methods.every((method) => typeof (TCP.prototype as Record<string, unknown>)[method] === 'function')) return null
    return binding as TcpWrapBinding
  } catch {
    return null
  }
}

const binding = loadBinding()

/** Whether this Node offers the bare-handle path (and it was not turned off). */
export function handlePathAvailable(): boolean {
  return binding !== null
}

const ignore = (): void => {}

function onComplete(this: ConnectRequest, status: number): void {
  this[ON_DONE]!(this[CONTEXT], status === 0 ? null : getSystemErrorName(status))
}

/** One connect on a bare TCP handle; closes exactly once, whichever way. */
export class HandleConnection {
  private readonly handle: TcpHandle
  private closed = false
  /** set when the kernel refused to start the connect at once; then no completion follows */
  readonly startError: string | null

  /**
   * Starts the connect; `onDone(context, …)` is called once when it completes. When the kernel
   * refuses to start it at once (EMFILE, EADDRNOTAVAIL, a taken source port …), `startError`
   * says why and no completion follows.
   */
  constructor(
    target: {host: string; port: number; family: 4 | 6},
    source: {localAddress: string; localPort: number} | undefined,
    context: unknown,
    onDone: HandleConnectDone<unknown>,
  ) {
    const {host, port, family} = target
    this.handle = new binding!.TCP(binding!.constants.SOCKET)
    const request = new binding!.TCPConnectWrap()
    request.oncomplete = onComplete
    request[CONTEXT] = context
    request[ON_DONE] = onDone
    let status = 0
    if (source) status = family === 6 ? this.handle.bind6(source.localAddress, source.localPort, 0) : this.handle.bind(source.localAddress, source.localPort)
    if (status === 0) status = family === 6 ? this.handle.connect6(request, host, port) : this.handle.connect(request, host, port)
    this.startError = status === 0 ? null : getSystemErrorName(status)
  }

  /** The socket's descriptor, or -1 once closed (or when the kernel gave it none). */
  fd(): number {
    return this.closed ? -1 : this.handle.fd
  }

  /** Closes (a FIN when connected; cancels a connect in progress). */
  destroy(): void {
    if (this.closed) return
    this.closed = true
    this.handle.close(ignore)
  }

  /** SO_LINGER 0 and close: an RST, no TIME_WAIT (docs/kernel.md §8). */
  resetAndDestroy(): void {
    if (this.closed) return
    this.closed = true
    if (this.handle.reset(ignore) !== 0) this.handle.close(ignore)
  }
}

/** Starts a connect on a bare handle (see HandleConnection); `onDone` gets `context` back, typed. */
export function startHandleConnect<Context>(
  target: {host: string; port: number; family: 4 | 6},
  source: {localAddress: string; localPort: number} | undefined,
  context: Context,
  onDone: HandleConnectDone<Context>,
): HandleConnection {
  return new HandleConnection(target, source, context, onDone as HandleConnectDone<unknown>)
}
