import type {AdviceSummary, Recommendation, StormResult} from '../results/format.js'
import {type ListenerGroup, listenerGroup, observedShares, shareBound} from './reuseport.js'
import {listenerHostCounters} from './server-evidence.js'
import type {ServerProfile} from './servers.js'

/**
 * Sizing advice for the accept queue and the kernel knobs around it, from one run's results and
 * the kernel facts read during it. Pure: a saved result gives the same advice as the live run.
 *
 * The model, stated in the output as the model it is: the accept queue must hold every connect
 * that arrives while the application is not accepting — a burst's size, or the arrival rate × the
 * longest accept stall — plus headroom; the kernel admits backlog + 1, so backlogs are rounded to
 * 2^n − 1 (511, 1023, 2047 …) as nginx, Redis and Node do.
 */

export const HEADROOM = 1.25
const SYSCTL_FILE = '/etc/sysctl.d/90-connstorm.conf'

/** The advice of one run: what is saved (summary and recommendations) and the numbers --verify applies. */
export interface Advice extends AdviceSummary {
  recommendations: Recommendation[]
  /** the somaxconn the advice asks for, as a number (null: keep it); not saved, --verify applies it */
  proposedSomaxconn: number | null
}

export interface AdviceOptions {
  /** --accept-stall: the longest pause in accept() the user knows of (GC, event loop), ms */
  acceptStallMs?: number
  /** lines for the application backlog in a server's syntax (from --server); generic when absent */
  backlogLines?: (backlog: number) => string[] | null
  /** the server's note on how a new backlog / somaxconn takes effect */
  applyNote?: string
  serverName?: string
  /** for a server without a backlog setting: what to do instead */
  withoutKnob?: string
}

/** The advice options for a server profile (--server) and a known accept stall (--accept-stall). */
export function adviceOptionsFor(server: ServerProfile | undefined, acceptStallMs: number | null): AdviceOptions {
  return {
    ...(acceptStallMs === null ? {} : {acceptStallMs}),
    ...(server
      ? {backlogLines: (backlog: number) => server.backlogLines(backlog), applyNote: server.applyNote, serverName: server.name, withoutKnob: server.withoutKnob}
      : {}),
  }
}

/** The largest backlog listen() takes (an int); somaxconn is an int too. */
export const MAX_BACKLOG = 2 ** 31 - 1

/** Smallest 2^n − 1 whose queue (backlog + 1) holds `connects`, at most MAX_BACKLOG. */
export function roundUpBacklog(connects: number): number {
  let queue = 2
  while (queue < connects && queue <= MAX_BACKLOG) queue *= 2
  return Math.min(queue - 1, MAX_BACKLOG)
}

interface QueueEvidence {
  /** connects delayed by SYN loss: on a retransmit step, or timed out */
  delayed: number
  timedOut: number
  maxRetransmits: number
  /** connects admitted at once */
  immediate: number
  effectiveBacklog: number | null
  peakQueue: number | null
  /** the port's SO_REUSEPORT group, when several sockets listen on it (docs/kernel.md §16) */
  group: ListenerGroup | null
  /** each group member's drops during the run (null: unread) */
  memberDrops: (number | null)[]
}

function queueEvidence(result: StormResult): QueueEvidence {
  // Stryker disable next-line ArrayDeclaration: a placeholder element has no retransmits, so it is neither on a step nor immediate
  const steps = result.attribution?.steps ?? []
  const onSteps = steps.filter((step) => step.retransmits > 0)
  const timedOut = result.attribution?.timedOut.reduce((sum, group) => sum + group.connects, 0) ?? 0
  const listener = result.kernel?.listener
  return {
    delayed: onSteps.reduce((sum, step) => sum + step.connects, 0) + timedOut,
    timedOut,
    // Stryker disable next-line ArrayDeclaration: without an attribution a placeholder makes the max NaN, and sendTimes[NaN] is no send time, exactly as sendTimes[−1] for 0
    maxRetransmits: Math.max(0, ...onSteps.map((step) => step.retransmits), ...(result.attribution?.timedOut.map((group) => group.atLeastRetransmits) ?? [])),
    immediate: steps.find((step) => step.retransmits === 0)?.connects ?? 0,
    effectiveBacklog: listener?.effectiveBacklog ?? result.lab?.effectiveBacklog ?? null,
    peakQueue: listener?.peakQueue ?? null,
    group: listenerGroup(listener),
    memberDrops: listener?.reusePort?.drops ?? [],
  }
}

/**
 * One SO_REUSEPORT member's share of `connects`: the hash's four-sigma bound, or the largest share
 * this run's drops show when that is more (a skewed hash, docs/kernel.md §16).
 */
function groupShare(connects: number, evidence: QueueEvidence): {connects: number; why: string} {
  const group = evidence.group!
  const bound = shareBound(connects, group.listeners)
  const shares = observedShares(group, evidence.memberDrops, evidence.delayed)
  const largest = shares === null ? null : Math.max(...shares)
  const seen =
    shares === null
      ? ''
      : `; this run's shares, from each listener's drops: ${shares.join(', ')} (largest ${largest} against ${round(connects / group.listeners)} on average)` +
        (largest! > bound ? `, more skewed than the bound: sized for ${largest}` : '')
  const why = `≤ ${bound} (${round(connects / group.listeners)} on average + 4 standard deviations of the hash's spread)${seen}`
  return {connects: Math.max(bound, largest ?? 0), why}
}

/** The longest accept stall we can stand behind, and where it comes from. */
function acceptStall(result: StormResult, options: AdviceOptions, evidence: QueueEvidence): {ms: number; source: string} | null {
  if (options.acceptStallMs !== undefined) return {ms: options.acceptStallMs, source: 'given with --accept-stall'}
  const lab = result.lab
  if (lab) {
    const labStall = Math.max(lab.stallMs, lab.stallForMs ?? 0)
    if (labStall > 0) return {ms: labStall, source: 'the lab was told to stall'}
  }
  // A connect that needed k retransmits found the queue still full when retransmit k−1 left. With
  // no retransmit (k = 0) the index is −1: no send time, so no stall; nor without a ladder.
  const sendTimes = result.ladder?.sendTimesMs
  const atLeast = sendTimes?.[Math.min(evidence.maxRetransmits - 1, sendTimes.length - 1)] ?? 0
  if (atLeast > 0) return {ms: atLeast, source: `inferred: a connect needed ${evidence.maxRetransmits} SYN retransmits, so the queue was still full ${atLeast / 1000} s in`}
  return null
}

/** Connect arrivals per second the plan offered while it ran (null for a single burst). */
function offeredRate(result: StormResult): number | null {
  const {plan} = result
  if (plan.mode === 'rate') return plan.rate ?? null
  // Stryker disable next-line ConditionalExpression,LogicalOperator: only waves plans carry intervalMs, always > 0 (buildPlan refuses --interval 0); a burst plan let through gets rate NaN, which fails every comparison below and sorts after the burst as a tie
  if (plan.mode === 'waves' && plan.intervalMs) return (plan.burst! * 1000) / plan.intervalMs
  return null
}

export function recommend(result: StormResult, options: AdviceOptions = {}): Advice {
  const evidence = queueEvidence(result)
  const sysctls = result.kernel?.sysctls ?? {}
  const read = (name: string): string => sysctls[name] ?? 'unknown'
  const warnings: string[] = []
  const recommendations: Recommendation[] = []
  const unknownFacts = [
    'net.core.somaxconn',
    'net.ipv4.tcp_syn_retries',
    'net.ipv4.tcp_syn_linear_timeouts',
    'net.ipv4.tcp_max_syn_backlog',
    'net.ipv4.tcp_syncookies',
    'net.ipv4.tcp_abort_on_overflow',
  ].filter((name) => read(name) === 'unknown')
  let unverified = unknownFacts.length > 0 || result.attribution === null
  if (unknownFacts.length > 0) warnings.push(`unverified: ${unknownFacts.join(', ')} could not be read on this machine; the advice assumes Linux defaults nowhere and states only what was measured`)

  const rate = offeredRate(result)
  const stall = acceptStall(result, options, evidence)
  const burst = result.plan.burst ?? null
  const fromRate = rate !== null && stall !== null ? Math.ceil((rate * stall.ms) / 1000) : null
  const candidates = [burst === null ? null : {connects: burst, why: `a burst of ${burst} connects arrives at once`}]
  if (fromRate !== null) candidates.push({connects: fromRate, why: `${round(rate!)} connects/s × ${stall!.ms / 1000} s accept stall (${stall!.source}) = ${fromRate}`})
  const need = candidates.filter((candidate) => candidate !== null).sort((a, b) => b.connects - a.connects)[0] ?? null

  const queueTrouble =
    evidence.delayed > 0 ||
    (evidence.effectiveBacklog !== null &&
      // Stryker disable next-line ConditionalExpression: a null peak compares as 0, never above a backlog (≥ 0)
      evidence.peakQueue !== null &&
      evidence.peakQueue > evidence.effectiveBacklog)
  const share = need && evidence.group ? groupShare(need.connects, evidence) : null
  const neededQueue = queueTrouble && need ? share?.connects ?? need.connects : null
  const sizedBacklog = neededQueue === null ? null : roundUpBacklog(Math.ceil(neededQueue * HEADROOM))
  let model =
    need === null
      ? 'model: the accept queue (backlog + 1) must hold every connect that arrives while the application is not accepting; this run gives no arrival count to size it by'
      : `model: the accept queue (backlog + 1) must hold every connect that arrives while the application is not accepting — here ${need.why}` +
        (share ? `, hashed over ${evidence.group!.listeners} SO_REUSEPORT listeners: each queue must hold its share, ${share.why}` : '') +
        `; with ${Math.round((HEADROOM - 1) * 100)} % headroom, rounded up to 2^n − 1 because the kernel admits backlog + 1`

  // A queue only buys time: if accepts are slower than arrivals for the whole run, it fills anyway.
  let notTheFix: string | null = null
  const acceptRate = result.lab?.acceptRate ?? null
  if (
    acceptRate !== null &&
    // Stryker disable next-line ConditionalExpression: with rate null, `acceptRate < rate` compares with 0, false for any accept rate (≥ 0)
    rate !== null &&
    acceptRate < rate
  ) {
    const growth = rate - acceptRate
    const example = sizedBacklog ?? 1023
    notTheFix =
      `accepts (${round(acceptRate)}/s) are slower than arrivals (${round(rate)}/s) for the whole run: the queue grows by ${round(growth)} connects/s, ` +
      `so any backlog fills (${example} in ${(example / growth).toFixed(1)} s) and a bigger one only turns SYN-retransmit delays into queueing delay. ` +
      'Raise accept throughput instead: more workers or processes, SO_REUSEPORT listeners, a faster accept loop (no blocking work in it)'
  } else if (
    result.plan.mode === 'rate' &&
    // Stryker disable next-line ConditionalExpression: a rate-mode plan always has a rate (buildPlan); the test only narrows the type
    rate !== null &&
    // with nothing attempted, 0 / 0 is NaN and fails the test: no verdict
    evidence.delayed / result.counts.attempted > 0.5
  ) {
    notTheFix =
      `${evidence.delayed} of ${result.counts.attempted} connects (${((evidence.delayed / result.counts.attempted) * 100).toFixed(0)} %) waited on SYN retransmits across a steady ${round(rate)}/s: ` +
      'the application likely accepts slower than that. If so, a bigger backlog only turns retransmit delays into queueing delay; measure its accept rate and raise accept throughput (workers, SO_REUSEPORT, a faster accept loop)'
  }

  // No queue size is proposed where a queue cannot help; everything below sizes for the proposal.
  const proposedBacklog = notTheFix === null ? sizedBacklog : null
  if (notTheFix !== null) model += '; it does not apply to this run: see "a bigger queue is not the fix"'
  const applyNote =
    options.applyNote ?? 'the kernel takes the backlog (capped by somaxconn) at listen() time: restart the service, or make it call listen() again, after changing either'
  // Every knob below reads server-side counters: the server's own when a watch saw them.
  const counters = listenerHostCounters(result.kernel) ?? {}
  const context: KnobContext = {result, options, read, counters, evidence, queueTrouble, proposedBacklog, wantedBacklog: proposedBacklog ?? evidence.effectiveBacklog, applyNote}
  let proposedSomaxconn: number | null = null
  for (const rule of KNOB_RULES) {
    const knob = rule(context)
    if (knob === null) continue
    warnings.push(...(knob.warnings ?? []))
    if (knob.recommendation) recommendations.push(knob.recommendation)
    if (knob.unverified) unverified = true
    if (knob.proposedSomaxconn !== undefined) proposedSomaxconn = knob.proposedSomaxconn
  }
  return {model, neededQueue: notTheFix === null ? neededQueue : null, proposedBacklog, recommendations, notTheFix, warnings, unverified, proposedSomaxconn}
}

/** What every knob rule reads: the run, the options, and the sizing decided above. */
interface KnobContext {
  result: StormResult
  options: AdviceOptions
  read: (sysctl: string) => string
  /** the nstat deltas of the run ({} when they could not be read) */
  counters: Record<string, number>
  evidence: QueueEvidence
  queueTrouble: boolean
  /** the backlog the sizing model proposes (null: none, or a bigger queue is not the fix) */
  proposedBacklog: number | null
  /** the backlog the kernel knobs must make room for: the proposed one, else the current one */
  wantedBacklog: number | null
  applyNote: string
}

/** One knob's part of the advice; null when the run gives it nothing to say. */
interface KnobAdvice {
  recommendation?: Recommendation
  warnings?: string[]
  /** a fact this knob rests on could not be read */
  unverified?: true
  /** net.core.somaxconn only: the value --verify applies */
  proposedSomaxconn?: number | null
}

type KnobRule = (context: KnobContext) => KnobAdvice | null

/** The knobs, in the order the advice lists them. */
const KNOB_RULES: readonly KnobRule[] = [backlogRule, somaxconnRule, synBacklogRule, syncookiesRule, abortOnOverflowRule, portRangeRule]

/** The application's listen() backlog, in the server's syntax when one was named. */
function backlogRule({result, options, counters, evidence, queueTrouble, proposedBacklog, applyNote}: KnobContext): KnobAdvice {
  const currentBacklog = evidence.effectiveBacklog
  const current = currentBacklog === null ? 'unknown' : String(currentBacklog)
  const backlogEvidence: string[] = []
  if (!queueTrouble) backlogEvidence.push('no connect waited for a SYN retransmit and the queue never filled')
  const group = evidence.group
  if (evidence.immediate > 0) {
    backlogEvidence.push(`${evidence.immediate} connects were admitted at once${admittedAtOnceMeaning(evidence)}`)
  }
  if (evidence.peakQueue !== null) {
    backlogEvidence.push(
      `peak accept queue ${evidence.peakQueue}/${currentBacklog ?? '?'}+1${currentBacklog !== null && evidence.peakQueue > currentBacklog ? ' (full)' : ''}` +
        (group ? ` on one of the ${group.listeners} listeners` : ''),
    )
  }
  // Stryker disable next-line ArrayDeclaration: a placeholder element has no retransmits, so no step sentence is made for it
  for (const step of result.attribution?.steps ?? []) {
    if (step.retransmits > 0) backlogEvidence.push(`${step.connects} connects waited ${step.retransmits} SYN retransmit${step.retransmits === 1 ? '' : 's'} (~${(step.observedMedianMs / 1000).toFixed(2)} s)`)
  }
  for (const group of result.attribution?.timedOut ?? []) {
    // Counted by the kernel (TCP_INFO), the number is exact; inferred from latency, a lower bound.
    const retransmits = group.retransmits === undefined ? `at least ${group.atLeastRetransmits}` : `exactly ${group.retransmits}`
    backlogEvidence.push(`${group.connects} timed out after ${retransmits} SYN retransmits`)
  }
  const overflows = counters.TcpExtListenOverflows
  if (overflows !== undefined) backlogEvidence.push(`TcpExtListenOverflows +${overflows}`)

  // Raise only above the backlog in use. No proposal counts as 0 (never above), an unknown backlog
  // as 0 (below any proposal, which is ≥ 1).
  const raiseTo = proposedBacklog ?? 0
  if (raiseTo <= (currentBacklog ?? 0)) {
    return {recommendation: {knob: 'backlog', current, proposed: null, evidence: backlogEvidence, lines: []}}
  }
  const serverLines = options.backlogLines?.(raiseTo)
  const lines =
    serverLines === undefined
      ? [`listen(fd, ${raiseTo})   # your server's backlog setting; --server NAME prints it in that server's syntax`]
      : serverLines ?? [`# ${options.withoutKnob ?? `${options.serverName ?? 'this server'} has no backlog setting of its own: raise net.core.somaxconn and restart it`}`]
  return {recommendation: {knob: 'backlog', current, proposed: String(raiseTo), evidence: backlogEvidence, lines: [...lines, `# ${applyNote}`]}}
}

/** What a count admitted at once says about the queue(s), when it is exactly their capacity. */
function admittedAtOnceMeaning({immediate, effectiveBacklog, group}: QueueEvidence): string {
  if (group === null) {
    return effectiveBacklog !== null && immediate === effectiveBacklog + 1 ? ` (= backlog ${effectiveBacklog} + 1 when the application is not accepting)` : ''
  }
  const sum = group.commonBacklog === null ? `Σ (backlog + 1) of the ${group.listeners} listeners` : `${group.listeners} listeners × (backlog ${group.commonBacklog} + 1)`
  if (immediate === group.capacity) return ` (= ${sum} sharing the port with SO_REUSEPORT, when the application is not accepting)`
  return `; ${group.listeners} listeners share the port with SO_REUSEPORT${group.capacity === null ? '' : `, ${group.capacity} places in all`}`
}

/** net.core.somaxconn caps every backlog, at listen() time (docs/kernel.md §6). */
function somaxconnRule({result, read, evidence, wantedBacklog, applyNote}: KnobContext): KnobAdvice | null {
  const somaxconn = Number(read('net.core.somaxconn'))
  const currentBacklog = evidence.effectiveBacklog
  const warnings: string[] = []
  // somaxconn is taken at listen() time: a listener older than a raise keeps the old cap (docs/kernel.md §6).
  // Only provable where we know what the application asked for (the lab); elsewhere a backlog
  // below somaxconn is simply what the application asked.
  const requestedBacklog = result.lab?.backlog ?? null
  if (
    currentBacklog !== null &&
    // Stryker disable next-line ConditionalExpression: without a request Math.min(somaxconn, null) is at most 0, and no backlog is below 0
    requestedBacklog !== null &&
    !Number.isNaN(somaxconn) &&
    currentBacklog < Math.min(somaxconn, requestedBacklog)
  ) {
    warnings.push(
      `the listener's effective backlog is ${currentBacklog}, below both the ${requestedBacklog} it asked for and today's net.core.somaxconn ${somaxconn}: ` +
        'it called listen() while somaxconn was lower, and a new somaxconn only applies to later listen() calls — restart the service (or make it listen() again)',
    )
  }
  // Stryker disable next-line ObjectLiteral: wantedBacklog is null only when the current backlog is unknown too, and then no warning was made
  if (wantedBacklog === null) return {warnings}
  const needSomaxconn = wantedBacklog + 1
  if (Number.isNaN(somaxconn)) {
    return {
      warnings,
      unverified: true,
      // Unread, it is asked as "≥ backlog": the least value that cannot cap the backlog.
      proposedSomaxconn: wantedBacklog,
      recommendation: {knob: 'net.core.somaxconn', current: 'unknown', proposed: `≥ ${wantedBacklog}`, evidence: ['somaxconn could not be read; it silently caps every listen() backlog'], lines: sysctlLines('net.core.somaxconn', String(needSomaxconn), applyNote)},
    }
  }
  if (somaxconn < wantedBacklog) {
    return {
      warnings,
      proposedSomaxconn: needSomaxconn,
      recommendation: {
        knob: 'net.core.somaxconn',
        current: String(somaxconn),
        proposed: String(needSomaxconn),
        evidence: [`somaxconn ${somaxconn} < backlog ${wantedBacklog}: the kernel silently caps the backlog at ${somaxconn}`],
        lines: sysctlLines('net.core.somaxconn', String(needSomaxconn), applyNote),
      },
    }
  }
  return {warnings, recommendation: {knob: 'net.core.somaxconn', current: String(somaxconn), proposed: null, evidence: [`${somaxconn} ≥ backlog ${wantedBacklog}: it does not cap it`], lines: []}}
}

/**
 * Why a larger SYN queue is proposed when this run never filled it: it must admit as many
 * half-open requests as the advised accept queue takes, and how many are half-open at once depends
 * on the round trip, which loopback hides (docs/kernel.md §3).
 */
const SYN_QUEUE_MODEL_ONLY =
  'this run showed no SYN-queue pressure (no TcpExtTCPReqQFullDrop, no SYN cookies): on loopback a handshake takes one round trip of ~20 µs, so the SYN queue hardly fills; from clients a round trip r away, a burst of N holds up to N half-open requests for r, so it is sized like the advised backlog'

/** net.ipv4.tcp_max_syn_backlog: half-open connections per listener. */
function synBacklogRule({read, counters, wantedBacklog}: KnobContext): KnobAdvice | null {
  const syncookies = read('net.ipv4.tcp_syncookies')
  const maxSynBacklog = Number(read('net.ipv4.tcp_max_syn_backlog'))
  if (wantedBacklog === null || Number.isNaN(maxSynBacklog) || maxSynBacklog >= wantedBacklog + 1) return null
  const reqQFullDrop = counters.TcpExtTCPReqQFullDrop
  // The SYN queue was under pressure only if it dropped SYNs or answered them with cookies.
  const pressure = [reqQFullDrop, counters.TcpExtTCPReqQFullDoCookies, counters.TcpExtSyncookiesSent].some((delta) => (delta ?? 0) > 0)
  return {
    recommendation: {
      ...(pressure ? {} : {modelOnly: SYN_QUEUE_MODEL_ONLY}),
      knob: 'net.ipv4.tcp_max_syn_backlog',
      current: String(maxSynBacklog),
      proposed: String(wantedBacklog + 1),
      evidence: [
        `half-open connections are limited to ${maxSynBacklog} per listener`,
        ...(reqQFullDrop === undefined ? [] : [`TcpExtTCPReqQFullDrop +${reqQFullDrop}`]),
        syncookies === '0' ? 'with syncookies off, SYNs past the limit are dropped' : 'with syncookies on, SYNs past the limit get cookies instead of being dropped',
      ],
      lines: sysctlLines('net.ipv4.tcp_max_syn_backlog', String(wantedBacklog + 1), 'applies to new SYNs at once; no restart needed'),
    },
  }
}

function sysctlLines(name: string, value: string, note: string): string[] {
  return [`sysctl -w ${name}=${value.includes(' ') ? `"${value}"` : value}`, `echo '${name} = ${value}' >> ${SYSCTL_FILE}   # keeps it across reboots`, `# ${note}`]
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1)
}

/** net.ipv4.tcp_syncookies: off, a burst past the request queue is dropped and waits on the ladder. */
function syncookiesRule({read, counters}: KnobContext): KnobAdvice | null {
  if (read('net.ipv4.tcp_syncookies') !== '0') return null
  const drops = counters.TcpExtTCPReqQFullDrop
  return {
    recommendation: {
      knob: 'net.ipv4.tcp_syncookies',
      current: '0',
      proposed: '1',
      evidence: [
        'syncookies are off: when a burst of SYNs exceeds the request queue (backlog + 1 here), the excess is dropped and waits on the SYN ladder (docs/kernel.md §4)',
        ...(drops === undefined ? [] : [`TcpExtTCPReqQFullDrop +${drops}`]),
        'with 1, the excess connects complete at once and any wait moves to the first byte (measure it with a first-byte probe)',
      ],
      lines: sysctlLines('net.ipv4.tcp_syncookies', '1', 'applies to new SYNs at once'),
    },
  }
}

/** net.ipv4.tcp_abort_on_overflow: 1 turns a retry that could have worked into a reset. */
function abortOnOverflowRule({result, read}: KnobContext): KnobAdvice | null {
  if (read('net.ipv4.tcp_abort_on_overflow') !== '1') return null
  return {
    warnings: ['tcp_abort_on_overflow=1: when the accept queue is full at handshake-ACK time the server answers with RST, so clients get "connection reset" instead of a retry that could have succeeded a moment later'],
    recommendation: {
      knob: 'net.ipv4.tcp_abort_on_overflow',
      current: '1',
      proposed: '0',
      evidence: [`reset during or right after the handshake: ${result.counts.byOutcome.reset + (result.probe?.outcomes.resetAfterConnect ?? 0)} connects`],
      lines: sysctlLines('net.ipv4.tcp_abort_on_overflow', '0', 'applies at once'),
    },
  }
}

/** net.ipv4.ip_local_port_range: the client itself ran out of source ports. */
function portRangeRule({result, read}: KnobContext): KnobAdvice | null {
  const portTrouble = result.counts.byOutcome.addrNotAvail
  if (portTrouble === 0) return null
  // With an RST close the client keeps no TIME_WAIT: then the range is simply smaller than the connections open at once.
  const closedWithRst = result.plan.close === 'rst'
  const why = closedWithRst
    ? 'the range is smaller than the connections this client had open at once (an RST close leaves no TIME_WAIT)'
    : `TIME_WAIT holds each closed connection's port for 60 s; tcp_tw_reuse=${read('net.ipv4.tcp_tw_reuse')}`
  return {
    recommendation: {
      knob: 'net.ipv4.ip_local_port_range',
      current: read('net.ipv4.ip_local_port_range'),
      proposed: '1024 65535',
      evidence: [`${portTrouble} connects failed with EADDRNOTAVAIL: this client ran out of ephemeral ports (${why})`],
      lines: [
        ...sysctlLines('net.ipv4.ip_local_port_range', '1024 65535', 'applies to new connects at once'),
        ...(closedWithRst ? [] : ['# or close with RST (connstorm --close rst, the default) so the client keeps no TIME_WAIT']),
      ],
    },
  }
}
