import {readSysctl} from '../kernel/sysctl.js'
import {type Plan, globalIndex} from '../plan/plan.js'

/** Linux's default ip_local_port_range, for when /proc cannot be read. */
const DEFAULT_PORT_RANGE: [number, number] = [32_768, 60_999]

export interface SourceEndpoint {
  localAddress: string
  localPort: number
}

/**
 * --source: the local address and port each connect binds to.
 *
 * Why connstorm picks the port itself: bind(address, 0) makes the kernel search for a port that
 * is free on that address, and the search grows with the ports already taken — measured here,
 * 19 000 connects over 2 addresses took 16 s with kernel-picked ports and 1.4 s with explicit
 * ones. Node cannot set IP_BIND_ADDRESS_NO_PORT, which would defer the choice to connect().
 *
 * Connect g of the whole plan (shards and workers keep the plan's numbering, so they never pick
 * the same pair) gets address g mod A and the (g div A)-th port of ip_local_port_range. A port
 * that is taken anyway (a listener, another program) is replaced by a kernel-picked one.
 */
export class SourceBinding {
  private readonly portRange: [number, number]

  constructor(
    private readonly plan: Pick<Plan, 'shard'>,
    private readonly addresses: readonly string[],
    portRange: [number, number] | null = readPortRange(),
  ) {
    this.portRange = portRange ?? DEFAULT_PORT_RANGE
  }

  endpointFor(localIndex: number): SourceEndpoint {
    const index = globalIndex(this.plan, localIndex)
    const [low, high] = this.portRange
    const count = this.addresses.length
    return {localAddress: this.addresses[index % count]!, localPort: low + (Math.floor(index / count) % (high - low + 1))}
  }
}

function readPortRange(): [number, number] | null {
  const range = readSysctl('net.ipv4.ip_local_port_range')?.split(/\s+/).map(Number)
  return range && range.length === 2 && range.every((port) => Number.isInteger(port) && port > 0) && range[0]! <= range[1]! ? [range[0]!, range[1]!] : null
}

/**
 * How many kernel-picked ports a connect may try after its own was taken. One is not enough: libuv
 * binds with SO_REUSEADDR, and with it the kernel may hand out a port that another of our held
 * connections to the same target already uses, so connect() fails with EADDRNOTAVAIL (the 4-tuple
 * exists). With 20,000 of an address's 28,232 ports in use a pick collides with p ≈ 0.7, seen once
 * in a 40,000-connection run; 32 picks leave 0.7^32 ≈ 1e-5. Each failed pick fails at once.
 * (The native loop binds its kernel-picked port without SO_REUSEADDR, so its one retry is enough.)
 */
export const PORT_RETRIES = 32

/** A bind or connect error that a kernel-picked port may avoid: the explicit port was taken. */
export function portWasTaken(error: NodeJS.ErrnoException): boolean {
  return error.code === 'EADDRINUSE' || error.code === 'EADDRNOTAVAIL'
}
