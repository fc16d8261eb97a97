import {describe, expect, it} from 'vitest'

import type {StormResult} from '../../src/results/format.js'
import {renderSidesSeen} from '../../src/report/server-evidence-text.js'

/**
 * The report says which half of the storm it saw (docs/kernel.md §5): the client's only, both in
 * one kernel (the listener in the storm's namespace, counters mixed), or each side on its own host
 * (a watch's server evidence).
 */
const kernel = (listener: boolean, serverEvidence: boolean) =>
  ({
    kernel: {
      netns: 'shared',
      sysctls: {},
      counterDeltas: {},
      listener: listener ? {effectiveBacklog: 8, peakQueue: 9, samples: 10, source: 'netlink'} : null,
      ...(serverEvidence ? {serverEvidence: {}} : {}),
      corroborated: null,
      corroboration: null,
    },
  }) as unknown as Pick<StormResult, 'kernel'>

describe('which half of the storm the report saw', () => {
  it('a remote target without a watch: the client’s side only, and how to add the server’s', () => {
    expect(renderSidesSeen(kernel(false, false))).toEqual([
      "seen      the client's side only: the listener was not seen from this run's network namespace (it is on another host, or the file is a merge), so its queue, drops and sysctls are not known; connstorm watch PORT on its host, then analyze or report --server-evidence, adds them",
    ])
  })

  it('a listener in the storm’s namespace: both sides in one kernel, counters mixed', () => {
    expect(renderSidesSeen(kernel(true, false))).toEqual([
      "seen      both sides in one kernel: the listener is in this run's network namespace, so its queue and drops are seen, and the counters add up both ends (TcpExtTCPSynRetrans counts the server's SYN-ACK retransmits too)",
    ])
  })

  it('with a watch’s evidence (--server-evidence, --isolate): both sides, each on its own host', () => {
    expect(renderSidesSeen(kernel(true, true))).toEqual([
      "seen      both sides, each on its own host: the client's kernel (this run's counters) and the server's, seen there by connstorm watch (below)",
    ])
  })

  it('a run that could not read its kernel: the client’s connects only', () => {
    expect(renderSidesSeen({kernel: null})).toEqual(["seen      the client's side only, and not its kernel (this run could not read it): connects and their latencies"])
  })
})
