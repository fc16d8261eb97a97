import type {Advice} from '../analysis/recommend.js'

/** The advice section of the text report: the model, then each knob with its evidence and lines. */
export function renderAdvice(advice: Advice, serverName?: string): string[] {
  const lines = [`advice${serverName ? ` (for ${serverName})` : ''}${advice.unverified ? ' — UNVERIFIED: some facts it rests on were unknown' : ''}`, `  ${advice.model}`]
  if (advice.notTheFix) lines.push(`  a bigger queue is not the fix: ${advice.notTheFix}`)
  for (const recommendation of advice.recommendations) {
    const change = recommendation.proposed === null ? `${recommendation.current} (keep)` : `${recommendation.current} → ${recommendation.proposed}`
    lines.push(`  ${recommendation.knob.padEnd(30)} ${change}`)
    for (const fact of recommendation.evidence) lines.push(`      evidence: ${fact}`)
    if (recommendation.modelOnly) lines.push(`      model only: ${recommendation.modelOnly}`)
    for (const line of recommendation.lines) lines.push(`      ${line}`)
  }
  for (const warning of advice.warnings) lines.push(`  warning: ${warning}`)
  return lines
}
