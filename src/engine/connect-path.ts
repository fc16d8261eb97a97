import {isIP} from 'node:net'

import type {ConnectPath} from '../results/format.js'
import {handlePathAvailable} from './handle-connect.js'
import {nativeLoopAvailable} from './native-connect.js'

/**
 * Which code makes a run's connects — the one place that decides, and says why:
 *   native  the C loop on a thread of its own (native/): connect and close only, the fastest;
 *   handle  bare TCP handles on the event loop (handle-connect.ts): connect and close only;
 *   net     net.Socket: the only path with a stream, so the only one for probes and --close hold.
 * The results are the same on every path; the tool's own CPU per connect and its schedule under
 * load differ (docs/performance.md). CONNSTORM_SOCKET_PATH=handle or =net picks a slower path on
 * purpose (the tests compare all three); the result records the path as self.connectPath.
 */
export interface ConnectPathChoice {
  path: ConnectPath
  why: string
}

export function chooseConnectPath({needsStream, host}: {needsStream: boolean; host: string}): ConnectPathChoice {
  if (needsStream) return {path: 'net', why: 'a probe or --close hold reads, writes or watches each connection: that needs a net.Socket'}
  // A scoped IPv6 address (fe80::1%eth0) is left to the bare handles: the loop takes plain literals.
  const literal = isIP(host) !== 0 && !host.includes('%')
  if (nativeLoopAvailable() && literal) return {path: 'native', why: 'connect and close only, on the native loop thread'}
  return afterNative(nativeLoopAvailable() ? 'the native loop takes plain IP literals only' : 'the native addon is not built, or is turned off')
}

/** Where the connects go when the native loop cannot take the run (the addon refused it, say). */
export function afterNative(reason: string): ConnectPathChoice {
  if (handlePathAvailable()) return {path: 'handle', why: `${reason}: bare TCP handles on the event loop`}
  return {path: 'net', why: `${reason}, and this Node offers no bare TCP handles (or CONNSTORM_SOCKET_PATH=net): net.Socket`}
}
