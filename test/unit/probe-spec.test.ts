import {describe, expect, it} from 'vitest'

import {InvalidOptionError, UsageError} from '../../src/errors.js'
import {PROBE_FORMS, type ProbeSpec, checkExpect, describeProbe, parseProbe} from '../../src/plan/probe-spec.js'
import {thrown} from '../helpers/thrown.js'

/** The InvalidOptionError parseProbe throws for `text`: it names --probe, the text and the accepted form. */
function refusedProbe(text: string): InvalidOptionError {
  const error = thrown(() => parseProbe(text))
  expect(error).toBeInstanceOf(InvalidOptionError)
  const invalid = error as InvalidOptionError
  expect(invalid.option).toBe('--probe')
  expect(invalid.value).toBe(text)
  return invalid
}

const send = (text: string): ProbeSpec => ({kind: 'send', payload: Buffer.from(text, 'latin1')})

describe('parseProbe', () => {
  it.each<[string, ProbeSpec]>([
    ['none', {kind: 'none'}],
    ['banner', {kind: 'banner'}],
    ['http', {kind: 'http', path: '/'}],
    ['http:/health', {kind: 'http', path: '/health'}],
    ['http:/a:b', {kind: 'http', path: '/a:b'}], // a colon in the path is kept
    ['https', {kind: 'https', path: '/', servername: null}],
    ['https:/login', {kind: 'https', path: '/login', servername: null}],
    ['tls', {kind: 'tls', servername: null}],
    ['tls:example.com', {kind: 'tls', servername: 'example.com'}],
    ['tls:My-Host9.example', {kind: 'tls', servername: 'My-Host9.example'}],
  ])('reads %s', (text, spec) => {
    expect(parseProbe(text)).toStrictEqual(spec)
  })

  it.each<[string, ProbeSpec]>([
    ['send:PING', send('PING')],
    ['send:a:b', send('a:b')], // everything after the first colon is the payload
    [String.raw`send:PING\r\n`, send('PING\r\n')], // the two-character escapes \r and \n become CR and LF
    [String.raw`send:\n\r\n`, send('\n\r\n')], // every escape, not only the first
    ['send:0x50494e470d0a', send('PING\r\n')],
    ['send:0x4A6b', send('Jk')], // upper- and lower-case hex digits
    ['send:0x09', send('\t')],
  ])('reads the payload of %s', (text, spec) => {
    expect(parseProbe(text)).toStrictEqual(spec)
  })

  it.each(['send', 'send:'])('refuses %s without bytes to write', (text) => {
    expect(refusedProbe(text).accepted).toBe('send:TEXT or send:0xHEX (the bytes to write)')
  })

  it.each(['send:0x', 'send:0x5', 'send:0x505', 'send:0xzz', 'send:0x50zz', 'send:0xzz50', 'send:0x5 0'])(
    'refuses %s: hex needs an even, non-zero number of hex digits',
    (text) => {
      expect(refusedProbe(text).accepted).toBe('send:0xHEX with an even number of hex digits, e.g. send:0x50494e470d0a')
    },
  )

  it.each(['http:health', 'http:', 'http:/a b', 'http:/a\tb'])('refuses %s: an HTTP path starts with / and has no spaces', (text) => {
    expect(refusedProbe(text).accepted).toBe('http:/path (a path starting with /, no spaces)')
  })

  it('names https in the accepted form of a bad https path', () => {
    expect(refusedProbe('https:login').accepted).toBe('https:/path (a path starting with /, no spaces)')
  })

  it.each(['tls:', 'tls:a_b', 'tls:_a', 'tls:a_', 'tls:a b'])('refuses %s: SNI is a host name', (text) => {
    expect(refusedProbe(text).accepted).toBe('tls or tls:servername (a host name for SNI)')
  })

  it.each(['ping', '', 'NONE', 'none:', 'none:x', 'banner:', 'banner:220', 'tcp:80'])('refuses %s with the list of probe forms', (text) => {
    expect(refusedProbe(text).accepted).toBe('none, send:TEXT, send:0xHEX, banner, http[:/path], tls[:servername], https[:/path]')
  })

  it('lists the probe forms', () => {
    expect(PROBE_FORMS).toBe('none, send:TEXT, send:0xHEX, banner, http[:/path], tls[:servername], https[:/path]')
  })
})

describe('checkExpect', () => {
  it('accepts --expect with send and banner, which read the reply', () => {
    expect(() => checkExpect(send('x'), 'OK')).not.toThrow()
    expect(() => checkExpect({kind: 'banner'}, '220')).not.toThrow()
  })

  it('accepts any probe without --expect', () => {
    for (const spec of [{kind: 'none'}, {kind: 'http', path: '/'}, {kind: 'tls', servername: null}] as ProbeSpec[]) {
      expect(() => checkExpect(spec, undefined)).not.toThrow()
    }
  })

  it.each<ProbeSpec>([{kind: 'none'}, {kind: 'http', path: '/'}, {kind: 'https', path: '/', servername: null}, {kind: 'tls', servername: null}])(
    'refuses --expect with the $kind probe, which reads no reply it could check',
    (spec) => {
      const error = thrown(() => checkExpect(spec, 'OK'))
      expect(error).toBeInstanceOf(UsageError)
      expect(error).not.toBeInstanceOf(InvalidOptionError)
      expect((error as Error).message).toBe('--expect: only with --probe send:… or --probe banner (the reply it checks)')
    },
  )

  it('refuses an empty --expect: every reply would contain it', () => {
    const error = thrown(() => checkExpect({kind: 'banner'}, ''))
    expect(error).toBeInstanceOf(InvalidOptionError)
    expect((error as Error).message).toBe("--expect: invalid value '': expected the text the reply must contain")
  })
})

describe('describeProbe', () => {
  it.each<[ProbeSpec, string]>([
    [{kind: 'none'}, 'none'],
    [send('PING\r\n'), 'send 6 bytes, time the first byte back'],
    [{kind: 'banner'}, 'wait for the server to speak first'],
    [{kind: 'http', path: '/health'}, 'HTTP/1.1 GET /health, time to response headers'],
    [{kind: 'tls', servername: null}, 'TLS handshake'],
    [{kind: 'tls', servername: 'example.com'}, 'TLS handshake (SNI example.com)'],
    [{kind: 'https', path: '/login', servername: null}, 'TLS handshake, then HTTP/1.1 GET /login'],
  ])('describes %o as "%s"', (spec, text) => {
    expect(describeProbe(spec)).toBe(text)
  })
})
