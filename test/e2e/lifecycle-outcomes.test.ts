import type {ChildProcess} from 'node:child_process'

import {afterAll, describe, expect, it} from 'vitest'

import {burstAgainst, childPids, isAlive, pollUntil, runCli, startLab, stopAllLabs, waitFor} from '../helpers/cli.js'
import {parseJsonResult} from '../helpers/result.js'

// The default run's text report, stopping early, and the lab's own life. Where these time
// something, a busy machine can only lengthen it and every bound leaves it most of a second or more:
// the report's 25 retransmitted connects get in 0.8 s after the 1.2 s stall ends, the SIGHUP test's
// cut-off connects are ~0.7 s short of their next retransmit, the deadlines have 1.5–3 s; the
// connects on step 0 are those the kernel counted no retransmit for (TCP_INFO), whenever they were
// seen; signals are sent once the kernel shows the burst in place, not after a fixed wait. So the
// file runs side by side with others (vitest.config.ts), its tests concurrently: each has its own
// storm and lab, stopped after the file (an afterEach would stop a running sibling's). The default
// run whose immediate connects are timed within 100 ms is lifecycle.test.ts's, one file at a time.
afterAll(stopAllLabs)

describe.concurrent('each test with a storm and a lab of its own, side by side', () => {
  describe('connstorm storm with no TARGET (the default run, as `npm start` does it)', () => {
    it('prints the text report with the lab settings and a chart row at ~1 s or later', async () => {
      const run = await runCli(['storm', '--lab-backlog', '4', '--lab-stall', '1.2s', '--burst', '30'])
      expect(run.code, run.stderr).toBe(0)
      expect(run.stdout).toMatch(/the built-in lab target/)
      expect(run.stdout).toMatch(/backlog 4 \(effective 4, accept queue holds 5\); accepts nothing for the first 1\.20 s/)
      expect(run.stdout).toMatch(/connected 30 \(100\.0%\)/)
      // 5 admitted at once; the other 25 on one retransmit step after the 1.2 s stall, labelled with it.
      expect(run.stdout).toMatch(/^\s+\d\.\d\d s – \d\.\d\d s\s+█+\s+25\s+100\.0%  k=[12]$/m)
      // …and puts them on this kernel's ladder, with a verdict the kernel's counters back.
      expect(run.stdout).toMatch(/^SYN retransmits — ladder from this kernel \(tcp_syn_retries=\d+, tcp_syn_linear_timeouts=\d+\)/m)
      expect(run.stdout).toMatch(/^\s+0\s+0 s\s+5\s+16\.7 %/m)
      expect(run.stdout).toMatch(/^listener  effective backlog 4 \(source: netlink\); peak accept queue 5\/4\+1 \(full\)/m)
      expect(run.stdout).toMatch(/^verdict   25 of 30 connects \(83\.3 %\) waited for \d SYN retransmits? \(~[\d.]+ s, counted by the kernel per connect\): the listener's accept queue \(4\+1\) was full; /m)
      expect(run.stdout).toMatch(/^  per connect: counted by the kernel \(TCP_INFO\)$/m)
    })
  })

  describe('stopping early: Ctrl-C and the hard deadline', () => {
    /**
     * Interrupts a 30-connect burst against a lab with backlog 2 that accepts nothing for 20 s, once the
     * kernel shows the burst in place: the lab's accept queue full at 3 (backlog + 1), the other 27
     * clients in SYN-SENT, and the 3 admitted ones already closed by the storm (it saw them connect).
     */
    async function interruptMidRun(args: string[], {signal = 'SIGINT', afterMs = 0}: {signal?: NodeJS.Signals; afterMs?: number} = {}): Promise<{run: Awaited<ReturnType<typeof runCli>>; labPids: number[]}> {
      let storm: ChildProcess | undefined
      const running = runCli(['storm', '--lab-stall', '20s', '--lab-backlog', '2', '--burst', '30', ...args], {onSpawn: (child) => (storm = child)})
      let labPids: number[] = []
      await waitFor(() => (labPids = childPids(storm!.pid!)).length > 0, 10_000)
      const inFlight = await pollUntil(() => burstAgainst(labPids[0]!), (burst) => burst?.queued === 3 && burst.synSent === 27 && burst.clientsEstablished === 0, {timeoutMs: 20_000})
      expect(inFlight, 'the burst in the kernel before Ctrl-C').toMatchObject({queued: 3, synSent: 27, clientsEstablished: 0})
      if (afterMs > 0) await new Promise((resolve) => setTimeout(resolve, afterMs))
      storm!.kill(signal)
      return {run: await running, labPids}
    }

    it('prints a partial report on SIGINT, exits 130 and leaves no lab process behind', async () => {
      const {run, labPids} = await interruptMidRun([])
      expect(run.code).toBe(130)
      expect(run.stdout).toMatch(/PARTIAL\s+interrupted/)
      expect(run.stdout).toMatch(/connected 3 /)
      expect(run.stdout).toMatch(/27 still in flight when the run stopped/)
      expect(labPids.length).toBe(1)
      expect(await waitFor(() => labPids.every((pid) => !isAlive(pid)), 2000)).toBe(true)
    })

    it('on SIGHUP (terminal closed, ssh dropped) prints the partial report like Ctrl-C, exits 129, and says the cut-off connects had each sent a retransmit', async () => {
      // Sent 1.5 s after the burst was seen in place: every SYN-SENT connect had been waiting ≥ 1.5 s,
      // past the 1 s retransmit (whose window closes at 1.23 s), short of the 2 s one on the default
      // ladder and the 3 s one on the classic.
      const {run, labPids} = await interruptMidRun([], {signal: 'SIGHUP', afterMs: 1500})
      expect(run.code).toBe(129)
      expect(run.stdout).toMatch(/PARTIAL\s+interrupted/)
      expect(run.stdout).toMatch(/connected 3 /)
      expect(run.stdout).toMatch(/27 still in flight when the run stopped \(not counted as failed; each still waiting after ≥ 1 SYN retransmit\)/)
      expect(run.stdout).toMatch(/^verdict   27 still waiting after ≥ 1 SYN retransmit: the listener's accept queue \(2\+1\) was full; /m)
      expect(await waitFor(() => labPids.every((pid) => !isAlive(pid)), 2000)).toBe(true)
    })

    it('with --json, prints the partial result as JSON on SIGINT', async () => {
      const {run} = await interruptMidRun(['--json'])
      expect(run.code).toBe(130)
      const result = parseJsonResult(run.stdout)
      expect(result).toMatchObject({partial: true, stopReason: 'interrupted'})
      expect(result.counts).toMatchObject({attempted: 30, connected: 3, pending: 27, notStarted: 0})
    })

    it('stops at --max-duration even while connects are still waiting, and marks the result partial', async () => {
      const lab = await startLab(['--backlog', '1', '--stall', '60s'])
      const run = await runCli(['storm', lab.address, '--burst', '10', '--timeout', '30s', '--max-duration', '1500ms', '--json'])
      expect(run.code, run.stderr).toBe(0)
      const result = parseJsonResult(run.stdout)
      expect(result).toMatchObject({partial: true, stopReason: 'deadline'})
      expect(result.counts).toMatchObject({connected: 2, pending: 8})
      expect(result.durationMs).toBeGreaterThanOrEqual(1500)
      expect(result.durationMs).toBeLessThan(3000) // the deadline timer, plus a loaded machine's lateness
    })
  })

  describe('connstorm lab', () => {
    it('prints "listening HOST:PORT" first, then the effective backlog, and exits 0 on SIGTERM', async () => {
      let lab: ChildProcess | undefined
      let printed = ''
      const running = runCli(['lab', '--port', '0', '--backlog', '8', '--stall', '2.5s'], {
        onSpawn: (child) => {
          lab = child
          child.stdout!.on('data', (chunk: string) => (printed += chunk))
        },
      })
      // SIGTERM once both lines are out, in the middle of the stall.
      expect(await waitFor(() => /^backlog .*\n/m.test(printed), 20_000), `the lab printed: ${printed}`).toBe(true)
      lab!.kill('SIGTERM')
      const run = await running
      expect(run.code).toBe(0)
      const lines = run.stdout.split('\n')
      expect(lines[0]).toMatch(/^listening 127\.0\.0\.1:\d+$/)
      expect(lines[1]).toMatch(/^backlog 8 \(effective 8 = min\(8, net\.core\.somaxconn \d+\); the accept queue holds 9\)$/)
      expect(run.stdout).toMatch(/stopped \(signal\)/)
    })

    it('exits by itself at --max-duration, even in the middle of a stall', async () => {
      let listeningAt = 0
      const run = await runCli(['lab', '--stall', '30s', '--max-duration', '1s', '--json'], {
        onSpawn: (child) => child.stdout!.once('data', () => (listeningAt = Date.now())),
      })
      expect(run.code).toBe(0)
      // Counted from its first line, not from Node's start-up (seconds on a busy machine). The stall
      // would end 30 s after it; 4 s leaves a loaded machine's late timer and exit 3 s of room.
      expect(Date.now() - listeningAt).toBeLessThan(4000)
      const [first, ...rest] = run.stdout.split('\n')
      expect(JSON.parse(first!)).toMatchObject({host: '127.0.0.1', backlog: 511})
      expect(JSON.parse(rest.join('\n'))).toMatchObject({stopReason: 'max-duration', accepted: 0})
    })

    it('accepts at most --accept-rate connections per second', async () => {
      const lab = await startLab(['--backlog', '256', '--accept-rate', '20'])
      const storm = await runCli(['storm', lab.address, '--burst', '100', '--close', 'hold', '--max-duration', '1s', '--json'])
      expect(parseJsonResult(storm.stdout).counts.connected).toBe(100) // the queue holds them all
      const report = await lab.stop()
      // It had 100 waiting for ≥ 1 s, yet accepted no faster than 20/s over its whole life.
      expect(report.accepted).toBeGreaterThanOrEqual(15)
      expect(report.accepted).toBeLessThanOrEqual(Math.ceil((20 * report.durationMs) / 1000) + 1)
    })
  })
})
