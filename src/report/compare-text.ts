import {formatAddress} from '../plan/target.js'
import {formatMicros, formatMs} from '../plan/units.js'
import {OUTCOMES} from '../results/outcome.js'
import {type ComparisonRow, type ComparisonSection, type ReportRun, SECTION_TITLES, adviceChanges, compareRuns, describeChange, describePlanShort, withShare} from './compare.js'
import {renderVerdict} from './diagnosis-text.js'

/** The comparison (report/compare.ts) and a single run as text and markdown. */

/** The comparison as a plain-text table: sections, then one right-aligned column per run. */
export function renderComparisonText(runs: readonly ReportRun[], rows: readonly ComparisonRow[] = compareRuns(runs)): string {
  const several = runs.length > 1
  const labelWidth = Math.max(...rows.map((row) => row.label.length + 2), 12)
  const headers = runs.map((run) => run.label)
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row.values[column]!.length)))
  const changeHeader = 'change'
  const changeWidth = Math.max(changeHeader.length, ...rows.map((row) => row.change?.length ?? 0))
  const line = (label: string, cells: string[], change: string | null): string => {
    const parts = [label.padEnd(labelWidth), ...cells.map((cell, column) => cell.padStart(widths[column]!))]
    if (several) parts.push((change ?? '').padStart(changeWidth))
    return parts.join('  ').trimEnd()
  }
  const lines = [
    `connstorm report — ${runs.length} runs side by side${several ? `; change: ${runs.at(-1)!.label} against ${runs[0]!.label}` : ''}`,
    ...runs.map((run, index) => `  [${index + 1}] ${run.label}: ${formatAddress(run.result.target.host, run.result.target.port)}, ${run.result.startedAt}`),
    '',
    line('', headers, several ? changeHeader : null),
  ]
  let section: ComparisonSection | null = null
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section
      lines.push(SECTION_TITLES[section])
    }
    lines.push(line(`  ${row.label}`, row.values, row.change))
  }
  const changes = adviceChanges(runs)
  if (several) {
    lines.push('', changes.length === 0 ? 'advice changes: none' : 'advice changes:', ...changes.map((change) => `  ${change}`))
  }
  return lines.join('\n')
}

/** The comparison as a GitHub-flavoured markdown table. */
export function renderComparisonMarkdown(runs: readonly ReportRun[], rows: readonly ComparisonRow[] = compareRuns(runs)): string {
  const several = runs.length > 1
  const header = ['', ...runs.map((run) => markdownCell(run.label)), ...(several ? ['change'] : [])]
  const lines = [
    `## connstorm: ${runs.length} runs compared`,
    '',
    ...runs.map((run, index) => `${index + 1}. **${markdownInline(run.label)}**: ${markdownInline(formatAddress(run.result.target.host, run.result.target.port))}, ${run.result.startedAt}`),
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, index) => (index === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
  ]
  let section: ComparisonSection | null = null
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section
      lines.push(`| **${SECTION_TITLES[section]}** |${' |'.repeat(header.length - 1)}`)
    }
    const cells = [markdownCell(row.label), ...row.values.map(markdownCell), ...(several ? [markdownCell(row.change ?? '')] : [])]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  if (several) {
    const changes = adviceChanges(runs)
    lines.push('', changes.length === 0 ? '**Advice changes:** none' : '**Advice changes:**', ...changes.map((change) => `- ${markdownInline(change)}`))
  }
  return lines.join('\n')
}

/** A table cell: pipes escaped, newlines folded. */
export function markdownCell(text: string): string {
  return markdownInline(text).replaceAll('|', String.raw`\|`)
}

/** Text in a markdown paragraph: the characters that would start markup are escaped. */
export function markdownInline(text: string): string {
  return text.replaceAll(/\s*\n\s*/g, ' ').replaceAll(/([\\`*_[\]<>])/g, String.raw`\$1`)
}

/** One saved run as compact markdown: the figures, the ladder steps, the verdict and the advice. */
export function renderRunMarkdown(run: ReportRun): string {
  const {result, advice} = run
  const {counts, plan} = result
  const target = formatAddress(result.target.host, result.target.port)
  const lines = [`## connstorm report: ${markdownInline(run.label)}`, '']
  if (result.partial) lines.push(`> **PARTIAL** (${result.stopReason}): the figures cover only what was measured before the stop`, '')
  lines.push(
    `- **target** ${markdownInline(target)}${result.target.lab ? ', the built-in lab target' : ''}${result.target.requested === target ? '' : ` (resolved from ${markdownInline(result.target.requested)})`}`,
  )
  if (result.lab) {
    const lab = result.lab
    lines.push(
      `- **lab** backlog ${lab.backlog}${lab.effectiveBacklog === null ? '' : ` (effective ${lab.effectiveBacklog})`}` +
        `${lab.stallMs > 0 ? `, accepts nothing for the first ${formatMs(lab.stallMs)}` : ''}, on accept: ${markdownInline(lab.onAccept)}`,
    )
  }
  lines.push(
    `- **plan** ${describePlanShort(result)}; timeout ${formatMs(plan.timeoutMs)} per connect, close ${plan.close}`,
    `- **run** ${result.partial ? 'stopped' : 'completed'} after ${formatMs(result.durationMs)}; ${counts.attempted} started in ${formatMs(result.startWindowMs)}; started at ${result.startedAt}`,
    `- **outcomes** ${OUTCOMES.map((outcome) => `${outcome} ${withShare(counts.byOutcome[outcome], counts.attempted)}`).join(' · ')}`,
    '',
  )
  if (result.latencyUs.fromIntended.count > 0) {
    lines.push('| connect latency | min | p50 | p90 | p99 | p99.9 | max | n |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const [label, summary] of [
      ['from intended start', result.latencyUs.fromIntended],
      ['from actual start', result.latencyUs.fromActual],
      ...(counts.failed > 0 ? [['time to failure', result.latencyUs.failedFromActual] as const] : []),
    ] as const) {
      lines.push(`| ${label} | ${[summary.min, summary.p50, summary.p90, summary.p99, summary.p999, summary.max].map((us) => formatMicros(us)).join(' | ')} | ${summary.count} |`)
    }
  } else {
    lines.push('No connect succeeded.')
  }
  lines.push('')
  const {ladder, attribution} = result
  if (ladder && attribution) {
    lines.push(
      '### SYN retransmits',
      '',
      `Ladder from the storming kernel (tcp_syn_retries=${markdownInline(ladder.synRetries)}, tcp_syn_linear_timeouts=${markdownInline(ladder.linearTimeouts)}): ` +
        `retransmits at ${ladder.sendTimesMs.slice(1).map((ms) => ms / 1000).join(', ')} s; connect() gives up at ${ladder.giveUpMs / 1000} s.`,
      '',
      '| retransmits | SYN sent at | connects | share | observed median |',
      '| ---: | ---: | ---: | ---: | ---: |',
      ...attribution.steps.map((step) => `| ${step.retransmits} | ${step.atMs / 1000} s | ${step.connects} | ${(step.share * 100).toFixed(1)} % | ${formatMs(step.observedMedianMs)} |`),
      ...attribution.timedOut.map((group) => `| ≥ ${group.atLeastRetransmits} | timed out | ${group.connects} | | |`),
      ...(attribution.betweenSteps.connects > 0
        ? [`| between steps | (not SYN loss) | ${attribution.betweenSteps.connects} | ${(attribution.betweenSteps.share * 100).toFixed(1)} % | ${formatMs(attribution.betweenSteps.observedMedianMs ?? 0)} |`]
        : []),
      '',
    )
  }
  const verdict = [renderVerdict(result, counts.connected + counts.failed), result.afterConnect?.sentence ? `after connect: ${result.afterConnect.sentence}` : null].filter((part) => part !== null).join('; ')
  if (verdict) lines.push(`**Verdict:** ${markdownInline(verdict)}`, '')
  lines.push(`### Advice${run.serverName ? ` (for ${markdownInline(run.serverName)})` : ''}${advice.unverified ? ' — unverified' : ''}`, '', markdownInline(advice.model), '')
  if (advice.notTheFix) lines.push(`**A bigger queue is not the fix:** ${markdownInline(advice.notTheFix)}`, '')
  for (const recommendation of advice.recommendations) {
    lines.push(`- **${markdownInline(recommendation.knob)}** ${markdownInline(describeChange(recommendation))}`)
    for (const fact of recommendation.evidence) lines.push(`  - evidence: ${markdownInline(fact)}`)
    if (recommendation.lines.length > 0) {
      const fence = recommendation.lines.some((line) => line.includes('```')) ? '~~~~' : '```'
      lines.push('', `  ${fence}`, ...recommendation.lines.map((line) => `  ${line}`), `  ${fence}`, '')
    }
  }
  for (const warning of advice.warnings) lines.push(`- warning: ${markdownInline(warning)}`)
  if (result.verification) lines.push('', `**Verification:** ${result.verification.verified ? 'VERIFIED' : 'NOT VERIFIED'}: ${markdownInline(result.verification.reason)}`)
  if (result.thresholds && result.thresholds.length > 0) {
    lines.push('', '**Thresholds:**', ...result.thresholds.map((threshold) => `- ${threshold.held ? 'held' : 'FAILED'}: \`${threshold.expr.replaceAll('`', "'")}\` (measured ${markdownInline(threshold.display)})`))
  }
  return lines.join('\n').replaceAll(/\n{3,}/g, '\n\n').trimEnd()
}
