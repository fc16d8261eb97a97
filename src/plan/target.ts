import {lookup} from 'node:dns/promises'
import {isIP} from 'node:net'
import {networkInterfaces} from 'node:os'

import {InvalidOptionError, UsageError} from '../errors.js'

const TARGET_FORM = 'host:port or [v6addr]:port with a port from 1 to 65535, e.g. 127.0.0.1:8080 or [::1]:8080'

/** What the user wrote, split but not yet resolved. */
export interface TargetSpec {
  host: string
  port: number
}

/** The address every connect of the run goes to: resolved once, before the first connect. */
export interface ResolvedTarget {
  /** as the user wrote it (a name or an address) */
  requested: string
  host: string
  port: number
  family: 4 | 6
}

export function parseTarget(text: string): TargetSpec {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text)
  const plain = /^([^:[\]\s]+):(\d+)$/.exec(text)
  const match = bracketed ?? plain
  if (!match) {
    // A bare IPv6 address with a port cannot be split unambiguously: ask for brackets.
    const hint = isIP(text.replace(/:\d+$/, '')) === 6 || isIP(text) === 6 ? ' (put an IPv6 address in brackets)' : ''
    throw new InvalidOptionError('TARGET', text, TARGET_FORM + hint)
  }
  const host = match[1]!
  if (bracketed && isIP(host) !== 6) throw new InvalidOptionError('TARGET', text, TARGET_FORM + ' (only IPv6 addresses go in brackets)')
  const port = Number(match[2])
  if (!(port >= 1 && port <= 65_535)) throw new InvalidOptionError('TARGET', text, TARGET_FORM)
  return {host, port}
}

/** Resolves a name once (getaddrinfo order, first answer); an address literal is used as is. */
export async function resolveTarget(spec: TargetSpec): Promise<ResolvedTarget> {
  const requested = spec.host.includes(':') ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`
  const literalFamily = isIP(spec.host)
  if (literalFamily === 4 || literalFamily === 6) return {requested, host: spec.host, port: spec.port, family: literalFamily}
  try {
    const {address, family} = await lookup(spec.host)
    return {requested, host: address, port: spec.port, family: family === 6 ? 6 : 4}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new UsageError(`TARGET: cannot resolve host '${spec.host}' (${code}): give a resolvable name or an IP address`)
  }
}

/** 127.0.0.0/8 or ::1. */
export function isLoopbackAddress(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/** On this machine, hence in reach of ss and /proc, and bindable: loopback, or an address of one of our interfaces. */
export function isLocalAddress(host: string, interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): boolean {
  if (isLoopbackAddress(host)) return true
  return Object.values(interfaces).some((addresses) => addresses?.some((address) => address.address === host))
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
