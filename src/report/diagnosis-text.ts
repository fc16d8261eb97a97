import type {Attribution, LabInfo, StormResult} from '../results/format.js'
import type {Corroboration, KernelObservation} from '../results/format.js'
import {formatAddress} from '../plan/target.js'
import {formatMicros, formatMs} from '../plan/units.js'
import {decodeHistogram, summarize} from '../results/histogram.js'
import {type ConnectedThenResetCause, connectedThenResetCause} from '../analysis/diagnose.js'
import {listenerGroup} from '../analysis/reuseport.js'
import {acceptQueuesPhrase, groupClause} from './listener-group-text.js'

export interface DiagnosisView {
  ladder: {synRetries: string; linearTimeouts: string; sendTimesMs: number[]; giveUpMs: number} | null
  attribution: Attribution | null
  kernel: (KernelObservation & {corroboration: Corroboration | null}) | null
  /** the built-in lab's own accept-queue waits, and what it spent on each connection */
  lab?: Pick<LabInfo, 'handlerDelayMs' | 'acceptWait'>
  /** --probe: the client's first response after connect, beside the lab's waits */
  probe?: {latencyUs: Pick<NonNullable<StormResult['probe']>['latencyUs'], 'responseAfterConnect'>}
}

/** What the verdict reads beside the diagnosis: what every connect (and probe) ended as. */
export type VerdictView = DiagnosisView & Pick<StormResult, 'counts' | 'target'> & {plan: Pick<StormResult['plan'], 'timeoutMs'>; probe?: Pick<NonNullable<StormResult['probe']>, 'outcomes' | 'timeoutMs'>}

/** Counters worth a line in the text report, in this order (all are in the JSON). */
const REPORTED_COUNTERS = [
  'TcpExtTCPSynRetrans',
  'TcpExtListenOverflows',
  'TcpExtListenDrops',
  'TcpExtTCPReqQFullDrop',
  'TcpExtTCPReqQFullDoCookies',
  'TcpExtSyncookiesSent',
  'TcpExtSyncookiesRecv',
  'TcpActiveOpens',
  'TcpAttemptFails',
  'TcpExtTCPAbortOnTimeout',
]

export function renderAttribution(view: DiagnosisView): string[] {
  const {ladder, attribution} = view
  if (ladder === null || attribution === null) {
    return ['SYN retransmits: not attributed (tcp_syn_retries / tcp_syn_linear_timeouts could not be read on this machine)']
  }
  const steps = ladder.sendTimesMs.slice(1).map((ms) => trimSeconds(ms)).join(', ')
  const lines = [
    `SYN retransmits — ladder from this kernel (tcp_syn_retries=${ladder.synRetries}, tcp_syn_linear_timeouts=${ladder.linearTimeouts}): ` +
      `retransmits at ${steps} s; connect() gives up at ${trimSeconds(ladder.giveUpMs)} s`,
    ...(attribution.source === undefined ? [] : [`  per connect: ${attribution.source === 'counted' ? 'counted by the kernel (TCP_INFO)' : 'inferred from latency (the native addon did not count them)'}`]),
    '  retransmits  SYN sent at   connects   share   observed median',
  ]
  for (const step of attribution.steps) {
    lines.push(
      `  ${String(step.retransmits).padStart(11)}  ${`${trimSeconds(step.atMs)} s`.padStart(11)}  ${String(step.connects).padStart(9)}  ` +
        `${percent(step.share).padStart(6)}   ${formatMs(step.observedMedianMs)}`,
    )
  }
  for (const group of attribution.timedOut) {
    if (group.retransmits === undefined) lines.push(`  ${`≥ ${group.atLeastRetransmits}`.padStart(11)}  ${'timed out'.padStart(11)}  ${String(group.connects).padStart(9)}`)
    else lines.push(`  ${String(group.retransmits).padStart(11)}  ${'timed out'.padStart(11)}  ${String(group.connects).padStart(9)}   exactly: ${group.retransmits + 1} SYNs sent, none answered`)
  }
  const disagreements = attribution.disagreements ?? []
  if (disagreements.length > 0) {
    const total = disagreements.reduce((sum, group) => sum + group.connects, 0)
    lines.push(`  latency and count disagree for ${total} connect${total === 1 ? '' : 's'} (the counts are used):`)
    for (const group of disagreements) {
      const where = group.latencyStep === null ? 'between steps: slow after the SYN got through (not SYN loss)' : `in the window of step ${group.latencyStep}`
      lines.push(`    ${group.connects} counted at ${group.countedRetransmits} retransmit${group.countedRetransmits === 1 ? '' : 's'} completed at ~${formatMs(group.observedMedianMs)}, ${where}`)
    }
  }
  if (attribution.betweenSteps.connects > 0) {
    lines.push(
      `  between steps (slow, but not SYN loss)  ${String(attribution.betweenSteps.connects).padStart(5)}  ${percent(attribution.betweenSteps.share).padStart(6)}   ` +
        formatMs(attribution.betweenSteps.observedMedianMs ?? 0),
    )
  }
  return lines
}

export function renderKernel(view: DiagnosisView): string[] {
  const {kernel} = view
  if (kernel === null) return renderLabAcceptWait(view)
  const lines: string[] = []
  const netns = kernel.linkRate ? `${kernel.netns} (packets toward the lab paced at ${kernel.linkRate})` : kernel.netns
  if (kernel.counterDeltas === null) {
    lines.push(`kernel    netns ${netns}; counters unreadable`)
  } else {
    const moved = REPORTED_COUNTERS.filter((name) => kernel.counterDeltas![name] !== undefined).map((name) => `${name} +${kernel.counterDeltas![name]}`)
    lines.push(`kernel    netns ${netns}; ${moved.join(', ')}`)
  }
  if (kernel.listener) {
    const {effectiveBacklog, peakQueue, samples} = kernel.listener
    const capacity = effectiveBacklog === null ? 'unknown' : `${effectiveBacklog}+1`
    const full = effectiveBacklog !== null && peakQueue !== null && peakQueue > effectiveBacklog ? ' (full)' : ''
    lines.push(
      `listener  effective backlog ${effectiveBacklog ?? 'unknown'} (source: ${kernel.listener.source}); ` +
        `peak accept queue ${peakQueue ?? 'unknown'}/${capacity}${full}, from ${samples} samples` +
        (typeof kernel.listener.drops === 'number' ? `; dropped ${kernel.listener.drops} packets during the storm (its own count; ListenDrops counts the whole namespace)` : '') +
        groupClause(kernel.listener),
    )
  }
  return [...lines, ...renderLabAcceptWait(view)]
}

/**
 * The lab's own accept-queue wait (TCP_INFO tcpi_last_ack_recv at accept(), docs/kernel.md §10)
 * and, with --probe, the client's view of the same wait beside it: its first response after
 * connect, less what the lab spent on each connection before answering. The two differ where
 * the handshake's ACK was dropped at a full queue: the client counts from its own connect, the
 * lab from the moment the kernel queued the connection.
 */
function renderLabAcceptWait(view: DiagnosisView): string[] {
  const wait = view.lab?.acceptWait
  if (!wait || wait.measured === 0) return []
  const lab = summarize(decodeHistogram(wait.histogramUs))
  const retransmits = wait.synAckRetransmits === null ? '' : `; SYN-ACK retransmits per connection: ${Object.entries(wait.synAckRetransmits).map(([k, n]) => `${k} ×${n}`).join(', ')}`
  const lines = [`lab wait  accept-queue wait as the lab read it at accept() (TCP_INFO, ms steps): ${describeWait(lab.p50, lab.p99, lab.max, {msSteps: true})} (n=${wait.measured}: the connections it accepted before it was stopped)${retransmits}`]
  const client = view.probe?.latencyUs.responseAfterConnect
  if (client && client.count > 0) {
    const handlerUs = (view.lab?.handlerDelayMs ?? 0) * 1000
    const less = (us: number) => Math.max(0, us - handlerUs)
    const handler = handlerUs > 0 ? `, less the lab's ${formatMs(handlerUs / 1000)} on each connection` : ''
    lines.push(`          the client's first response after connect${handler}: ${describeWait(less(client.p50), less(client.p99), less(client.max))} (n=${client.count})`)
  }
  return lines
}

function describeWait(p50Us: number, p99Us: number, maxUs: number, {msSteps = false}: {msSteps?: boolean} = {}): string {
  // The lab's figure comes in whole ms (tcpi_last_ack_recv): a 0 ms wait is "< 1 ms", not the 1 µs it is kept as.
  const format = (us: number): string => (msSteps && us < 1000 ? '< 1 ms' : formatMicros(us))
  return `p50 ${format(p50Us)}, p99 ${format(p99Us)}, max ${format(maxUs)}`
}

/**
 * One sentence in plain words: what happened to the connects and whether the kernel agrees. It
 * leads with the dominant fact — the largest group of connects (or probes) that shared a fate —
 * so a run where nothing listened reads "nothing listens at …", not "no connect needed a SYN
 * retransmit".
 */
export function renderVerdict(view: VerdictView, finished: number): string | null {
  const {attribution, kernel} = view
  if (attribution === null) return null
  const delayed = attribution.steps.filter((step) => step.retransmits > 0)
  const timedOut = attribution.timedOut.reduce((sum, group) => sum + group.connects, 0)
  // Connects cut off by the stop after ≥ 1 retransmit were delayed too, though they never finished.
  const waiting = (attribution.pending ?? []).filter((group) => group.atLeastRetransmits > 0)
  const facts: {count: number; text: string}[] = []
  const main = delayed.reduce<(typeof delayed)[number] | undefined>((best, step) => (best && best.connects >= step.connects ? best : step), undefined)
  if (main) {
    facts.push({
      count: main.connects,
      text:
        `${main.connects} of ${finished} connects (${percent(main.share)}) waited for ${main.retransmits} SYN retransmit${main.retransmits === 1 ? '' : 's'} ` +
        `(~${formatMs(main.observedMedianMs)}${attribution.source === undefined ? '' : attribution.source === 'counted' ? ', counted by the kernel per connect' : ', inferred from latency'})`,
    })
    const others = delayed.filter((step) => step !== main).reduce((sum, step) => sum + step.connects, 0)
    if (others > 0) facts.push({count: others, text: `${others} more on other steps`})
  }
  for (const group of attribution.timedOut) facts.push({count: group.connects, text: gaveUp(group, view, attribution.expectedIsLowerBound)})
  for (const group of waiting) facts.push({count: group.connects, text: `${group.connects} ${stillWaiting(group.atLeastRetransmits)}`})
  facts.push(...failureFacts(view, finished), ...probeFacts(view))
  if (attribution.betweenSteps.connects > 0) facts.push({count: 0, text: `${attribution.betweenSteps.connects} were slow between steps (not SYN loss)`})
  // The dominant fact first; equal counts keep the order above (stable sort).
  const parts = facts.sort((a, b) => b.count - a.count).map((fact) => fact.text)
  // Said of the connects that got in; after "all 50 refused" it would say nothing.
  if (delayed.length === 0 && timedOut === 0 && waiting.length === 0 && view.counts.connected > 0) {
    const noRetransmit = 'no connect needed a SYN retransmit'
    if (parts.length === 0 || facts[0]!.count === 0) parts.unshift(noRetransmit)
    else parts.push(noRetransmit)
  }
  let sentence = parts.join('; ')
  const listener = kernel?.listener
  if (listener && listener.effectiveBacklog !== null && listener.peakQueue !== null && listener.peakQueue > listener.effectiveBacklog && (delayed.length > 0 || timedOut > 0 || waiting.length > 0)) {
    sentence += `: ${acceptQueuesPhrase(listener)} ${listenerGroup(listener) ? 'were' : 'was'} full`
  }
  const corroboration = kernel?.corroboration
  if (corroboration) sentence += `; ${renderCorroboration(corroboration)}`
  return sentence
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)} %`
}

function trimSeconds(ms: number): string {
  return String(Math.round(ms) / 1000)
}

/** "still waiting after ≥ 2 SYN retransmits": a connect the stop cut off, with what it had surely sent. */
export function stillWaiting(atLeastRetransmits: number): string {
  return `still waiting after ≥ ${atLeastRetransmits} SYN retransmit${atLeastRetransmits === 1 ? '' : 's'}`
}

/** "15 gave up at 500 ms with their only SYN unanswered (the first retransmit would have left at 1 s)". */
function gaveUp(group: Attribution['timedOut'][number], view: VerdictView, lowerBound: boolean): string {
  const at = formatMs(view.plan.timeoutMs)
  if (group.atLeastRetransmits === 0) {
    const first = view.ladder?.sendTimesMs[1]
    return `${group.connects} gave up at ${at} with their only SYN unanswered${first === undefined ? '' : ` (the first retransmit would have left at ${trimSeconds(first)} s)`}`
  }
  if (group.retransmits !== undefined) {
    // Counted: exact, whatever the windows say.
    const k = group.retransmits
    return `${group.connects} gave up at ${at} after exactly ${k} SYN retransmit${k === 1 ? '' : 's'} (${k + 1} SYNs sent), all unanswered`
  }
  const k = group.atLeastRetransmits
  return `${group.connects} gave up at ${at} after ${lowerBound ? 'at least ' : ''}${k} SYN retransmit${k === 1 ? '' : 's'}, all unanswered`
}

/** The connects that failed otherwise than by waiting, each outcome in its own words. */
function failureFacts(view: VerdictView, finished: number): {count: number; text: string}[] {
  const {byOutcome} = view.counts
  const of = (n: number) => (n === finished ? `all ${n}` : `${n} of ${finished}`)
  const address = formatAddress(view.target.host, view.target.port)
  const facts: {count: number; text: string}[] = []
  const add = (n: number, text: string) => {
    if (n > 0) facts.push({count: n, text})
  }
  const refused = byOutcome.refused
  add(refused, refused === finished ? `nothing listens at ${address}: all ${refused} refused` : `${of(refused)} refused: an RST answered their SYN (nothing listening at ${address} for them)`)
  add(byOutcome.reset, `${of(byOutcome.reset)} were reset (ECONNRESET)`)
  const thenReset = view.counts.connectedThenReset ?? 0
  add(thenReset, `${of(thenReset)} connected, then were reset: ${whoReset(connectedThenResetCause(thenReset, view.kernel))}`)
  add(byOutcome.unreachable, `${of(byOutcome.unreachable)} could not reach ${view.target.host}: no route (EHOSTUNREACH/ENETUNREACH)`)
  add(byOutcome.addrNotAvail, `${of(byOutcome.addrNotAvail)} found no free local port (EADDRNOTAVAIL) and sent no SYN`)
  add(byOutcome.fileLimit, `${of(byOutcome.fileLimit)} hit the open-file limit (EMFILE/ENFILE) and sent no SYN`)
  const errnos = Object.keys(view.counts.otherErrnos ?? {}).join(', ')
  add(byOutcome.other, `${of(byOutcome.other)} failed otherwise${errnos === '' ? '' : ` (${errnos})`}`)
  return facts
}

/**
 * Who reset the connects that completed their handshake (an RST answering the SYN is `refused`):
 * the application that accepted them, or tcp_abort_on_overflow at a full accept queue.
 */
function whoReset(cause: ConnectedThenResetCause): string {
  const {listenOverflows, byAbortOnOverflow, byApplication} = cause
  if (listenOverflows === null) {
    return "the server's application accepted and reset them, or its accept queue was full with tcp_abort_on_overflow=1 (the listener's counters are not visible from here)"
  }
  const overflows = `TcpExtListenOverflows +${listenOverflows}`
  if (byAbortOnOverflow === 0) {
    if (listenOverflows === 0) return `the application accepted and reset them (no accept-queue overflow: ${overflows})`
    // Overflows without tcp_abort_on_overflow's resets: dropped SYNs or ACKs, which reset nothing.
    const noRst = cause.embryonicRsts === 0 ? 'TcpExtEmbryonicRsts +0' : 'tcp_abort_on_overflow is off'
    return `the application accepted and reset them (the accept-queue overflows reset none: ${noRst}; ${overflows} were dropped packets)`
  }
  const rsts = cause.embryonicRsts === null ? '' : `, TcpExtEmbryonicRsts +${cause.embryonicRsts}`
  const abort = `tcp_abort_on_overflow=1 answered their handshake ACK at the full accept queue with RST (${overflows}${rsts})`
  if (byApplication === 0) return abort
  return `tcp_abort_on_overflow=1 answered ${byAbortOnOverflow} handshake ACKs at the full accept queue with RST (${overflows}${rsts}); the application accepted and reset the other ${byApplication}`
}

/** The probes that did not get their answer, each outcome in its own words. */
function probeFacts(view: VerdictView): {count: number; text: string}[] {
  const probe = view.probe
  if (!probe) return []
  const connected = view.counts.connected
  const of = (n: number) => (n === connected ? `all ${n} connected` : `${n} of ${connected} connected`)
  const words: Record<Exclude<keyof typeof probe.outcomes, 'ok'>, string> = {
    probeTimeout: `got no reply within ${formatMs(probe.timeoutMs)} (probeTimeout)`,
    resetAfterConnect: 'were reset before a reply (resetAfterConnect)',
    closedBeforeReply: 'were closed by the server before a reply (closedBeforeReply)',
    tlsError: 'failed the TLS handshake (tlsError)',
    unexpectedReply: 'got a reply without the expected text (unexpectedReply)',
    probeError: 'failed the probe otherwise (probeError)',
  }
  return (Object.keys(words) as (keyof typeof words)[])
    .filter((outcome) => probe.outcomes[outcome] > 0)
    .map((outcome) => ({count: probe.outcomes[outcome], text: `${of(probe.outcomes[outcome])}, but ${words[outcome]}`}))
}

/**
 * The counters' verdict in words. With the listener's own drop count (docs/kernel.md §14) it is
 * the listener's verdict too: each retransmitted SYN is one drop at the listener, and what it
 * dropped beyond that were the last SYNs of connects that gave up, and handshake ACKs that met its
 * full queue.
 */
/** What a listener dropped beyond the retransmitted SYNs, in words ("were …"). */
export function beyondRetransmits(lastSyns: number, acks: number): string {
  const lastPart = 'the last SYNs of connects that gave up'
  const ackPart = 'handshake ACKs at its full queue'
  if (lastSyns === 0) return `were ${ackPart}`
  if (acks === 0) return `were ${lastPart}`
  return `were ${lastSyns} ${lastPart.replace('the ', '')} and ${acks} ${ackPart}`
}

function renderCorroboration(corroboration: Corroboration): string {
  const {corroborated, expected, observed, listenerDrops} = corroboration
  const counters = `kernel counters agree (${expected} = ${observed} TcpExtTCPSynRetrans)`
  if (listenerDrops === undefined) {
    if (corroborated === true) return counters
    if (corroborated === false) return `kernel counters disagree (expected ${expected}, TcpExtTCPSynRetrans +${observed})`
    return `no counter verdict: ${corroboration.reason}`
  }
  const over = listenerDrops - expected
  // Of what is over Σ k·n: the last SYN of each connect that gave up unanswered, then handshake ACKs (docs/kernel.md §14).
  const lastSyns = Math.min(corroboration.unansweredLastSyns ?? 0, Math.max(0, over))
  const acks = over - lastSyns
  const dropped = `${listenerDrops} dropped ≥ ${expected} retransmitted SYNs${over > 0 ? `; the other ${over} ${beyondRetransmits(lastSyns, acks)}` : ''}`
  const short = `${listenerDrops} dropped < ${expected} retransmitted SYNs: some SYNs were lost before reaching it`
  if (corroboration.countersReason !== undefined) {
    // The listener alone gave the verdict; the namespace's counters could not.
    return corroborated ? `the listener's own drops agree (${dropped}); namespace counters: ${corroboration.countersReason}` : `the listener's own drops disagree (${short})`
  }
  if (corroborated === true) {
    return `${counters}, and the listener dropped ${listenerDrops} (${expected} SYNs${lastSyns > 0 ? ` + ${lastSyns} last SYNs of connects that gave up` : ''}${acks > 0 ? ` + ${acks} handshake ACKs` : ''})`
  }
  // One of the two disagreed: say each.
  const countersPart = observed === expected ? counters : `kernel counters disagree (expected ${expected}, TcpExtTCPSynRetrans +${observed})`
  return `${countersPart}; the listener's own drops ${listenerDrops >= expected ? `agree (${dropped})` : `disagree (${short})`}`
}
