import {describe, expect, it} from 'vitest'

import type {PreflightFacts} from '../../src/results/format.js'
import {preflightProblems} from '../../src/analysis/limits.js'
import {buildPlan} from '../../src/plan/plan.js'

const ROOMY: PreflightFacts = {openFiles: 20_000, portRange: [32_768, 60_999], twReuse: '2', conntrackMax: null}

describe('preflightProblems', () => {
  it('finds nothing wrong with a default burst on this machine kind', () => {
    expect(preflightProblems(buildPlan({}), ROOMY, true)).toEqual([])
  })

  it('names the open-file limit and the number needed for 1000 held connections under ulimit 256', () => {
    const [problem] = preflightProblems(buildPlan({burst: '1000', close: 'hold'}), {...ROOMY, openFiles: 256}, true)
    expect(problem).toMatch(/keeps up to 1000 sockets open but this process may open 256 files; raise it to ≥ 1064 \(ulimit -n 1064/)
  })

  it('counts only connects in flight when they are closed at once', () => {
    expect(preflightProblems(buildPlan({burst: '1000', concurrency: '100'}), {...ROOMY, openFiles: 256}, true)).toEqual([])
  })

  it('says when more connections are open at once than there are source ports', () => {
    const [problem] = preflightProblems(buildPlan({burst: '2000', close: 'hold'}), {...ROOMY, portRange: [40_000, 40_999]}, true)
    expect(problem).toMatch(/need 2000 source ports but ip_local_port_range has 1000/)
  })

  it('does the TIME_WAIT arithmetic for --close fin (docs/kernel.md §8): 1000/s × 60 s > 1000 ports, unless tw_reuse covers the target', () => {
    const plan = buildPlan({rate: '1000', duration: '5s', close: 'fin', concurrency: '10'})
    const narrow = {...ROOMY, portRange: [40_000, 40_999] as [number, number]}
    expect(preflightProblems(plan, {...narrow, twReuse: '0'}, true)[0]).toMatch(/TIME_WAIT: --close fin at 1000\/s holds 5000 ports for 60 s, more than the 1000/)
    expect(preflightProblems(plan, {...narrow, twReuse: '2'}, true)).toEqual([]) // tw_reuse=2 reuses on loopback
    expect(preflightProblems(plan, {...narrow, twReuse: '2'}, false)).toHaveLength(1)
  })

  it('checks conntrack when it is loaded', () => {
    expect(preflightProblems(buildPlan({burst: '500', close: 'hold'}), {...ROOMY, conntrackMax: 100}, true)[0]).toMatch(/nf_conntrack_max is 100/)
  })
})

describe('preflightProblems with --source', () => {
  const narrow: PreflightFacts = {...ROOMY, portRange: [40_000, 40_999]}

  it('without --source, proposes the source addresses that would fit the plan', () => {
    const [problem] = preflightProblems(buildPlan({burst: '2500', close: 'hold'}), narrow, true)
    expect(problem).toMatch(/spread them with --source 127\.0\.0\.1-127\.0\.0\.3 \(loopback target\)/)
  })

  it('counts the port range once per bound source address', () => {
    expect(preflightProblems(buildPlan({burst: '2000', close: 'hold', source: '127.0.0.1-127.0.0.2'}), narrow, true)).toEqual([])
    const [problem] = preflightProblems(buildPlan({burst: '2500', close: 'hold', source: '127.0.0.1-127.0.0.2'}), narrow, true)
    expect(problem).toMatch(/2 source addresses × 1000 ports in ip_local_port_range give 2000; give ≥ 3 addresses to --source/)
  })
})
