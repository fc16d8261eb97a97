import {describe, expect, it} from 'vitest'

import {type LimitFacts, localLimitFindings, preflightProblems} from '../../src/analysis/limits.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {PreflightFacts} from '../../src/results/format.js'

const facts = (over: Partial<LimitFacts>): LimitFacts => ({
  byOutcome: {fileLimit: 0, addrNotAvail: 0},
  openAtOnce: 1000,
  sources: undefined,
  loopbackTarget: true,
  limits: {openFiles: 256, portRange: [32_768, 60_999], problems: []},
  ...over,
})

describe('which local limit failed connects hit, and the fix', () => {
  it('finds nothing when no connect failed on this machine', () => {
    expect(localLimitFindings(facts({}))).toEqual([])
  })

  it('EMFILE: names the open-file limit and the ulimit that fits the plan', () => {
    const [finding] = localLimitFindings(facts({byOutcome: {fileLimit: 771, addrNotAvail: 0}}))
    expect(finding).toEqual({
      outcome: 'fileLimit',
      count: 771,
      limit: 'open files: this process may open 256 files and the plan keeps up to 1000 sockets open',
      fix: 'ulimit -n 1064 before the run (LimitNOFILE=1064 for a systemd service; the hard limit too: Node raises the soft limit to it), or lower --concurrency',
    })
  })

  it('EADDRNOTAVAIL: names the port range per source address and proposes enough addresses', () => {
    const [finding] = localLimitFindings(facts({byOutcome: {fileLimit: 0, addrNotAvail: 12_000}, openAtOnce: 40_000}))
    expect(finding!.limit).toBe('source ports: ip_local_port_range 32768–60999 gives 28232 ports per source address × 1 address, and ports in TIME_WAIT stay taken for 60 s')
    expect(finding!.fix).toMatch(/^--source 127\.0\.0\.1-127\.0\.0\.3, sysctl -w net\.ipv4\.ip_local_port_range="1024 65535", or --close rst/)
  })

  it('with --source already given, proposes more addresses than were used; off loopback, only a count', () => {
    const [finding] = localLimitFindings(facts({byOutcome: {fileLimit: 0, addrNotAvail: 5}, openAtOnce: 100, sources: ['198.18.0.1', '198.18.0.2'], loopbackTarget: false}))
    expect(finding!.limit).toMatch(/× 2 addresses/)
    expect(finding!.fix).toMatch(/^--source over ≥ 3 local addresses/)
  })

  it('says so when the pre-flight could not read the limits', () => {
    const findings = localLimitFindings(facts({byOutcome: {fileLimit: 3, addrNotAvail: 4}, limits: undefined}))
    expect(findings).toEqual([
      {
        outcome: 'fileLimit',
        count: 3,
        limit: 'open files: this process may open an unknown number of files and the plan keeps up to 1000 sockets open',
        fix: 'ulimit -n 1064 before the run (LimitNOFILE=1064 for a systemd service; the hard limit too: Node raises the soft limit to it), or lower --concurrency',
      },
      {
        outcome: 'addrNotAvail',
        count: 4,
        limit: 'source ports: the ephemeral port range per source address × 1 address, and ports in TIME_WAIT stay taken for 60 s',
        fix: 'more addresses with --source, sysctl -w net.ipv4.ip_local_port_range="1024 65535", or --close rst (no TIME_WAIT)',
      },
    ])
  })

  it('proposes one address more than the ports need: 28232 ports hold 28232 sockets on 1 address, so 2', () => {
    const [finding] = localLimitFindings(facts({byOutcome: {fileLimit: 0, addrNotAvail: 1}, openAtOnce: 28_232}))
    expect(finding!.fix).toMatch(/^--source 127\.0\.0\.1-127\.0\.0\.2,/)
    const [more] = localLimitFindings(facts({byOutcome: {fileLimit: 0, addrNotAvail: 1}, openAtOnce: 28_233}))
    expect(more!.fix).toMatch(/^--source 127\.0\.0\.1-127\.0\.0\.3,/)
  })

  it('on loopback with --source over 4 addresses, proposes 5 even when the ports need fewer', () => {
    const [finding] = localLimitFindings(facts({byOutcome: {fileLimit: 0, addrNotAvail: 1}, openAtOnce: 100, sources: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']}))
    expect(finding!.fix).toMatch(/^--source 127\.0\.0\.1-127\.0\.0\.5,/)
    expect(finding!.limit).toContain('per source address × 4 addresses,')
  })
})

describe('preflightProblems: the edges of each check, and the full lines', () => {
  const roomy: PreflightFacts = {openFiles: 20_000, portRange: [32_768, 60_999], twReuse: '0', conntrackMax: null}
  const narrow: PreflightFacts = {...roomy, portRange: [40_000, 40_999]}

  it('with --close hold counts every connect as open, even above --concurrency: 1000 held under ulimit 256', () => {
    expect(preflightProblems(buildPlan({burst: '1000', concurrency: '100', close: 'hold'}), {...roomy, openFiles: 256}, true)).toEqual([
      'open files: the plan keeps up to 1000 sockets open but this process may open 256 files; raise it to ≥ 1064 (ulimit -n 1064, or LimitNOFILE= for a service), or lower --concurrency',
    ])
  })

  it('fits exactly: 192 sockets + 64 descriptors of headroom = 256 files is no problem, 193 is', () => {
    expect(preflightProblems(buildPlan({burst: '192'}), {...roomy, openFiles: 256}, true)).toEqual([])
    expect(preflightProblems(buildPlan({burst: '193'}), {...roomy, openFiles: 256}, true)).toHaveLength(1)
  })

  it('checks nothing it could not read: open files, port range and conntrack unknown', () => {
    expect(preflightProblems(buildPlan({burst: '100000', close: 'hold'}), {openFiles: null, portRange: null, twReuse: null, conntrackMax: null}, true)).toEqual([])
  })

  it('off loopback, proposes a number of local addresses instead of a 127.0.0.x range', () => {
    expect(preflightProblems(buildPlan({burst: '2500', close: 'hold'}), narrow, false)).toEqual([
      'ephemeral ports: up to 2500 connections to one address need 2500 source ports but ip_local_port_range has 1000; ' +
        'spread them with --source over ≥ 3 local addresses, sysctl -w net.ipv4.ip_local_port_range="1024 65535", or lower --concurrency',
    ])
  })

  it('writes "1 source address" in the singular', () => {
    expect(preflightProblems(buildPlan({burst: '1500', close: 'hold', source: '127.0.0.1'}), narrow, true)).toEqual([
      'ephemeral ports: up to 1500 connections need 1500 source ports but 1 source address × 1000 ports in ip_local_port_range give 1000; ' +
        'give ≥ 2 addresses to --source, or sysctl -w net.ipv4.ip_local_port_range="1024 65535"',
    ])
  })

  it('does the TIME_WAIT arithmetic only for --close fin at a rate: --close rst and a fin burst keep no port 60 s', () => {
    expect(preflightProblems(buildPlan({rate: '1000', duration: '5s', close: 'rst', concurrency: '10'}), narrow, true)).toEqual([])
    expect(preflightProblems(buildPlan({burst: '5000', close: 'fin', concurrency: '10'}), narrow, true)).toEqual([])
  })

  it('writes the TIME_WAIT line in full, and drops it when tcp_tw_reuse=1 reuses ports for any target', () => {
    const plan = buildPlan({rate: '1000', duration: '5s', close: 'fin', concurrency: '10'})
    expect(preflightProblems(plan, narrow, false)).toEqual([
      'TIME_WAIT: --close fin at 1000/s holds 5000 ports for 60 s, more than the 1000 in ip_local_port_range; use --close rst (no TIME_WAIT), or sysctl -w net.ipv4.tcp_tw_reuse=1',
    ])
    expect(preflightProblems(plan, {...narrow, twReuse: '1'}, false)).toEqual([])
  })

  it('fits exactly: 1/s × 60 s = 60 ports in TIME_WAIT against a range of 60 ports is no problem', () => {
    const plan = buildPlan({rate: '1', duration: '60s', close: 'fin', concurrency: '10'})
    expect(preflightProblems(plan, {...roomy, portRange: [40_000, 40_059]}, false)).toEqual([])
    expect(preflightProblems(plan, {...roomy, portRange: [40_000, 40_058]}, false)[0]).toMatch(/^TIME_WAIT: --close fin at 1\/s holds 60 ports for 60 s, more than the 59 /)
  })

  it('writes the conntrack line in full, proposing twice the connections, and fits exactly at nf_conntrack_max', () => {
    expect(preflightProblems(buildPlan({burst: '500', close: 'hold'}), {...roomy, conntrackMax: 100}, true)).toEqual([
      'conntrack: up to 500 connections but nf_conntrack_max is 100; sysctl -w net.netfilter.nf_conntrack_max=1000',
    ])
    expect(preflightProblems(buildPlan({burst: '500', close: 'hold'}), {...roomy, conntrackMax: 500}, true)).toEqual([])
  })
})
