/**
 * The result file, schema version 1, as types only: the bottom of the dependency graph. The
 * engine writes it, analysis reads and completes it, reports render it; this file imports
 * nothing from any of them (the layer rule in test/unit/layers.test.ts keeps it so).
 * Later versions add keys; the keys here stay as they are. Latencies are µs; histograms are
 * HdrHistogram compressed base64. docs/result-schema.md describes every field.
 */
import type {Plan} from '../plan/plan.js'
import type {LatencySummary} from './histogram.js'
import type {Outcome, ProbeOutcome} from './outcome.js'
import type {StormSysctl} from './sysctls.js'
import type {TimelineData} from './timeline.js'

export interface StormResult {
  schemaVersion: 1
  tool: {name: string; version: string}
  startedAt: string
  target: {host: string; port: number; family: 4 | 6; lab: boolean; requested: string}
  lab?: LabInfo
  plan: {
    mode: Plan['mode']
    connects: number
    burst?: number
    rate?: number
    durationMs?: number
    waves?: number
    intervalMs?: number
    concurrency: number
    timeoutMs: number
    close: Plan['close']
    maxDurationMs: number
    shard?: Plan['shard']
    startAt?: string
    workers?: number
    sources?: string[]
  }
  counts: {
    attempted: number
    connected: number
    failed: number
    pending: number
    notStarted: number
    byOutcome: Record<Outcome, number>
    otherErrnos: Record<string, number>
    kernelTimeouts: number
    /**
     * The kernel's own count (TCP_INFO) of each connect's SYN retransmits; absent (or null) when the
     * run could not read it (no native addon) and in files from before it was recorded
     */
    countedRetransmits?: CountedRetransmits | null
    /**
     * Of the connected, those the peer reset before the client saw the connect complete (ECONNRESET
     * from connect(): the handshake had completed, results/outcome.ts); absent when none, and in older files, where
     * such connects were counted in byOutcome.reset
     */
    connectedThenReset?: number
  }
  latencyUs: {fromIntended: LatencySummary; fromActual: LatencySummary; failedFromActual: LatencySummary}
  histograms: {fromIntended: string; fromActual: string; failedFromActual: string; failedEarlyFromActual: string}
  self: {
    /** null when the run was too short for a sample */
    eventLoopDelayUs: LoopDelayUs | null
    lateStarts: number
    lateStartThresholdUs: number
    startLagUs: LatencySummary
    /** --start-at: how late the first connect's clock started after the asked instant, ms */
    startSkewMs?: number
    /** --workers N > 1: each thread's starts, late starts and event-loop delay, in thread order */
    workers?: WorkerSelf[]
    /** which code made the connects (absent in results from before it was recorded) */
    connectPath?: ConnectPath
    /** why that code, in words (e.g. the native addon is not built); absent in older results */
    connectPathWhy?: string
  }
  durationMs: number
  /** connect starts per second over the start window (for a burst: how fast it was fired) */
  achievedRate: number
  startWindowMs: number
  partial: boolean
  stopReason: StopReason
  /** connects completed and failed per time bin since the start (bounded: ≤ 600 bins) */
  timeline?: TimelineData
  /** --close hold: connections still open when the run ended */
  heldAtEnd: number
  /** the SYN retransmit schedule of the kernel that ran the storm (null: its sysctls were unknown) */
  ladder: LadderRecord | null
  /** connected connects put on ladder steps from their latency from actual start */
  attribution: Attribution | null
  /** what the kernel showed; null when the storm ran without looking (e.g. another OS) */
  kernel: (KernelObservation & {corroborated: boolean | null; corroboration: Corroboration | null}) | null
  /** --probe: what happened on each connection after it connected */
  probe?: ProbeResult
  /** --probe: connects admitted by the kernel but answered ≥ 200 ms later */
  acceptWait?: {admittedNotAccepted: number; delayUs: {p50: number; p99: number; max: number}}
  /** which mechanism explains what happened after the SYN got through: accept wait, resets … */
  afterConnect?: AfterConnectVerdict
  /** sizing advice, as printed at the end of the run */
  recommendations?: Recommendation[]
  advice?: AdviceSummary & {inputs: AdviceInputs}
  /** --verify: the same plan re-run with the advice applied */
  verification?: Verification
  /** --threshold: each expression, whether it held, and the measured value */
  thresholds?: ThresholdOutcome[]
  /** what the pre-flight read on this machine (open files, port range) and any problems --force overrode */
  clientLimits?: ClientLimits
  /** the target's accept queue (and its listener's drops) over the run, when a sampler saw it: the storm's own or the server's watch */
  queueTimeline?: QueueTimeline
}

/**
 * The accept queue over the run: a point for the first read, one for each read where the queue
 * or the drops changed, and one for the last read — a length holds until the next point.
 */
export interface QueueTimeline {
  /** 'storm': the storm's own sampler (a listener on its machine, in its namespace); 'server': a watch on the listener's host (kernel.serverEvidence) */
  source: 'storm' | 'server'
  /** the listener's effective backlog: its queue is full at effectiveBacklog + 1 (docs/kernel.md §6); null when unknown */
  effectiveBacklog: number | null
  /** how often the sampler read the queue, ms */
  intervalMs: number
  /** [ms since startedAt, the longest accept queue of the matching listeners, their own drops (sk_drops) since the first point, or null when unread]; the first point is at or before 0 */
  points: [number, number, number | null][]
  /** the queue changed more often than the file keeps (5000 points, the schema's maxItems): the points stop before the run's end */
  truncated?: boolean
}

/**
 * The sections of a result that are computed from the rest, never measured: analysis/diagnose.ts
 * is the one place that writes them, for a live run and a saved one alike.
 */
export type DiagnosisSection = 'ladder' | 'attribution' | 'afterConnect' | 'recommendations' | 'advice' | 'thresholds'

/** What a run measured (and the inputs it was given): a result before its diagnosis, or any saved result. */
export type Measurement = Omit<StormResult, DiagnosisSection | 'kernel'> & {kernel: KernelObservation | null}

/** What the built-in lab target was told to do and what it reported when it stopped. */
export interface LabInfo {
  backlog: number
  effectiveBacklog: number | null
  somaxconn: number | null
  stallMs: number
  stallEveryMs: number | null
  stallForMs: number | null
  acceptRate: number | null
  onAccept: string
  handlerDelayMs: number
  /** connections the lab accept()ed, from its own exit report (null if it did not report) */
  accepted: number | null
  /** how long each accepted connection waited in the accept queue, as the lab read it at accept(); absent in older files, null without the addon */
  acceptWait?: LabAcceptWait | null
}

/**
 * The lab's own measure of its accept-queue wait: TCP_INFO tcpi_last_ack_recv of each accepted
 * socket read right after accept() (ms since the handshake's ACK: ms steps, docs/kernel.md §10).
 */
export interface LabAcceptWait {
  /** accepted connections whose wait was read */
  measured: number
  /** the waits, µs (whole ms), as an HDR histogram (results/histogram.ts) */
  histogramUs: string
  /** tcpi_total_rto of each accepted socket — its SYN-ACK retransmits — as retransmits → connections; null where the kernel lacks it (< 6.7) */
  synAckRetransmits: Record<string, number> | null
}

export type StopReason = 'completed' | 'deadline' | 'interrupted'

/** Which code made the connects: the native loop's thread, bare TCP handles, or net.Socket. */
export type ConnectPath = 'native' | 'handle' | 'net'

/** The load generator's own event-loop delay over a run, µs. */
export interface LoopDelayUs {
  p50: number
  p99: number
  max: number
}

/** What one --workers thread saw of itself: its event loop can lag while the others' do not. */
export interface WorkerSelf {
  attempted: number
  lateStarts: number
  eventLoopDelayUs: LoopDelayUs | null
  connectPath?: ConnectPath
}

export interface LadderRecord {
  synRetries: string
  linearTimeouts: string
  sendTimesMs: number[]
  giveUpMs: number
}

/** Per outcome (and `pending`, still connecting at a stop): retransmits → connects. */
export interface CountedRetransmits {
  byOutcome: Partial<Record<Outcome | 'pending', Record<string, number>>>
  /** connects whose count could not be read (no SYN left, or the socket was closed before, e.g. a net.Socket's failure) */
  notCounted: number
  /** connected connects' latency from the actual start per counted retransmits (k → histogram): the cross-check with the latency windows */
  connectedFromActual?: Record<string, string>
}

export interface StepCount {
  retransmits: number
  /** nominal send time of the SYN that got through */
  atMs: number
  connects: number
  /** of all connects that finished (connected or failed) */
  share: number
  observedMedianMs: number
  /** 'counted': the kernel's own count of each connect's retransmits (TCP_INFO); 'inferred': its latency's window (absent in older files: inferred) */
  source?: 'counted' | 'inferred'
}

export interface Attribution {
  steps: StepCount[]
  /**
   * timed-out connects: every SYN the kernel sent before our timeout was dropped. Counted: exactly
   * `retransmits` (atLeastRetransmits the same), `synsSent` = retransmits + 1 SYNs left
   */
  timedOut: {atLeastRetransmits: number; connects: number; retransmits?: number; synsSent?: number; source?: 'counted' | 'inferred'}[]
  /**
   * connects still waiting when the run stopped, with the retransmits they had surely sent by then
   * (absent in files written before connstorm reported it)
   */
  pending?: {atLeastRetransmits: number; connects: number}[]
  /** connects that failed early (refused, reset …) after k retransmits: a RST answering the k-th SYN */
  failedSteps: {retransmits: number; connects: number}[]
  /** connected, but far from every ladder step: slowness that is not SYN loss */
  betweenSteps: {connects: number; share: number; observedMedianMs: number | null}
  /** Σ k·n_k over connected connects plus the retransmits of timed-out ones */
  expectedSynRetrans: number
  /** true when a timeout fell inside a step's window, so the retransmits of timed-out connects are a lower bound */
  expectedIsLowerBound: boolean
  rttAllowanceMs: number
  /** where the steps come from: the kernel's count per connect, or latency windows (absent in older files: inferred) */
  source?: 'counted' | 'inferred'
  /**
   * counted only: connected connects whose latency window names another step than their count
   * (latencyStep null: between steps), grouped; empty when every latency agrees with its count
   */
  disagreements?: {countedRetransmits: number; latencyStep: number | null; connects: number; observedMedianMs: number}[]
}

/** What the kernel showed during the run (src/kernel readers); only plain data, so it can be saved. */
export interface KernelObservation {
  /** 'isolated': a namespace connstorm made for this run; 'shared': the namespace it ran in; 'unknown': no /proc */
  netns: 'isolated' | 'shared' | 'unknown'
  /** sysctl name → value as the kernel prints it, or 'unknown' */
  sysctls: Record<string, string>
  /** nstat name → after − before, or null when the counters could not be read */
  counterDeltas: Record<string, number> | null
  /** the target's listener, when it is on this machine and in this namespace */
  listener: {
    effectiveBacklog: number | null
    peakQueue: number | null
    samples: number
    source: 'netlink' | 'ss' | 'proc'
    /** the listener's own sk_drops, after − before the storm (docs/kernel.md §14); null: unread; absent in older results */
    drops?: number | null
    /**
     * Several sockets listening on the target's address and port (SO_REUSEPORT, docs/kernel.md §16):
     * the kernel hashes each connect to one of them, so each queue holds its own share. Each member's
     * effective backlog and drops (after − before, null: unread) in the kernel's dump order; then
     * effectiveBacklog is the first member's, peakQueue the longest queue of any member and drops
     * the group's sum. Absent for a single listener and in older results.
     */
    reusePort?: {effectiveBacklogs: (number | null)[]; drops: (number | null)[]}
  } | null
  /** --link-rate: packets toward the lab were paced at this rate inside the isolated namespace */
  linkRate?: string
  /** the server's side, seen on its own host (`connstorm watch`, given with --server-evidence); absent without it */
  serverEvidence?: ServerEvidence
  /**
   * Handshakes of other traffic under way in the namespace when the storm's counter window opened
   * (docs/kernel.md §17): their retransmits fall inside the window, so the counters are shared.
   * Absent when not read (an isolated namespace has no other traffic) and in older results.
   */
  handshakesAtStart?: {synSent: number; synRecv: number}
}

export interface Corroboration {
  /** true/false: the counters agree or not; null: no verdict possible (the reason says why) */
  corroborated: boolean | null
  expected: number
  observed: number | null
  reason: string
  /** the target listener's own drops during the storm, when the verdict also rests on them (docs/kernel.md §14) */
  listenerDrops?: number
  /** why the namespace counters gave no verdict, when the listener's drops gave it alone */
  countersReason?: string
  /**
   * connects that gave up or were cut off with every SYN unanswered: each one's last SYN was dropped
   * by the listener too, without a retransmit after it (docs/kernel.md §14); absent in older results
   */
  unansweredLastSyns?: number
}

export type ProbeKind = 'none' | 'send' | 'banner' | 'http' | 'tls' | 'https'

export interface ProbeResult {
  kind: ProbeKind
  description: string
  timeoutMs: number
  /** certificate verification was off: said loudly in the report */
  insecure: boolean
  expect: string | null
  outcomes: Record<ProbeOutcome, number>
  httpStatus: Record<string, number>
  errorCodes: Record<string, number>
  pending: number
  latencyUs: {firstByte: LatencySummary; tlsHandshake: LatencySummary; httpHeaders: LatencySummary; responseAfterConnect: LatencySummary}
  /** HdrHistogram compressed base64, µs; firstByte, tlsHandshake and httpHeaders from the intended start */
  histograms: {firstByteUs: string; tlsHandshakeUs: string; httpHeadersUs: string; responseAfterConnectUs: string}
}

export type AfterConnectMechanism = 'ackDropped' | 'slowApplication' | 'acceptWaitUnattributed' | 'abortOnOverflow' | 'resetAfterConnect' | 'applicationReset'

export interface AfterConnectVerdict {
  mechanisms: AfterConnectMechanism[]
  /** plain words, for the verdict line; null when nothing happened after connect */
  sentence: string | null
}

export interface Recommendation {
  /** 'backlog', 'net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog', … */
  knob: string
  /** as read ('unknown' when it could not be) */
  current: string
  /** null: keep the current value */
  proposed: string | null
  /** numbers from this run that the proposal rests on */
  evidence: string[]
  /** the exact lines to apply */
  lines: string[]
  /**
   * Set when this run showed none of the pressure the change relieves: the proposal follows from
   * the sizing model alone, and this says why it is still made (absent: the run's evidence backs it).
   */
  modelOnly?: string
}

/** The advice as saved beside its recommendations. */
export interface AdviceSummary {
  /** the sizing model in one sentence, with this run's numbers in it */
  model: string
  /** connects the queue must hold (before headroom); null when the run showed no queue trouble */
  neededQueue: number | null
  proposedBacklog: number | null
  /** when a bigger queue cannot help: the arithmetic, and what to do instead */
  notTheFix: string | null
  warnings: string[]
  /** true when a fact the advice rests on was unknown (sysctls unreadable, no listener seen) */
  unverified: boolean
}

/** What the advice was computed with, so that `analyze` can compute it again. */
export interface AdviceInputs {
  acceptStallMs: number | null
  server: string | null
}

/** The figures compared before and after the advice was applied. */
export interface RunFigures {
  /** ladder step k → connects that needed k SYN retransmits */
  connectsPerStep: Record<string, number>
  timedOut: number
  p99Us: number
  maxUs: number
  listenOverflows: number | null
}

export interface Verification {
  /** true only when the re-run showed no SYN retransmit caused by the queue */
  verified: boolean
  reason: string
  backlog: number | null
  somaxconn: number | null
  before: RunFigures
  after: RunFigures | null
}

export type ThresholdUnit = 'us' | 'percent' | 'count' | 'per-second'

export interface ThresholdOutcome {
  expr: string
  held: boolean
  /** the measured value in `unit`; null when this run could not measure it (then held is false) */
  value: number | null
  unit: ThresholdUnit
  /** the measured value in human form: '183 ms', '0.4 %', '12', '1990/s', '≥ 3', 'unknown' */
  display: string
}

/** What the pre-flight reads on this machine before a run (kernel/preflight.ts). */
export interface PreflightFacts {
  /** this process's soft RLIMIT_NOFILE (Node raises it to the hard limit at start-up) */
  openFiles: number | null
  portRange: [number, number] | null
  twReuse: string | null
  conntrackMax: number | null
}

/** What the pre-flight read before the run (the same facts the refusal lines are built from). */
export interface ClientLimits {
  /** this process's open-file limit (soft = hard once Node has started) */
  openFiles: number | null
  portRange: [number, number] | null
  /** problems the pre-flight found and --force overrode */
  problems: string[]
}

/** The SYN retransmit schedule of one kernel (analysis/ladder.ts computes it from its sysctls). */
export interface SynLadder {
  synRetries: number
  linearTimeouts: number
  initialRtoMs: number
  /** sendTimesMs[0] = 0 is the original SYN; sendTimesMs[k] is the k-th retransmit (nominal) */
  sendTimesMs: number[]
  /** when connect() fails with ETIMEDOUT if no SYN got through (nominal) */
  giveUpMs: number
  /** the budget set by synRetries that the give-up time is the first RTO expiry at or after */
  budgetMs: number
}

/**
 * A listening TCP socket of this network namespace. recvQ is its accept-queue length right now
 * (it reads backlog + 1 when the queue is full); sendQ is its effective backlog,
 * min(backlog, somaxconn) taken at listen() time, known only from netlink sock_diag, which is
 * what ss reads too (docs/kernel.md §6), and not from /proc.
 * host is the bound address as ss shows it, unbracketed: '0.0.0.0', '::', '::1',
 * '::ffff:127.0.0.1', or '*' for a dual-stack IPv6 socket on :: that also accepts IPv4.
 */
export interface ListenerInfo {
  host: string
  port: number
  family: 4 | 6
  recvQ: number
  sendQ: number | null
}

/** Where listeners were read: netlink and ss show the effective backlog, /proc only the queue. */
export type ListenerSource = 'netlink' | 'ss' | 'proc'

/** `connstorm inspect --json`: a port's listeners and the kernel's settings around it. */
export interface Inspection {
  port: number
  host: string | null
  listeners: ListenerInfo[]
  /** where the listeners were read: ss shows the effective backlog, /proc only the queue */
  listenerSource: ListenerSource | 'unknown'
  sysctls: {name: StormSysctl; value: string; meaning: string; path: string}[]
  ladder: SynLadder | null
  /** absolute values since boot, in this network namespace (nstat names); null when unreadable */
  counters: Record<string, number> | null
}

/**
 * `connstorm watch --out`: a listener's queue, backlog and drops, and its namespace's TCP
 * counters, over time, as seen on the server's host (schema/watch-v1.schema.json). Times are
 * wall clock, ms since the epoch, so that the file can be laid beside a storm run elsewhere.
 */
export interface WatchFile {
  kind: 'watch'
  schemaVersion: 1
  tool: {name: string; version: string}
  /** what was watched: the port, and the bound address when one was given */
  port: number
  host: string | null
  intervalMs: number
  /** wall clock of the first and last sample, ms since the epoch */
  startedAtMs: number
  endedAtMs: number
  stopReason: 'duration' | 'interrupted'
  /** where the listeners were read: netlink sock_diag, or `ss -ltnmH` without the addon */
  source: 'netlink' | 'ss'
  /** the storm sysctls of the watched namespace, as the kernel prints them, or 'unknown' */
  sysctls: Record<string, string>
  samples: WatchSample[]
  /** the watcher's own CPU time (user + system) over its wall time */
  watcher: {cpuUs: number; wallMs: number}
}

export interface WatchSample {
  /** wall clock, ms since the epoch */
  t: number
  /** the listeners matching the port (and host): empty while none listens */
  listeners: (ListenerInfo & {drops: number | null})[]
  /** the namespace's counters (absolute, nstat names): on the first and last sample and whenever one moved */
  counters?: Record<string, number>
}

/**
 * A watch file laid over a storm's window (analysis/server-evidence.ts): what the server's host
 * saw while the storm ran. With it, kernel.listener is the watched listener, and the server-side
 * sysctls in kernel.sysctls (sysctlsFromServer) are the server's.
 */
export interface ServerEvidence {
  /** the storm's window and the watch's, wall clock ms since the epoch, and the samples taken from the watch */
  stormWindow: {fromMs: number; toMs: number}
  watchWindow: {fromMs: number; toMs: number}
  /** the first and last watch sample used: the last at or before the storm's start, the first at or after its end */
  used: {fromMs: number; toMs: number; samples: number; intervalMs: number; source: 'netlink' | 'ss'}
  /** how the two clocks were assumed to relate */
  clock: string
  /** the watched listener during the storm: longest queue, its effective backlog, its own drops (sk_drops) */
  listener: {port: number; peakQueue: number | null; effectiveBacklog: number | null; drops: number | null}
  /** the server namespace's counters, after − before (nstat names; TCPSynRetrans there counts SYN-ACK retransmits) */
  counterDeltas: Record<string, number>
  /** the server's sysctls as the watch read them */
  sysctls: Record<string, string>
  /** the names in kernel.sysctls that were replaced by the server's values */
  sysctlsFromServer: string[]
}
