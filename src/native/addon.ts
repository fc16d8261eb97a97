import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

/**
 * connstorm's native addon (native/*.c, built by `npm ci` with node-gyp against Node's own
 * headers: scripts/build-native.sh). Two jobs, each with a JavaScript fallback when the addon is
 * missing (no compiler at install time) or turned off (CONNSTORM_SOCKET_PATH=handle or net):
 * the connect loop on a thread of its own (engine/native-connect.ts) and the listeners' accept
 * queues read over netlink (kernel/listeners.ts).
 */
export interface NativeAddon {
  create(
    options: {
      family: 4 | 6
      address: string
      port: number
      closeMode: number
      timeoutMs: number
      concurrency: number
      total: number
      /** --source addresses (the target's family); each start names one by index, with a port */
      sources?: readonly string[]
      /** --probe send:/banner on the loop: the bytes to write (send), the bytes the reply must contain (--expect) */
      probe?: {timeoutMs: number; payload?: Uint8Array; expect?: Uint8Array}
      /** false: every connect comes back as a record, none is tallied in the loop (default true) */
      tally?: boolean
    },
    onFinished?: () => void,
  ): NativeRunHandle
  /** SCHEDULE_FIELDS numbers per start: ms after the run's start, source index (−1: none), source port */
  feed(run: NativeRunHandle, starts: Float64Array): number
  begin(run: NativeRunHandle, t0Us: number): boolean
  drain(run: NativeRunHandle, out: Float64Array): number
  progress(run: NativeRunHandle, out: Float64Array): void
  /**
   * What the loop tallied since the last take: TALLY_FIELDS numbers per entry (kind, value, count);
   * −(entries needed) when `out` cannot hold the first tally waiting (it goes whole or not at all).
   */
  take(run: NativeRunHandle, out: Float64Array): number
  /** The entries take() would hand over for these latencies (µs), by the loop's own code: for the tests. */
  tallyLatencies(values: Float64Array): Float64Array
  stop(run: NativeRunHandle): void
  join(run: NativeRunHandle): void
  /** LISTEN sockets of this network namespace, as ss reads them; null when sock_diag is unusable */
  /** drops: the listener's sk_drops (docs/kernel.md §14); absent from an addon built before it */
  listenQueues(family: 4 | 6): {host: string; port: number; queueLength: number; backlog: number; v6only: boolean; drops?: number | null}[] | null
  /** TCP_INFO of a socket's descriptor (native/tcp-info.c); null when fd is no TCP socket */
  tcpInfo(fd: number): TcpInfo | null
  /** tcpi_total_retrans alone (no object made: the engine calls it once per connect); null as tcpInfo */
  synRetransmits(fd: number): number | null
  /**
   * `connstorm watch`'s sampling thread (native/watch-sampler.c): the first sample is taken before
   * it returns; null when sock_diag cannot be used. Absent from an addon built before it.
   */
  watchStart?(options: {port: number; intervalMs: number; durationMs: number; counters: readonly string[]}): NativeWatchHandle | null
  /** The samples taken since the last drain, oldest first; listeners null: the same as the sample before. */
  watchDrain?(sampler: NativeWatchHandle): NativeWatchSample[]
  /** Ends the thread (at once when interrupt; else at its deadline, just ahead) and says why it ended. */
  watchStop?(sampler: NativeWatchHandle, interrupt: boolean): 'duration' | 'interrupted'
  constants: {
    ABI: number
    RECORD_FIELDS: number
    PROGRESS_FIELDS: number
    SCHEDULE_RING: number
    SCHEDULE_FIELDS: number
    OUTCOME_TIMEOUT: number
    OUTCOME_PENDING: number
    CLOSE_RST: number
    CLOSE_FIN: number
    CLOSE_HOLD: number
    /** record field 5 when no probe ran; ≥ 0 is the index in PROBE_OUTCOMES */
    PROBE_NONE: number
    /** record field 5 of a probe still waiting when the run was stopped */
    PROBE_PENDING: number
    TALLY_FIELDS: number
    TALLY_START_LAG: number
    TALLY_FROM_INTENDED: number
    TALLY_FROM_ACTUAL: number
    TALLY_TIMELINE: number
    TALLY_LATE_STARTS: number
    TALLY_FIRST_BYTE: number
    TALLY_RESPONSE_AFTER_CONNECT: number
    TALLY_ACCEPT_WAIT: number
    TALLY_RETRANSMITTED: number
    TALLY_MAX_RETRANSMITS: number
    TALLY_KINDS: number
    TALLY_TIMELINE_FAILED: number
    TALLY_FAILED_BASE: number
  }
}

/**
 * What TCP_INFO says of one socket. A field the running kernel does not fill (the length it copied
 * stops short of it) is null, never 0: the RTO counts exist since Linux 6.7.
 */
export interface TcpInfo {
  /** tcpi_total_retrans: after a connect, its SYN retransmits (docs/kernel.md) */
  totalRetrans: number | null
  totalRto: number | null
  totalRtoRecoveries: number | null
  /** ms spent in retransmission timeouts */
  totalRtoTimeMs: number | null
  segsOut: number | null
  segsIn: number | null
  /** tcpi_state: 1 established, 2 SYN-SENT, 7 closed … */
  state: number | null
  /**
   * tcpi_last_ack_recv: ms since the last ACK arrived (jiffies: 4 ms steps at HZ=250). Read right
   * after accept(), the time the connection waited in the accept queue (docs/kernel.md §10).
   * Absent from an addon built before it.
   */
  lastAckRecvMs?: number | null
  /** bytes the kernel copied */
  length: number
}

/** One tick of the watch's sampling thread: a listener row as native/listen-queues.c reads it. */
export interface NativeWatchSample {
  /** wall clock, whole ms since the epoch */
  t: number
  listeners: {host: string; port: number; family: 4 | 6; recvQ: number; sendQ: number; v6only: boolean; drops: number | null}[] | null
  /** the counters asked for that the kernel has, when this sample keeps them */
  counters?: Record<string, number>
}

declare const nativeWatch: unique symbol
/** A watch's sampling thread, owned by the addon (stopped and freed when garbage-collected). */
export type NativeWatchHandle = {readonly [nativeWatch]: true}

declare const nativeRun: unique symbol
/** A connect loop's run, owned by the addon (freed when garbage-collected). */
export type NativeRunHandle = {readonly [nativeRun]: true}

const ADDON_PATH = fileURLToPath(new URL('../../build/Release/connstorm.node', import.meta.url))
/** native/addon.h's ADDON_ABI: a build/ from before the last change of shape is not used. */
const ADDON_ABI = 10

function load(): NativeAddon | null {
  const path = process.env.CONNSTORM_SOCKET_PATH
  if (path === 'net' || path === 'handle') return null
  return loadBuilt()
}

function loadBuilt(): NativeAddon | null {
  // CONNSTORM_ADDON=off: as if it had not been built (docs/guide.md), so that a machine without a
  // compiler can be tried on one with one.
  if (process.env.CONNSTORM_ADDON === 'off') return null
  if (!existsSync(ADDON_PATH)) return null
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon
    // Stale (built before a pull, and npm ci not run since): JavaScript would misread it.
    return addon.constants?.ABI === ADDON_ABI ? addon : null
  } catch {
    return null // built for another Node, say: the JavaScript paths do the same jobs
  }
}

/** The `code` of the errors the addon throws (native/addon.h). */
export const NATIVE_ERROR_CODE = 'ERR_CONNSTORM_NATIVE'

/** The addon, or null where it is not built, does not load, or is turned off. */
export const nativeAddon: NativeAddon | null = load()

/**
 * The addon's TCP_INFO reader, or null where the addon is not built or does not load. Unlike
 * `nativeAddon`, CONNSTORM_SOCKET_PATH=handle or net does not turn it off: those paths make their
 * connects in JavaScript and still read the kernel's count of each one's SYN retransmits with it.
 * Without it the counts are absent and the attribution is inferred from latency.
 */
export const tcpInfoReader: Pick<NativeAddon, 'tcpInfo' | 'synRetransmits'> | null = nativeAddon ?? loadBuilt()
