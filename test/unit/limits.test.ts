import {describe, expect, it} from 'vitest'

import {type LimitFacts, localLimitFindings} from '../../src/analysis/limits.js'

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
