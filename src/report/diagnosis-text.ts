import type {Attribution} from '../results/format.js'
import type {Corroboration, KernelObservation} from '../results/format.js'
import {formatMs} from '../plan/units.js'

export interface DiagnosisView {
  ladder: {synRetries: string; linearTimeouts: string; sendTimesMs: number[]; giveUpMs: number} | null
  attribution: Attribution | null
  kernel: (KernelObservation & {corroboration: Corroboration | null}) | null
}

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
    '  retransmits  SYN sent at   connects   share   observed median',
  ]
  for (const step of attribution.steps) {
    lines.push(
      `  ${String(step.retransmits).padStart(11)}  ${`${trimSeconds(step.atMs)} s`.padStart(11)}  ${String(step.connects).padStart(9)}  ` +
        `${percent(step.share).padStart(6)}   ${formatMs(step.observedMedianMs)}`,
    )
  }
  for (const group of attribution.timedOut) {
    lines.push(`  ${`≥ ${group.atLeastRetransmits}`.padStart(11)}  ${'timed out'.padStart(11)}  ${String(group.connects).padStart(9)}`)
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
  if (kernel === null) return []
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
        `peak accept queue ${peakQueue ?? 'unknown'}/${capacity}${full}, from ${samples} samples`,
    )
  }
  return lines
}

/** One sentence in plain words: what happened to the connects and whether the kernel agrees. */
export function renderVerdict(view: DiagnosisView, finished: number): string | null {
  const {attribution, kernel} = view
  if (attribution === null) return null
  const delayed = attribution.steps.filter((step) => step.retransmits > 0)
  const timedOut = attribution.timedOut.reduce((sum, group) => sum + group.connects, 0)
  // Connects cut off by the stop after ≥ 1 retransmit were delayed too, though they never finished.
  const waiting = (attribution.pending ?? []).filter((group) => group.atLeastRetransmits > 0)
  const parts: string[] = []
  if (delayed.length === 0 && timedOut === 0 && waiting.length === 0) {
    parts.push('no connect needed a SYN retransmit')
  } else {
    const main = delayed.reduce<(typeof delayed)[number] | undefined>((best, step) => (best && best.connects >= step.connects ? best : step), undefined)
    if (main) {
      parts.push(
        `${main.connects} of ${finished} connects (${percent(main.share)}) waited for ${main.retransmits} SYN retransmit${main.retransmits === 1 ? '' : 's'} ` +
          `(~${formatMs(main.observedMedianMs)})`,
      )
      const others = delayed.filter((step) => step !== main)
      if (others.length > 0) parts.push(`${others.reduce((sum, step) => sum + step.connects, 0)} more on other steps`)
    }
    for (const group of attribution.timedOut) parts.push(`${group.connects} timed out after at least ${group.atLeastRetransmits}`)
    for (const group of waiting) parts.push(`${group.connects} ${stillWaiting(group.atLeastRetransmits)}`)
  }
  if (attribution.betweenSteps.connects > 0) parts.push(`${attribution.betweenSteps.connects} were slow between steps (not SYN loss)`)
  let sentence = parts.join('; ')
  const listener = kernel?.listener
  if (listener && listener.effectiveBacklog !== null && listener.peakQueue !== null && listener.peakQueue > listener.effectiveBacklog && (delayed.length > 0 || timedOut > 0 || waiting.length > 0)) {
    sentence += `: the listener's accept queue (${listener.effectiveBacklog}+1) was full`
  }
  const corroboration = kernel?.corroboration
  if (corroboration) {
    if (corroboration.corroborated === true) sentence += `; kernel counters agree (${corroboration.expected} = ${corroboration.observed} TcpExtTCPSynRetrans)`
    else if (corroboration.corroborated === false) sentence += `; kernel counters disagree (expected ${corroboration.expected}, TcpExtTCPSynRetrans +${corroboration.observed})`
    else sentence += `; no counter verdict: ${corroboration.reason}`
  }
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
