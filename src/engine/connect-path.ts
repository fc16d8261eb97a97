import {isIP} from 'node:net'

import type {ProbeSettings} from '../probe/run.js'
import type {ConnectPath} from '../results/format.js'
import {handlePathAvailable} from './handle-connect.js'
import {type NativeProbe, nativeLoopAvailable} from './native-connect.js'

/**
 * Which code makes a run's connects — the one place that decides, and says why:
 *   native  the C loop on a thread of its own (native/): connect and close, the first-byte probes
 *           (send:, banner, with --expect) and --close hold; the fastest;
 *   handle  bare TCP handles on the event loop (handle-connect.ts): connect and close only;
 *   net     net.Socket: the stream the http, tls and https probes hand to undici and node:tls, and
 *           every probe and --close hold where the native loop is not available.
 * The results are the same on every path; the tool's own CPU per connect and its schedule under
 * load differ (docs/performance.md). CONNSTORM_SOCKET_PATH=handle or =net picks a slower path on
 * purpose (the tests compare all three); the result records the path as self.connectPath.
 */
export interface ConnectPathChoice {
  path: ConnectPath
  why: string
}

/** What a run does after each connect, as far as the choice of path goes. */
export interface AfterConnect {
  /** --probe: what to run on each connection (null: none) */
  probe: Pick<ProbeSettings, 'spec' | 'expect' | 'timeoutMs'> | null
  hold: boolean
}

export function chooseConnectPath({probe, hold}: AfterConnect, host: string): ConnectPathChoice {
  const streamNeeded = probe !== null || hold
  if (probe !== null && nativeProbeOf(probe) === null) return {path: 'net', why: `--probe ${probe.spec.kind} runs on undici or node:tls, which need a net.Socket`}
  // A scoped IPv6 address (fe80::1%eth0) is left to the JavaScript paths: the loop takes plain literals.
  const literal = isIP(host) !== 0 && !host.includes('%')
  const what = probe !== null ? `--probe ${probe.spec.kind}` : hold ? '--close hold' : 'connect and close'
  if (nativeLoopAvailable() && literal) return {path: 'native', why: `${what}, on the native loop thread`}
  return afterNative(nativeLoopAvailable() ? 'the native loop takes plain IP literals only' : 'the native addon is not built, or is turned off', streamNeeded)
}

/** Where the connects go when the native loop cannot take the run (the addon refused it, say). */
export function afterNative(reason: string, streamNeeded: boolean): ConnectPathChoice {
  if (streamNeeded) return {path: 'net', why: `${reason}: a probe or --close hold on net.Socket`}
  if (handlePathAvailable()) return {path: 'handle', why: `${reason}: bare TCP handles on the event loop`}
  return {path: 'net', why: `${reason}, and this Node offers no bare TCP handles (or CONNSTORM_SOCKET_PATH=net): net.Socket`}
}

/**
 * The probe as the native loop runs it, or null where it cannot: http, tls and https (undici and
 * node:tls speak those protocols, the loop only writes and reads bytes), and an --expect with a
 * character above U+00FF — src/probe/run.ts reads the reply as latin1, where no such character
 * can ever match; the loop compares bytes.
 */
export function nativeProbeOf(probe: Pick<ProbeSettings, 'spec' | 'expect' | 'timeoutMs'>): NativeProbe | null {
  const {spec, expect, timeoutMs} = probe
  if (spec.kind !== 'send' && spec.kind !== 'banner') return null
  const expectBytes = expect === null ? null : Buffer.from(expect, 'latin1')
  if (expectBytes !== null && expectBytes.toString('latin1') !== expect) return null // a character latin1 cannot hold
  return {timeoutMs, payload: spec.kind === 'send' ? spec.payload : null, expect: expectBytes}
}
