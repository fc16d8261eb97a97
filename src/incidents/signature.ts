import {InvalidOptionError} from '../errors.js'
import type {Recommendation, StormResult} from '../results/format.js'

/**
 * What a run must show for `reproduce` to call an incident reproduced: the advice connstorm gives
 * for it. The advice is the diagnosis in its most checkable form — it names the knob at fault with
 * the value the run read, and what to do — and it is the answer an SRE reproduces the incident for.
 * Exact numbers (how many connects on which step) vary with the machine's load and are checked by
 * the test suite, not here.
 */
export interface AdviceSignature {
  knob: string
  /** the value the run must have read: the incident's own setting */
  current: string
  /** 'higher': a larger number than `current`; null: the advice must keep it (the fix lies elsewhere) */
  proposed: string | 'higher' | null
}

export interface SignatureCheck {
  reproduced: boolean
  /** one line per advice signature: what was expected and what the run's advice said */
  lines: string[]
}

export function checkSignature(signature: readonly AdviceSignature[], result: Pick<StormResult, 'recommendations'>): SignatureCheck {
  const lines: string[] = []
  let reproduced = true
  for (const expected of signature) {
    const advice = result.recommendations?.find((recommendation) => recommendation.knob === expected.knob)
    const matched = advice !== undefined && advice.current === expected.current && proposalMatches(expected, advice)
    reproduced &&= matched
    const said = advice === undefined ? `no advice on ${expected.knob}` : describe(advice.knob, advice.current, advice.proposed)
    lines.push(matched ? `${said} (as expected)` : `expected ${describe(expected.knob, expected.current, expected.proposed)}; the run's advice: ${said}`)
  }
  return {reproduced, lines}
}

function proposalMatches(expected: AdviceSignature, advice: Recommendation): boolean {
  if (expected.proposed !== 'higher') return advice.proposed === expected.proposed
  return advice.proposed !== null && Number(advice.proposed) > Number(expected.current)
}

function describe(knob: string, current: string, proposed: string | null): string {
  if (proposed === null) return `${knob} ${current}, kept`
  return `${knob} ${current} → ${proposed === 'higher' ? 'a higher value' : proposed}`
}

/**
 * "backlog:511:higher", "net.core.somaxconn:4096:kept", "net.ipv4.tcp_syncookies:0:1": a signature
 * written out (reproduce's hidden --signature, which lets a test give a deliberately wrong one).
 */
export function parseSignature(text: string): AdviceSignature {
  const [knob, current, proposed, ...rest] = text.split(':')
  if (knob === undefined || knob === '' || current === undefined || current === '' || proposed === undefined || proposed === '' || rest.length > 0) {
    throw new InvalidOptionError('--signature', text, 'KNOB:CURRENT:PROPOSED, PROPOSED a value, higher or kept (e.g. backlog:511:higher)')
  }
  return {knob, current, proposed: proposed === 'kept' ? null : proposed}
}
