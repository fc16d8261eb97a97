import {isIP} from 'node:net'

import {InvalidOptionError, UsageError} from '../errors.js'

/**
 * `--source`: the local addresses connects are bound to, in turn.
 *
 * Why: a connection is identified by (source address, source port, destination address,
 * destination port), so one source address reaches one destination from at most the
 * ip_local_port_range ports (~28k by default). More source addresses, more connections.
 *
 * Why only when asked: Node binds before it connects and cannot set IP_BIND_ADDRESS_NO_PORT, so
 * the kernel must pick the port at bind() time, before it knows the destination. The port is
 * then taken for every destination, and ports left in TIME_WAIT block new binds (docs/kernel.md §8,
 * §12). Without --source the kernel picks the port at connect() time, which is better.
 */

export const SOURCE_FORM =
  'local addresses as a range (127.0.0.1-127.0.0.8), a CIDR block (127.0.0.0/29) or a comma-separated list (127.0.0.1,127.0.0.2)'

/** More would be a typo (a /16): the list is held in memory and printed in the result. */
export const MAX_SOURCES = 1024

/**
 * Parses --source into the addresses, in order. `isLocal` says whether an address belongs to this
 * machine (a connect cannot be bound to anyone else's address).
 */
export function parseSources(text: string, isLocal: (address: string) => boolean): string[] {
  const trimmed = text.trim()
  const addresses = trimmed.includes('/') ? cidrAddresses(text, trimmed) : trimmed.includes('-') ? rangeAddresses(text, trimmed) : listAddresses(text, trimmed)
  if (addresses.length > MAX_SOURCES) throw new UsageError(`--source: '${text}' holds ${addresses.length} addresses; at most ${MAX_SOURCES}`)
  const families = new Set(addresses.map((address) => isIP(address)))
  if (families.size > 1) throw new UsageError(`--source: '${text}' mixes IPv4 and IPv6 addresses; a connect needs a source of its target's family`)
  const foreign = addresses.find((address) => !isLocal(address))
  if (foreign !== undefined) {
    throw new UsageError(`--source: ${foreign} is not an address of this machine (loopback 127.0.0.0/8, ::1, or an address of one of its interfaces)`)
  }
  return addresses
}

function listAddresses(text: string, trimmed: string): string[] {
  const addresses = trimmed.split(',').map((part) => part.trim())
  if (addresses.some((address) => isIP(address) === 0)) throw new InvalidOptionError('--source', text, SOURCE_FORM)
  return [...new Set(addresses)]
}

function rangeAddresses(text: string, trimmed: string): string[] {
  const [first, last, extra] = trimmed.split('-').map((part) => part.trim())
  // Stryker disable next-line StringLiteral: split always gives a first part, and a second one since the text holds a '-', so the fallbacks are never used
  if (extra !== undefined || isIP(first ?? '') !== 4 || isIP(last ?? '') !== 4) {
    throw new InvalidOptionError('--source', text, SOURCE_FORM)
  }
  const from = ipv4ToNumber(first!)
  const to = ipv4ToNumber(last!)
  if (to < from) throw new UsageError(`--source: the range '${text}' ends before it starts`)
  if (to - from + 1 > MAX_SOURCES) {
    throw new UsageError(`--source: '${text}' holds ${to - from + 1} addresses; at most ${MAX_SOURCES}`)
  }
  return spanOf(from, to)
}

function cidrAddresses(text: string, trimmed: string): string[] {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(trimmed)
  const prefix = Number(match?.[2])
  if (!match || isIP(match[1]!) !== 4 || prefix > 32) throw new InvalidOptionError('--source', text, SOURCE_FORM)
  const size = 2 ** (32 - prefix)
  // The network and broadcast addresses of a block are not hosts' addresses (a /31 or /32 has neither:
  // its count here is 0 or −1 instead of 2 or 1, far below the limit either way, and only the limit reads it).
  const hosts = size - 2
  if (hosts > MAX_SOURCES) {
    throw new UsageError(`--source: '${text}' holds ${hosts} addresses; at most ${MAX_SOURCES}`)
  }
  const network = ipv4ToNumber(match[1]!) - (ipv4ToNumber(match[1]!) % size)
  return size > 2 ? spanOf(network + 1, network + size - 2) : spanOf(network, network + size - 1)
}

function spanOf(from: number, to: number): string[] {
  const addresses: string[] = []
  for (let value = from; value <= to; value++) addresses.push(numberToIpv4(value))
  return addresses
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0)
}

function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')
}
