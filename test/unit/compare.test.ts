import {describe, expect, it} from 'vitest'

import {findServer} from '../../src/analysis/servers.js'
import {type ComparisonRow, adviceChanges, columnLabels, compareRuns} from '../../src/report/compare.js'
import {renderComparisonMarkdown, renderComparisonText, renderRunMarkdown} from '../../src/report/compare-text.js'
import {analyzeRun} from '../helpers/synthetic-result.js'
import {ALL_SYSCTLS_UNKNOWN, burstOf200AgainstBacklog8, onStep, syntheticResult} from '../helpers/synthetic-result.js'

/**
 * The before/after view: a burst of 200 against backlog 8 that is not accepting (191 connects
 * wait 2 SYN retransmits), then the same burst after the fix (backlog 255: all 200 at once).
 */
const before = analyzeRun('before.json', burstOf200AgainstBacklog8())
const after = analyzeRun(
  'after.json',
  syntheticResult({
    plan: {burst: '200'},
    connects: [onStep(0, 200)],
    listener: {effectiveBacklog: 255, peakQueue: 200},
    counterDeltas: {TcpActiveOpens: 200, TcpExtTCPSynRetrans: 0, TcpExtListenOverflows: 0},
  }),
)

function row(rows: readonly ComparisonRow[], section: ComparisonRow['section'], label: string): ComparisonRow {
  const found = rows.find((candidate) => candidate.section === section && candidate.label === label)
  if (!found) throw new Error(`no row ${section}/${label} in ${rows.map((candidate) => `${candidate.section}/${candidate.label}`).join(', ')}`)
  return found
}

describe('compareRuns: the before/after table', () => {
  const rows = compareRuns([before, after])

  it('compares p50/p99/max from the intended start, with the factor of the change', () => {
    expect(row(rows, 'latency', 'p50')).toMatchObject({values: ['2.05 s', '300 µs'], change: '÷6833'})
    expect(row(rows, 'latency', 'p99').values).toEqual(['2.05 s', '300 µs'])
    expect(row(rows, 'latency', 'max').values).toEqual(['2.05 s', '300 µs'])
    expect(row(rows, 'latency', 'max').numbers[0]).toBeGreaterThanOrEqual(2_049_000)
  })

  it('counts connects per ladder step, for every step either run reached', () => {
    expect(row(rows, 'ladder', 'no SYN retransmit')).toMatchObject({values: ['9', '200'], numbers: [9, 200], change: '+191'})
    expect(row(rows, 'ladder', '2 SYN retransmits (SYN at 2 s)')).toMatchObject({values: ['191', '0'], change: '−191'})
    expect(rows.filter((candidate) => candidate.section === 'ladder')).toHaveLength(2)
  })

  it('lists the outcomes with their shares, the rare ones only when a run had them', () => {
    expect(row(rows, 'outcomes', 'attempted')).toMatchObject({values: ['200', '200'], change: '='})
    expect(row(rows, 'outcomes', 'connected')).toMatchObject({values: ['200 (100.0 %)', '200 (100.0 %)'], change: '='})
    expect(row(rows, 'outcomes', 'timeout').values).toEqual(['0', '0'])
    expect(rows.some((candidate) => candidate.label === 'refused')).toBe(false)
  })

  it('shows how the advice changed: backlog proposed before, kept after', () => {
    expect(row(rows, 'advice', 'backlog')).toMatchObject({values: ['8 → 255', '255 (keep)'], change: 'changed'})
    expect(row(rows, 'advice', 'net.core.somaxconn')).toMatchObject({values: ['4096 (keep)', '4096 (keep)'], change: 'same'})
    expect(adviceChanges([before, after])).toEqual(['backlog: 8 → 255 in before.json, 255 (keep) in after.json'])
  })

  it('shows the kernel counters that tell the story', () => {
    expect(row(rows, 'kernel', 'TcpExtTCPSynRetrans')).toMatchObject({values: ['+382', '+0'], change: '−382'})
    expect(row(rows, 'kernel', 'TcpExtListenOverflows').values).toEqual(['+563', '+0'])
  })

  it('has one cell per run in every row', () => {
    for (const candidate of rows) expect(candidate.values, candidate.label).toHaveLength(2)
  })

  it('timeouts and a run that could not attribute ("—")', () => {
    const timedOut = analyzeRun('t.json', syntheticResult({plan: {burst: '20', timeout: '2.5s'}, connects: [onStep(0, 5)], failures: {timeout: 15}}))
    const blind = analyzeRun('blind.json', syntheticResult({plan: {burst: '20'}, connects: [onStep(0, 20)], sysctls: ALL_SYSCTLS_UNKNOWN}))
    const mixed = compareRuns([timedOut, blind])
    expect(row(mixed, 'ladder', 'timed out after ≥ 2 SYN retransmits').values).toEqual(['15', '—'])
    expect(row(mixed, 'ladder', 'no SYN retransmit').values).toEqual(['5', '—'])
    expect(row(mixed, 'ladder', 'attributed').values).toEqual(['yes', 'no (sysctls unknown)'])
    expect(row(mixed, 'outcomes', 'timeout').values).toEqual(['15 (75.0 %)', '0'])
  })

  it('with one run there is no change column', () => {
    expect(compareRuns([before]).every((candidate) => candidate.change === null)).toBe(true)
  })
})

describe('rendering the comparison', () => {
  it('text: a column per file, named by the file, and the advice changes', () => {
    const text = renderComparisonText([before, after])
    const lines = text.split('\n')
    expect(lines).toContainEqual(expect.stringMatching(/^ +before\.json +after\.json +change$/))
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}p99 +2\.05 s +300 µs +÷6833$/))
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}2 SYN retransmits \(SYN at 2 s\) +191 +0 +−191$/))
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}backlog +8 → 255 +255 \(keep\) +changed$/))
    expect(lines).toContain('  backlog: 8 → 255 in before.json, 255 (keep) in after.json')
    // columns line up: every row as long as the header or shorter (trailing blanks trimmed)
    const header = lines.find((line) => line.endsWith('change'))!
    expect(lines.filter((line) => line.startsWith('  p')).every((line) => line.length === header.length)).toBe(true)
  })

  it('markdown: a table with a column per file, pipes escaped', () => {
    const piped = {...after, label: 'after|fix.json'}
    const markdown = renderComparisonMarkdown([before, piped])
    expect(markdown).toContain('|  | before.json | after\\|fix.json | change |')
    expect(markdown).toContain('| p99 | 2.05 s | 300 µs | ÷6833 |')
    expect(markdown).toContain('| backlog | 8 → 255 | 255 (keep) | changed |')
    expect(markdown).toContain('- backlog: 8 → 255 in before.json, 255 (keep) in after|fix.json')
    const widths = markdown.split('\n').filter((line) => line.startsWith('|')).map((line) => line.replaceAll('\\|', '').split('|').length)
    expect(new Set(widths).size).toBe(1)
  })

  it('markdown of one run: figures, ladder steps, verdict and the advice with its lines', () => {
    const run = analyzeRun('run.json', burstOf200AgainstBacklog8(), findServer('nginx'))
    const markdown = renderRunMarkdown(run)
    expect(markdown).toContain('## connstorm report: run.json')
    expect(markdown).toContain('| 2 | 2 s | 191 | 95.5 % | 2.05 s |')
    expect(markdown).toMatch(/^\*\*Verdict:\*\* 191 of 200 connects/m)
    expect(markdown).toContain('### Advice (for nginx)')
    expect(markdown).toContain('- **backlog** 8 → 255')
    expect(markdown).toContain('  listen 80 backlog=255;  # on each listen directive that takes the storm')
  })
})

describe('columnLabels', () => {
  it('uses base names, whole paths when base names collide, and numbers repeats', () => {
    expect(columnLabels(['/tmp/x/before.json', 'after.json'])).toEqual(['before.json', 'after.json'])
    expect(columnLabels(['v1/run.json', 'v2/run.json'])).toEqual(['v1/run.json', 'v2/run.json'])
    expect(columnLabels(['run.json', 'run.json'])).toEqual(['run.json', 'run.json (2)'])
  })
})

describe('analyzeRun', () => {
  it('computes the advice again, with the server the run was given', () => {
    const result = burstOf200AgainstBacklog8()
    const saved = {...result, advice: {...analyzeRun('x', result).result.advice!, inputs: {acceptStallMs: null, server: 'redis'}}}
    const run = analyzeRun('x', saved)
    expect(run.serverName).toBe('Redis')
    expect(run.advice.recommendations[0]!.lines[0]).toBe('tcp-backlog 255')
    expect(run.result.recommendations).toEqual(run.advice.recommendations)
  })
})
