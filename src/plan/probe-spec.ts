import {InvalidOptionError, UsageError} from '../errors.js'

/** What happens on each connection right after it connects (--probe). */
export type ProbeSpec =
  | {kind: 'none'}
  /** write the bytes, time the first byte back */
  | {kind: 'send'; payload: Buffer}
  /** the server speaks first (SMTP, SSH, FTP): time its first byte */
  | {kind: 'banner'}
  /** one HTTP/1.1 GET on the connected socket (undici), time to response headers */
  | {kind: 'http'; path: string}
  /** TLS handshake on the connected socket; with https, then one HTTP/1.1 GET over it */
  | {kind: 'tls'; servername: string | null}
  | {kind: 'https'; path: string; servername: string | null}

export const PROBE_FORMS = "none, send:TEXT, send:0xHEX, banner, http[:/path], tls[:servername], https[:/path]"

export function parseProbe(text: string): ProbeSpec {
  const [kind, ...rest] = text.split(':')
  const argument = rest.length > 0 ? rest.join(':') : null
  switch (kind) {
    case 'none': {
      if (argument !== null) break
      return {kind: 'none'}
    }
    case 'banner': {
      if (argument !== null) break
      return {kind: 'banner'}
    }
    case 'send': {
      if (argument === null || argument === '') throw new InvalidOptionError('--probe', text, 'send:TEXT or send:0xHEX (the bytes to write)')
      return {kind: 'send', payload: parsePayload(text, argument)}
    }
    case 'http':
    case 'https': {
      const path = argument ?? '/'
      if (!path.startsWith('/') || /\s/.test(path)) throw new InvalidOptionError('--probe', text, `${kind}:/path (a path starting with /, no spaces)`)
      return kind === 'http' ? {kind, path} : {kind, path, servername: null}
    }
    case 'tls': {
      if (argument !== null && !/^[a-zA-Z0-9.-]+$/.test(argument)) throw new InvalidOptionError('--probe', text, 'tls or tls:servername (a host name for SNI)')
      return {kind: 'tls', servername: argument}
    }
    // Stryker disable next-line ConditionalExpression,BlockStatement: the default case only breaks out to the throw below, as falling out of the switch does
    default: {
      break
    }
  }
  throw new InvalidOptionError('--probe', text, PROBE_FORMS)
}

function parsePayload(text: string, argument: string): Buffer {
  if (!argument.startsWith('0x')) return Buffer.from(argument.replaceAll(String.raw`\r`, '\r').replaceAll(String.raw`\n`, '\n'))
  const hex = argument.slice(2)
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new InvalidOptionError('--probe', text, 'send:0xHEX with an even number of hex digits, e.g. send:0x50494e470d0a')
  }
  return Buffer.from(hex, 'hex')
}

/** --expect only makes sense where we read what the server says first. */
export function checkExpect(spec: ProbeSpec, expect: string | undefined): void {
  if (expect !== undefined && spec.kind !== 'send' && spec.kind !== 'banner') {
    throw new UsageError('--expect: only with --probe send:… or --probe banner (the reply it checks)')
  }
  if (expect === '') throw new InvalidOptionError('--expect', expect, 'the text the reply must contain')
}

export function describeProbe(spec: ProbeSpec): string {
  switch (spec.kind) {
    case 'none': {
      return 'none'
    }
    case 'send': {
      return `send ${spec.payload.length} bytes, time the first byte back`
    }
    case 'banner': {
      return 'wait for the server to speak first'
    }
    case 'http': {
      return `HTTP/1.1 GET ${spec.path}, time to response headers`
    }
    case 'tls': {
      return `TLS handshake${spec.servername ? ` (SNI ${spec.servername})` : ''}`
    }
    case 'https': {
      return `TLS handshake, then HTTP/1.1 GET ${spec.path}`
    }
  }
}
