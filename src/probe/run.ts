import type {Socket} from 'node:net'
import {isIP} from 'node:net'
import {performance} from 'node:perf_hooks'
import {type TLSSocket, connect as tlsConnect} from 'node:tls'

import type {Client} from 'undici'

import type {ProbeOutcome} from '../results/outcome.js'
import type {ProbeSpec} from '../plan/probe-spec.js'


export interface ProbeReport {
  outcome: ProbeOutcome
  /** performance.now() when the application first answered: first byte, TLS ServerHello done, or HTTP headers */
  respondedAt: number | null
  /** performance.now() when the TLS handshake completed */
  tlsDoneAt: number | null
  /** performance.now() when HTTP response headers arrived */
  headersAt: number | null
  status: number | null
  /** errno / TLS / undici code of a failure */
  errorCode: string | null
}

/** The probe of a connection reset before the client saw it connect: nothing was sent, nothing came back. */
export const RESET_BEFORE_PROBE: Readonly<ProbeReport> = {outcome: 'resetAfterConnect', respondedAt: null, tlsDoneAt: null, headersAt: null, status: null, errorCode: 'ECONNRESET'}

export interface ProbeSettings {
  spec: Exclude<ProbeSpec, {kind: 'none'}>
  timeoutMs: number
  /** text the reply must contain (send and banner probes) */
  expect: string | null
  /** skip certificate verification (said loudly in the report) */
  insecure: boolean
  host: string
  port: number
}

/**
 * undici, loaded only when a storm probes HTTP: it costs ~0.2 s of CPU to load (about a quarter
 * of the CLI's start-up), which every other run and every usage error would pay. Loaded by
 * prepareProbe() before the first connect, so no probe's timing includes it.
 */
let undici: typeof import('undici') | undefined

/** Loads what the probe needs before the storm starts (see `undici` above). */
export async function prepareProbe(spec: ProbeSettings['spec']): Promise<void> {
  if ((spec.kind === 'http' || spec.kind === 'https') && undici === undefined) undici = await import('undici')
}

/** The most reply we keep while looking for --expect. */
const EXPECT_WINDOW_BYTES = 64 * 1024

/**
 * Runs one probe on a freshly connected socket and calls `done` exactly once. The socket is left
 * open: the caller closes it (its --close mode), so probes never decide how connections end.
 */
export function startProbe(socket: Socket, settings: ProbeSettings, done: (report: ProbeReport) => void): void {
  const report: ProbeReport = {outcome: 'ok', respondedAt: null, tlsDoneAt: null, headersAt: null, status: null, errorCode: null}
  let finished = false
  let httpClient: Client | undefined
  // unref: when the run stops early and abandons its probes, their deadlines must not keep the
  // process alive (they did, for up to --probe-timeout after the report).
  const timer = setTimeout(() => finish('probeTimeout'), settings.timeoutMs).unref()
  function finish(outcome: ProbeOutcome, errorCode: string | null = null): void {
    if (finished) return
    finished = true
    clearTimeout(timer)
    report.outcome = outcome
    report.errorCode = errorCode
    socket.removeListener('data', onData).removeListener('end', onPeerClosed).removeListener('error', onError)
    if (httpClient) void httpClient.destroy().catch(() => undefined)
    done(report)
  }
  function onError(error: NodeJS.ErrnoException): void {
    // undici tears the socket down itself once a `connection: close` response is complete.
    if (error.code === 'UND_ERR_INFO') return
    finish(isReset(error) ? 'resetAfterConnect' : 'probeError', error.code ?? null)
  }
  function onPeerClosed(): void {
    finish(report.respondedAt === null ? 'closedBeforeReply' : 'unexpectedReply')
  }

  let reply = ''
  function onData(chunk: Buffer): void {
    report.respondedAt ??= performance.now()
    if (settings.expect === null) {
      finish('ok')
      return
    }
    reply = (reply + chunk.toString('latin1')).slice(-EXPECT_WINDOW_BYTES)
    if (reply.includes(settings.expect)) finish('ok')
  }

  const {spec} = settings
  switch (spec.kind) {
    case 'send':
    case 'banner': {
      socket.on('data', onData).once('end', onPeerClosed).on('error', onError)
      if (spec.kind === 'send') socket.write(spec.payload)
      break
    }
    case 'http': {
      socket.on('error', onError)
      httpClient = httpOver(socket, settings, 'http', spec.path, report, finish)
      break
    }
    case 'tls':
    case 'https': {
      socket.on('error', onError)
      const servername = spec.servername ?? (isIP(settings.host) === 0 ? settings.host : undefined)
      const tlsSocket: TLSSocket = tlsConnect({socket, servername, rejectUnauthorized: !settings.insecure})
      tlsSocket.once('secureConnect', () => {
        report.tlsDoneAt = performance.now()
        report.respondedAt = report.tlsDoneAt
        if (spec.kind === 'tls') finish('ok')
        else httpClient = httpOver(tlsSocket, settings, 'https', spec.path, report, finish)
      })
      tlsSocket.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'UND_ERR_INFO') return // undici closing after a complete `connection: close` response
        if (report.tlsDoneAt !== null) finish(isReset(error) ? 'resetAfterConnect' : 'probeError', error.code ?? null)
        else if (/before secure TLS connection/.test(error.message)) finish('closedBeforeReply', error.code ?? null)
        else finish(isReset(error) ? 'resetAfterConnect' : 'tlsError', error.code ?? null)
      })
      break
    }
  }
}

/** One GET on an already connected socket: undici's connector hands it our socket, so the TCP connect stays ours to time. */
function httpOver(
  socket: Socket,
  settings: ProbeSettings,
  scheme: 'http' | 'https',
  path: string,
  report: ProbeReport,
  finish: (outcome: ProbeOutcome, errorCode?: string | null) => void,
): Client {
  if (undici === undefined) throw new Error('internal: an http probe started before prepareProbe()')
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host
  const client = new undici.Client(`${scheme}://${host}:${settings.port}`, {
    // Handed over on the next tick: undici's client is still inside its resume loop when it calls the
    // connector, and a synchronous answer leaves the request unwritten (the probe would hang).
    connect: (_options, callback) => process.nextTick(callback, null, socket),
    pipelining: 1,
    headersTimeout: settings.timeoutMs,
  })
  client.request({path, method: 'GET', headers: {connection: 'close'}}).then(
    ({statusCode, body}) => {
      report.headersAt = performance.now()
      report.respondedAt ??= report.headersAt
      report.status = statusCode
      body.dump().catch(() => undefined)
      finish('ok')
    },
    (error: Error & {code?: string; cause?: {code?: string}}) => {
      const code = error.cause?.code ?? error.code ?? null
      if (code === 'ECONNRESET' || code === 'EPIPE') finish('resetAfterConnect', code)
      else if (code === 'UND_ERR_SOCKET') finish(report.respondedAt === null ? 'closedBeforeReply' : 'unexpectedReply', code)
      else finish('probeError', code)
    },
  )
  return client
}

function isReset(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ECONNRESET' || error.code === 'EPIPE'
}
