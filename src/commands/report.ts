import {Args, Flags} from '@oclif/core'
import {EXIT} from '../cli/exit-codes.js'

import {diagnose, savedInputs} from '../analysis/diagnose.js'
import {ConnstormCommand} from '../cli/base-command.js'
import {UsageError} from '../errors.js'
import {resolveServer, serverFlag} from '../cli/server-flag.js'
import {type ReportRun, columnLabels, compareRuns} from '../report/compare.js'
import {renderComparisonMarkdown, renderComparisonText, renderRunMarkdown} from '../report/compare-text.js'
import {chartPoints} from '../report/svg-chart.js'
import {renderHtmlReport} from '../report/html.js'
import {renderOpenMetrics, runLabels} from '../report/openmetrics.js'
import {PushError, parsePushUrl, push} from '../report/push.js'
import {renderRunReport} from '../report/run-report.js'
import {renderSearchHtml} from '../report/search-html.js'
import {renderSearchReport} from '../report/search-text.js'
import {joinServerEvidence} from '../watch/evidence.js'
import {STDIN, readSaved} from '../results/read.js'
import {STDOUT} from '../results/stdout.js'
import {assertWritable, writeFileAtomic} from '../results/write.js'

const FORMATS = ['text', 'json', 'markdown', 'openmetrics'] as const

export default class Report extends ConnstormCommand {
  static override summary = 'Re-render saved runs (storm --out): one file as the live run printed it, several side by side, or an HTML report'
  static override description =
    'With one FILE, prints its report exactly as `analyze` does (--format text), the result itself (json) or a compact markdown version. ' +
    'With several, a side-by-side comparison — p50/p99/max, connects per SYN-retransmit ladder step, outcomes and how the advice changed — ' +
    'each column named by its file: the before/after-a-release view. --html OUT writes one self-contained HTML file (charts drawn as SVG, no network) ' +
    'with the latency histogram and its ladder steps, the timeline of completions, the outcomes, the attribution table and the advice. ' +
    '--format openmetrics prints one run as Prometheus metrics (docs/openmetrics.md): latency histograms whose buckets include the ladder\'s steps, ' +
    'connects per outcome and per SYN retransmit, kernel counter deltas, labelled with target, run and shard; --push URL sends them to a Pushgateway instead.'

  static override examples = [
    '<%= config.bin %> report run.json',
    '<%= config.bin %> report before.json after.json',
    '<%= config.bin %> report before.json after.json --format markdown',
    '<%= config.bin %> report run.json --html run.html',
    '<%= config.bin %> report run.json --format openmetrics',
    '<%= config.bin %> report run.json --push http://pushgateway:9091',
  ]

  static override strict = false
  // No --json here (--format json prints the result): keep oclif's --json flag off the help.
  static override baseFlags = {}

  static override args = {
    file: Args.string({description: 'result files written by storm --out (one or more); - reads one from stdin', required: true}),
  }

  static override flags = {
    format: Flags.string({
      summary: 'what to print: text, json, markdown, or openmetrics (one run\'s Prometheus metrics); with --html: print it as well',
      options: [...FORMATS],
      helpValue: '<format>',
    }),
    html: Flags.string({
      summary: 'also write a self-contained HTML report to this file; - writes it to stdout, and the text goes to stderr',
      helpValue: '<file>',
    }),
    server: serverFlag(),
    push: Flags.string({
      summary: 'send the run\'s metrics (--format openmetrics) to this Prometheus Pushgateway instead of printing them, e.g. http://pushgateway:9091',
      helpValue: '<url>',
    }),
    'server-evidence': Flags.string({
      summary: "with one FILE: a watch file (connstorm watch --out) from the target's host, laid over the run by wall clock; the verdict and the advice then use its listener, drops and sysctls",
      helpValue: '<watch.json>',
    }),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Report)
    const files = argv as string[]
    if (flags.html !== undefined) assertWritable(flags.html, '--html')
    if (files.filter((file) => file === STDIN).length > 1) throw new UsageError('FILE: - (stdin) is given more than once; it can be read only once', 'FILE_GIVEN_TWICE')
    const server = resolveServer(flags.server)
    const pushUrl = flags.push === undefined ? undefined : parsePushUrl(flags.push)
    if (pushUrl !== undefined && flags.format !== undefined && flags.format !== 'openmetrics') {
      throw new UsageError(`--push sends metrics: it takes --format openmetrics (or no --format), not --format ${flags.format}`, 'USAGE')
    }
    const metrics = pushUrl !== undefined || flags.format === 'openmetrics'
    if (metrics && files.length > 1) throw new UsageError(`FILE: ${pushUrl === undefined ? '--format openmetrics' : '--push'} takes one result file (${files.length} given); one run is one group of metrics`, 'USAGE')
    if (flags['server-evidence'] !== undefined && files.length > 1) throw new UsageError('--server-evidence: only with one FILE (the run the watch belongs to)', 'INVALID_OPTION')
    // Every file is read and validated before anything is printed or written.
    const labels = columnLabels(files.map((file) => (file === STDIN ? 'stdin' : file)))
    const runs: ReportRun[] = []
    for (const [index, file] of files.entries()) {
      const saved = await readSaved(file)
      if (saved.kind === 'search') {
        // A search is its own report (the trace, the answer, its curves); its trials are storms of the file.
        if (files.length > 1 || (flags.format ?? 'text') !== 'text' || pushUrl !== undefined) {
          throw new UsageError(`FILE: ${file === STDIN ? 'stdin' : `'${file}'`} is a search: report shows one search, as text or --html`, 'FILE_NOT_RESULT')
        }
        if (flags.html === undefined) return this.log(renderSearchReport(saved.search))
        writeFileAtomic(flags.html, renderSearchHtml(saved.search), '--html')
        return this.log(`wrote ${flags.html === STDOUT ? 'stdout' : flags.html}`)
      }
      const measured = joinServerEvidence(saved.result, flags['server-evidence'], file === STDIN ? 'stdin' : `'${file}'`)
      runs.push({label: labels[index]!, ...diagnose(measured, savedInputs(measured, server))})
    }

    if (flags.html !== undefined) {
      const html = renderHtmlReport(runs)
      writeFileAtomic(flags.html, html, '--html')
      if (flags.format === undefined) {
        const charts = Object.entries(chartPoints(html)).filter(([, points]) => points > 0).length
        this.log(`wrote ${flags.html === STDOUT ? 'stdout' : flags.html} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KB, ${charts} charts with data)`)
        return
      }
    }

    if (metrics) {
      const {result} = runs[0]!
      if (pushUrl === undefined) return this.log(renderOpenMetrics(result).trimEnd())
      // The Pushgateway adds the grouping key's labels itself; the text must not carry them too.
      const exposition = renderOpenMetrics(result, {withoutRunLabels: true})
      try {
        const target = await push(pushUrl, runLabels(result), exposition)
        return this.log(`pushed ${exposition.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length} samples to ${target.href}`)
      } catch (error) {
        if (!(error instanceof PushError)) throw error
        // Not the user's input (exit 2) and not a bug (exit 1): the metrics were not delivered.
        process.stderr.write(`connstorm report: ${error.message}\n`)
        return this.exit(EXIT.pushFailed)
      }
    }

    const format = (flags.format ?? 'text') as (typeof FORMATS)[number]
    if (runs.length === 1) {
      const [run] = runs as [(typeof runs)[number]]
      if (format === 'json') this.log(JSON.stringify(run.result, null, 2))
      else if (format === 'markdown') this.log(renderRunMarkdown(run))
      else this.log(renderRunReport(run))
      return
    }
    const rows = compareRuns(runs)
    if (format === 'json') this.log(JSON.stringify({files: runs.map((run, index) => ({file: files[index], label: run.label})), rows}, null, 2))
    else if (format === 'markdown') this.log(renderComparisonMarkdown(runs, rows))
    else this.log(renderComparisonText(runs, rows))
  }
}
