import {afterEach, describe, expect, it} from 'vitest'

import {closedPort, runCli, startLab, stopAllLabs} from '../helpers/cli.js'
import {parseJsonResult} from '../helpers/result.js'

afterEach(stopAllLabs)

describe('SYN-retransmit attribution on this kernel', () => {
  it('reports timed-out connects as "at least k retransmits": 4 fit in 4.5 s on the default ladder', async () => {
    const lab = await startLab(['--backlog', '1', '--stall', '60s'])
    const run = await runCli(['storm', lab.address, '--burst', '10', '--timeout', '4.5s', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.counts.connected).toBe(2)
    const ladder = result.ladder!
    // The rule, for whatever ladder this kernel has: every retransmit that surely left before the timeout.
    const surelyBeforeTimeout = ladder.sendTimesMs.filter((at) => at > 0 && at * 1.03 + 200 + result.attribution!.rttAllowanceMs < 4500).length
    expect(result.attribution!.timedOut).toEqual([{atLeastRetransmits: surelyBeforeTimeout, connects: 8}])
    if (ladder.synRetries === '6' && ladder.linearTimeouts === '4') expect(surelyBeforeTimeout).toBe(4) // 1, 2, 3, 4 s
    expect(result.attribution!.steps).toMatchObject([{retransmits: 0, connects: 2}])
    expect(run.elapsedMs).toBeLessThan(8_000)
  })


  it('records the ladder, the attribution and the kernel view in the JSON result', async () => {
    const run = await runCli(['storm', '--lab-backlog', '4', '--lab-stall', '1.2s', '--burst', '20', '--json'])
    const result = parseJsonResult(run.stdout)
    expect(result.kernel).toMatchObject({netns: 'shared', listener: {effectiveBacklog: 4, peakQueue: 5, source: 'netlink'}})
    expect(result.kernel!.sysctls['net.core.somaxconn']).toMatch(/^\d+$/)
    const {steps} = result.attribution!
    expect(steps[0]).toMatchObject({retransmits: 0, connects: 5})
    expect(steps.slice(1).reduce((sum, step) => sum + step.connects, 0)).toBe(15)
    expect(result.attribution!.expectedSynRetrans).toBe(steps.reduce((sum, step) => sum + step.retransmits * step.connects, 0))
    // Counters are per namespace and shared here: a verdict only when nothing else opened connections.
    const deltas = result.kernel!.counterDeltas!
    if (deltas.TcpActiveOpens === 20) expect(result.kernel!.corroborated).toBe(deltas.TcpExtTCPSynRetrans === result.attribution!.expectedSynRetrans)
    else expect(result.kernel!.corroborated).toBeNull()
  })
})

describe('connstorm inspect', () => {
  it('shows a listener made with backlog 7 with effective backlog 7, the sysctls and the ladder', async () => {
    const lab = await startLab(['--backlog', '7', '--stall', '30s'])
    const run = await runCli(['inspect', String(lab.port), '--json'])
    expect(run.code, run.stderr).toBe(0)
    const inspection = JSON.parse(run.stdout)
    expect(inspection.listeners).toEqual([{host: '127.0.0.1', port: lab.port, family: 4, recvQ: 0, sendQ: 7}])
    expect(inspection.sysctls.map((sysctl: {name: string}) => sysctl.name)).toContain('net.ipv4.tcp_syn_linear_timeouts')
    expect(inspection.ladder.sendTimesMs[0]).toBe(0)
    expect(inspection.counters.TcpExtListenOverflows).toBeGreaterThanOrEqual(0)

    const text = await runCli(['inspect', `127.0.0.1:${lab.port}`])
    expect(text.stdout).toMatch(new RegExp(`^  127\\.0\\.0\\.1:${lab.port} +effective backlog 7, queue holds 8; accept queue now 0$`, 'm'))
    expect(text.stdout).toMatch(/^  net\.core\.somaxconn = \d+ +upper limit on a listen\(\) backlog/m)
    expect(text.stdout).toMatch(/connect\(\) gives up with ETIMEDOUT at \d+ s/)
  })

  it('says "no listener" for a port nobody listens on, and exits 0', async () => {
    const port = await closedPort()
    const run = await runCli(['inspect', String(port)])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`^no listener on port ${port} `, 'm'))
  })

  it('refuses a malformed port with one line and exit 2', async () => {
    const run = await runCli(['inspect', '70000'])
    expect(run.code).toBe(2)
    expect(run.stderr.trim()).toMatch(/^connstorm inspect: TARGET: invalid value '70000'/)
  })
})
