import {statSync} from 'node:fs'
import {resolve} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {diagnose} from '../analysis/diagnose.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {EXIT} from '../cli/exit-codes.js'
import {parseThreshold} from '../plan/thresholds.js'
import {decodeHistogram, hdrLibrary} from '../results/histogram.js'
import {type MergedResult, mergeResults} from '../results/merge.js'
import {STDIN, readResult} from '../results/read.js'
import type {StormResult} from '../results/format.js'
import {STDOUT} from '../results/stdout.js'
import {assertWritable, writeFileAtomic, writeResultFile} from '../results/write.js'
import {UsageError} from '../errors.js'
import {renderRunReport} from '../report/run-report.js'

export default class Merge extends ConnstormCommand {
  static override summary = 'Merge the results of several shards or hosts of one storm into one result (HDR histograms added, never averaged)'
  static override description =
    'Histograms are added, counts summed, and the ladder attribution and the counters\' verdict computed again from the union, so merged percentiles are those of all samples together. Files whose plans or ladders differ are refused (the field is named) unless --force. The merged file is a valid result that analyze and report read; it keeps one section per source.\n\nShards of one split (--shard i/N) must all be there, each once: a missing shard is refused unless --allow-missing (a partial storm must not pass a CI gate silently), and two files of one shard index (a pod that ran twice) are always refused. --threshold judges the union, as storm --threshold judges one run.\n\nExit codes: 0 ok; 2 bad input (one line); 99 a --threshold failed on the merged union.'

  static override examples = [
    '<%= config.bin %> merge shard-1.json shard-2.json shard-3.json --out all.json',
    '<%= config.bin %> merge a.json b.json --out all.json --hdr-log all.hlog',
    "<%= config.bin %> merge shard-*.json --out all.json --threshold 'p99<100ms' --threshold 'timeout<1%'",
  ]

  static override strict = false
  static override enableJsonFlag = true

  static override args = {
    file: Args.string({description: 'result files written by storm --out (two or more, each once); - reads one from stdin', required: true}),
  }

  static override flags = {
    out: Flags.string({
      summary: 'the merged result file (written atomically); - writes it to stdout, which then carries only that JSON (the report goes to stderr)',
      helpValue: '<file>',
      required: true,
    }),
    force: Flags.boolean({summary: 'merge even when plans or ladders differ'}),
    'hdr-log': Flags.string({
      summary: "also write each source's connect-latency histogram as an HdrHistogram interval log (.hlog, for HistogramLogAnalyzer); - writes it to stdout",
      helpValue: '<file>',
    }),
    threshold: Flags.string({
      summary: "pass/fail of the merged union, repeatable, the grammar of storm --threshold (e.g. 'p99<100ms'): exit 99 when one fails",
      helpValue: '<expr>',
      multiple: true,
      // One value per --threshold: files may follow it (merge --threshold 'p99<100ms' shard-*.json).
      multipleNonGreedy: true,
    }),
    'allow-missing': Flags.boolean({summary: 'merge the shards that are there when some of the split (--shard i/N) are missing, and say which; refused otherwise'}),
  }

  async run(): Promise<MergedResult> {
    const {argv, flags} = await this.parse(Merge)
    const files = argv as string[]
    assertWritable(flags.out)
    if (flags['hdr-log'] !== undefined) assertWritable(flags['hdr-log'], '--hdr-log')
    // Parsed before any file is read: a malformed threshold is one line and exit 2, nothing written.
    const thresholds = (flags.threshold ?? []).map((expr) => parseThreshold(expr))
    assertEachOnce(files)
    const sources: {file: string; result: StormResult}[] = []
    // The merged file names each source; stdin is named as such, not as '-'.
    for (const file of files) sources.push({file: file === STDIN ? 'stdin' : file, result: await readResult(file)})
    const measurement = mergeResults(sources, {force: flags.force, allowMissing: flags['allow-missing']})
    const diagnosis = diagnose(measurement, {acceptStallMs: null, thresholds})
    const merged: MergedResult = {...diagnosis.result, sources: measurement.sources, merge: measurement.merge}
    writeResultFile(flags.out, merged)
    if (flags['hdr-log'] !== undefined) writeFileAtomic(flags['hdr-log'], intervalLog(merged, sources.map((source) => source.result)), '--hdr-log')
    this.log(renderRunReport(diagnosis))
    this.log('')
    for (const line of sourceLines(merged)) this.log(line)
    this.log(`merged    ${files.length} files (first connects ${merged.merge.startSpreadMs} ms apart) into ${flags.out === STDOUT ? 'stdout' : flags.out}`)
    const missing = merged.merge.missingShards
    if (missing !== undefined) {
      process.stderr.write(`connstorm merge: warning: shard${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of ${measurement.sources.find((source) => source.shard)?.shard?.count} missing (--allow-missing): the merged result is a partial storm\n`)
    }
    if (merged.thresholds?.some((threshold) => !threshold.held)) {
      if (this.jsonEnabled()) this.logJson(merged)
      this.exit(EXIT.thresholdFailed)
    }
    return merged
  }
}

/** One line per source: its shard, its counts and how far its first connect was from the start instant. */
function sourceLines(merged: MergedResult): string[] {
  const width = Math.max(...merged.sources.map((source) => source.file.length))
  return merged.sources.map((source) => {
    const shard = source.shard ? `shard ${source.shard.index}/${source.shard.count}` : 'no shard'
    const skew = source.startSkewMs === null ? 'unknown' : `${source.startSkewMs} ms`
    return `source    ${shard.padEnd(11)} ${source.file.padEnd(width)}  start skew ${skew}  attempted ${source.counts.attempted}, connected ${source.counts.connected}, failed ${source.counts.failed}`
  })
}

/**
 * A file given twice would count its connects twice. The same file is the same path once
 * resolved (./a.json and a.json), or the same device and inode (a hard link, a symlink); stdin
 * can be read only once. Files that cannot be stat'ed are left to the reader to refuse.
 */
function assertEachOnce(files: readonly string[]): void {
  const seen = new Map<string, string>()
  for (const file of files) {
    const keys = [file === STDIN ? 'stdin' : `path:${resolve(file)}`]
    if (file !== STDIN) {
      try {
        const {dev, ino} = statSync(file)
        keys.push(`inode:${dev}:${ino}`)
      } catch {
        // missing or unreadable: readResult names it
      }
    }
    for (const key of keys) {
      const first = seen.get(key)
      if (first !== undefined) {
        const same = file === first ? `'${file}' is given twice` : `'${first}' and '${file}' are the same file`
        throw new UsageError(`FILE: ${file === STDIN ? '- (stdin) is given twice' : same}; each result belongs in the merge once`, 'FILE_GIVEN_TWICE')
      }
      seen.set(key, file)
    }
  }
}

/** One interval per source, timed from the earliest start, in HdrHistogram's interval-log format. */
function intervalLog(merged: MergedResult, results: readonly StormResult[]): string {
  let text = ''
  const writer = new (hdrLibrary().HistogramLogWriter)((chunk: string) => (text += chunk))
  const start = Date.parse(merged.startedAt)
  writer.outputComment('connstorm connect latency from actual start, µs, one interval per source')
  writer.outputLogFormatVersion()
  writer.outputStartTime(start)
  writer.outputLegend()
  for (const [index, source] of merged.sources.entries()) {
    const histogram = decodeHistogram(results[index]!.histograms.fromActual)
    const from = (Date.parse(source.startedAt) - start) / 1000
    histogram.tag = source.file.replaceAll(/[\s,]/g, '_')
    writer.outputIntervalHistogram(histogram, from, from + source.durationMs / 1000, 1)
  }
  return text
}
