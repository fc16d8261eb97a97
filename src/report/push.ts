import {InvalidOptionError} from '../errors.js'
import type {RunLabels} from './openmetrics.js'

/**
 * Sends an exposition to a Prometheus Pushgateway (docs/openmetrics.md "Pushgateway"): HTTP PUT to
 * /metrics/job/connstorm/target@base64/…/run@base64/…[/shard@base64/…], which replaces that
 * group's metrics, so pushing the same run again changes nothing. Label values go base64url in
 * the path: a target like `[::1]:80` or a run's instant would need escaping otherwise.
 */

export const PUSH_JOB = 'connstorm'

/** How long a push may take before it is given up. */
const PUSH_TIMEOUT_MS = 10_000

const URL_FORM = 'an http:// or https:// URL of a Pushgateway, e.g. http://pushgateway:9091'

/** The --push value as a URL, or a one-line refusal (exit 2) before any file is read. */
export function parsePushUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new InvalidOptionError('--push', text, URL_FORM)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw new InvalidOptionError('--push', text, URL_FORM)
  if (url.search !== '' || url.hash !== '') throw new InvalidOptionError('--push', text, `${URL_FORM} (no ?query or #fragment: the push path is appended to it)`)
  return url
}

/** The URL a push goes to: the Pushgateway's base (any path prefix kept) + the grouping key. */
export function pushTarget(base: URL, labels: RunLabels): URL {
  const url = new URL(base.href)
  url.username = ''
  url.password = ''
  const key = [['target', labels.target], ['run', labels.run], ...(labels.shard === undefined ? [] : [['shard', labels.shard]])]
  const path = key.map(([name, value]) => `/${name}@base64/${base64url(value!)}`).join('')
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/metrics/job/${PUSH_JOB}${path}`
  return url
}

/** A push that did not land: one line for the user; the command exits with EXIT.pushFailed (README "Exit codes"). */
export class PushError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PushError'
  }
}

/** PUTs the text to the Pushgateway; resolves when it answered 2xx, else throws a PushError. */
export async function push(base: URL, labels: RunLabels, exposition: string): Promise<URL> {
  const target = pushTarget(base, labels)
  const headers: Record<string, string> = {'content-type': 'text/plain; version=0.0.4; charset=utf-8'}
  // fetch refuses a URL with credentials in it: they travel as Basic authentication instead.
  if (base.username !== '' || base.password !== '') {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64')}`
  }
  let response: Response
  try {
    response = await fetch(target, {method: 'PUT', headers, body: exposition, signal: AbortSignal.timeout(PUSH_TIMEOUT_MS)})
  } catch (error) {
    throw new PushError(`--push: cannot reach the Pushgateway at ${target.origin} (${reasonOf(error)}): nothing was pushed`)
  }
  if (!response.ok) {
    const body = (await response.text().catch(() => '')).split('\n').map((line) => line.trim()).find((line) => line !== '') ?? ''
    throw new PushError(`--push: the Pushgateway at ${target.origin} refused the push: HTTP ${response.status}${body === '' ? '' : `: ${body.slice(0, 200)}`}`)
  }
  return target
}

function base64url(value: string): string {
  // An empty value is '=' in the Pushgateway's encoding (a bare '' would leave an empty path segment).
  return value === '' ? '=' : Buffer.from(value, 'utf8').toString('base64url')
}

/** The errno (ECONNREFUSED …) or timeout behind a failed fetch, in a few words. */
function reasonOf(error: unknown): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `no answer within ${PUSH_TIMEOUT_MS / 1000} s`
  const cause = (error as {cause?: {code?: string; message?: string}}).cause
  return cause?.code ?? cause?.message ?? (error as Error).message
}
