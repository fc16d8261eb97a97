import {Args} from '@oclif/core'

import {ConnstormCommand} from '../cli/base-command.js'
import {EXIT} from '../cli/exit-codes.js'
import {SEARCH_FLAGS, parseSearchOptions} from '../cli/search-options.js'
import {withStopSignals} from '../cli/signals.js'
import {renderSearchReport} from '../report/search-text.js'
import type {SearchFile} from '../results/search-format.js'
import {writeFileAtomic} from '../results/write.js'
import {runSearch} from '../run/search.js'

export default class Search extends ConnstormCommand {
  static override summary = 'Find the largest burst (or the highest connect rate) a listener absorbs with no SYN dropped'
  static override description = `Runs storms of growing size until one fails, then narrows the bracket between the largest passing and the smallest failing size (RFC 2544's binary search, grown from a small first trial as MLRsearch does), and repeats the answer once to confirm it. A trial passes when every connect got in on its first SYN and none failed (NDR), or, with --pdr, when it meets those thresholds. A failing burst tells how many connects the queue admitted at once, and the search tries that size next.

Without TARGET every trial gets a built-in lab of its own, stalled from its first connect, so trials cannot leak into each other and a burst search is exact. A trial that fails for another reason than SYN loss (refused, reset, a local limit) ends the search with that verdict. Bounded by --max-trials and --max-duration; Ctrl-C prints the trials so far and their bracket (exit 130).`

  static override examples = [
    '<%= config.bin %> search --lab-backlog 16',
    '<%= config.bin %> search 127.0.0.1:8080 --burst --max 2000',
    "<%= config.bin %> search 127.0.0.1:8080 --rate --duration 5s --pdr 'p99<200ms'",
  ]

  static override enableJsonFlag = true

  static override args = {
    target: Args.string({description: 'host:port or [v6addr]:port; omit it to search a built-in lab', required: false}),
  }

  static override flags = SEARCH_FLAGS

  async run(): Promise<SearchFile> {
    const {args, flags} = await this.parse(Search)
    const options = parseSearchOptions(args.target, flags)
    return withStopSignals(async (stop) => {
      const search = await runSearch(options, {signal: stop.signal, tool: {name: this.config.name, version: this.config.version}})
      if (options.out !== undefined) writeFileAtomic(options.out, `${JSON.stringify(search, null, 2)}\n`)
      if (!this.jsonEnabled()) this.log(renderSearchReport(search))
      if (search.stopReason === 'interrupted') {
        if (this.jsonEnabled()) this.logJson(search)
        this.exit(EXIT[stop.stoppedBy])
      }
      return search
    })
  }
}
