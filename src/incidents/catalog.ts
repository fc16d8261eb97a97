import type {StormResult} from '../results/format.js'

/**
 * The incident gallery: each classic connection-timeout incident as users report it, the lab and
 * namespace settings that cause it, and the diagnosis connstorm must reach. `connstorm reproduce`
 * runs one with --isolate; test/e2e/incidents.test.ts asserts every diagnosis against a live run.
 */
export interface Incident {
  name: string
  /** what users report, in their words */
  symptom: string
  /** what really happens in the kernel and the server */
  cause: string
  /** storm flags (the command adds --isolate and --json) */
  args: string[]
  /** the diagnosis, in words, as --list and the README show it */
  expected: string
  /** why it takes longer than 30 s, when it does */
  longer?: string
  /** every way the live run differs from the expected diagnosis; [] when it matches */
  check(result: StormResult): string[]
}

/** Connects per ladder step k. */
function onStep(result: StormResult, k: number): number {
  return result.attribution?.steps.find((step) => step.retransmits === k)?.connects ?? 0
}

function delayed(result: StormResult): number {
  return (result.attribution?.steps ?? []).filter((step) => step.retransmits > 0).reduce((sum, step) => sum + step.connects, 0)
}

function expectThat(failures: string[], condition: boolean, what: string): void {
  if (!condition) failures.push(what)
}

function recommendation(result: StormResult, knob: string) {
  return result.recommendations?.find((candidate) => candidate.knob === knob)
}

export const INCIDENTS: readonly Incident[] = [
  {
    name: 'java-default-backlog',
    symptom: 'After a deploy, the first 300 clients all connect at once; about 50 get in instantly and the rest hang 2–3 s, some time out at 1 s.',
    cause: 'new ServerSocket(port) listens with backlog 50, and a 2 s GC pause at start-up accepts nothing: 51 fit the queue, the other SYNs are dropped and retransmitted.',
    args: ['--lab-backlog', '50', '--lab-stall', '2s', '--burst', '300'],
    expected: '51 connects at once (50 + 1), the other 249 on the 2 or 3 s retransmit step; advice: backlog 511',
    check(result) {
      const failures: string[] = []
      expectThat(failures, onStep(result, 0) === 51, `51 connects at once (got ${onStep(result, 0)})`)
      expectThat(failures, onStep(result, 2) + onStep(result, 3) === 249, `249 on the 2–3 s steps (got ${onStep(result, 2) + onStep(result, 3)})`)
      expectThat(failures, recommendation(result, 'backlog')?.proposed === '511', `backlog 511 proposed (got ${recommendation(result, 'backlog')?.proposed})`)
      return failures
    },
  },
  {
    name: 'tomcat-accept-count',
    symptom: 'Under a steady 200 requests/s, Spring Boot clients see connect timeouts although CPU is fine; raising acceptCount did not help for long.',
    cause: 'acceptCount 100 is the backlog, but the connector accepts only 100 connections/s: the queue grows by 100/s, fills in a second, and SYNs are dropped from then on.',
    args: ['--lab-backlog', '100', '--lab-stall', '0', '--lab-accept-rate', '100', '--rate', '200', '--duration', '3s', '--timeout', '8s'],
    expected: 'connects on retransmit steps once the queue fills; advice: a bigger queue is not the fix (accepts 100/s < arrivals 200/s)',
    check(result) {
      const failures: string[] = []
      expectThat(failures, delayed(result) > 0, 'connects delayed by SYN retransmits')
      expectThat(failures, (result.advice?.notTheFix ?? '').includes('slower than arrivals'), 'advice says a bigger queue is not the fix')
      expectThat(failures, recommendation(result, 'backlog')?.proposed === null, 'no bigger backlog proposed')
      return failures
    },
  },
  {
    name: 'legacy-somaxconn-128',
    symptom: 'We set backlog 511 everywhere, yet ss shows 128 and bursts still time out on the old kernel.',
    cause: 'net.core.somaxconn was 128 (the default before Linux 5.4): listen(511) is silently capped to 128.',
    args: ['--sysctl', 'net.core.somaxconn=128', '--lab-backlog', '511', '--lab-stall', '2s', '--burst', '300'],
    expected: 'effective backlog 128 (Send-Q), 129 connects at once, the rest on a retransmit step; advice: raise net.core.somaxconn, then restart',
    check(result) {
      const failures: string[] = []
      expectThat(failures, result.kernel?.listener?.effectiveBacklog === 128, `Send-Q 128 (got ${result.kernel?.listener?.effectiveBacklog})`)
      expectThat(failures, onStep(result, 0) === 129, `129 at once (got ${onStep(result, 0)})`)
      const somaxconn = recommendation(result, 'net.core.somaxconn')
      expectThat(failures, somaxconn?.current === '128' && Number(somaxconn.proposed) >= 300, `somaxconn 128 → ≥ 300 proposed (got ${somaxconn?.proposed})`)
      expectThat(failures, (somaxconn?.lines ?? []).some((line) => /restart/.test(line)), 'the somaxconn advice says restart')
      return failures
    },
  },
  {
    name: 'somaxconn-raised-without-restart',
    symptom: 'We raised net.core.somaxconn to 4096 an hour ago, but the service still drops connects in bursts.',
    cause: 'somaxconn is read at listen() time: the service listened while it was 128 and keeps that cap until it listens again.',
    args: ['--sysctl', 'net.core.somaxconn=128', '--sysctl-after-listen', 'net.core.somaxconn=4096', '--lab-backlog', '511', '--lab-stall', '2s', '--burst', '300'],
    expected: 'somaxconn reads 4096 but the listener still shows Send-Q 128; advice: restart or re-listen',
    check(result) {
      const failures: string[] = []
      expectThat(failures, result.kernel?.sysctls['net.core.somaxconn'] === '4096', 'somaxconn reads 4096 during the storm')
      expectThat(failures, result.kernel?.listener?.effectiveBacklog === 128, `Send-Q still 128 (got ${result.kernel?.listener?.effectiveBacklog})`)
      expectThat(failures, delayed(result) > 0, 'connects delayed by SYN retransmits')
      expectThat(failures, (result.advice?.warnings ?? []).some((warning) => /restart the service/.test(warning)), 'advice says restart / listen again')
      return failures
    },
  },
  {
    name: 'node-event-loop-block',
    symptom: 'Our Node API sometimes freezes for a few seconds; during a freeze, clients connect after exactly 3 s or time out.',
    cause: 'A synchronous 3 s task blocks the event loop, so nothing is accepted: 512 connects fit the default backlog 511 + 1, the rest wait for the SYN retransmit after the block.',
    args: ['--lab-backlog', '511', '--lab-stall', '3s', '--burst', '700'],
    expected: '512 at once, 188 on the 3 s retransmit step',
    check(result) {
      const failures: string[] = []
      expectThat(failures, onStep(result, 0) === 512, `512 at once (got ${onStep(result, 0)})`)
      expectThat(failures, onStep(result, 3) === 188, `188 on the 3 s step (got ${onStep(result, 3)})`)
      return failures
    },
  },
  {
    name: 'classic-ladder',
    symptom: 'On our older kernels clients wait 1, 3 or 7 s, never 2 or 4 s like on the new hosts.',
    cause: 'Before Linux 6.5 there is no tcp_syn_linear_timeouts: the SYN RTO doubles from the start (1, 3, 7, 15 s).',
    args: ['--sysctl', 'net.ipv4.tcp_syn_linear_timeouts=0', '--lab-backlog', '8', '--lab-stall', '4s', '--burst', '50'],
    expected: 'ladder 1, 3, 7, 15 … s; the delayed connects on the 7 s step (3 retransmits), none at 4 or 5 s',
    check(result) {
      const failures: string[] = []
      expectThat(failures, (result.ladder?.sendTimesMs ?? []).slice(1, 4).join(',') === '1000,3000,7000', 'ladder starts 1, 3, 7 s')
      expectThat(failures, onStep(result, 3) === 41, `41 on the 7 s step (got ${onStep(result, 3)})`)
      return failures
    },
  },
  {
    name: 'syncookies-off',
    symptom: 'With SYN cookies disabled (a hardening guide said so), a reconnect wave trickles in a few clients per second.',
    cause: 'Without cookies a wave of retransmitted SYNs gets only as many request socks as the queue (backlog + 1); the rest are dropped again, one staircase step per retransmit.',
    args: ['--sysctl', 'net.ipv4.tcp_syncookies=0', '--lab-backlog', '4', '--lab-stall', '1.5s', '--burst', '20', '--timeout', '8s'],
    expected: 'a staircase: 5 at once, then about 5 per retransmit step; TcpExtTCPReqQFullDrop moves; advice: syncookies 1',
    check(result) {
      const failures: string[] = []
      const steps = (result.attribution?.steps ?? []).filter((step) => step.retransmits > 0)
      expectThat(failures, steps.length >= 3, `delayed connects spread over ≥ 3 steps (got ${steps.length})`)
      expectThat(failures, (result.kernel?.counterDeltas?.TcpExtTCPReqQFullDrop ?? 0) > 0, 'TcpExtTCPReqQFullDrop moved')
      expectThat(failures, recommendation(result, 'net.ipv4.tcp_syncookies')?.proposed === '1', 'advice: tcp_syncookies 1')
      return failures
    },
  },
  {
    name: 'abort-on-overflow',
    symptom: "Clients get 'connection reset by peer' right after connecting, during traffic spikes, instead of slow responses.",
    cause: 'tcp_abort_on_overflow=1 answers a handshake ACK that finds the accept queue full with RST, where the default would drop it and let the client retry. The client has already seen connect() succeed: the reset comes on its first read or write.',
    args: [
      '--sysctl', 'net.ipv4.tcp_abort_on_overflow=1', '--link-rate', '64kbit', '--lab-backlog', '5', '--lab-stall', '3s',
      '--lab-on-accept', 'echo', '--waves', '2', '--burst', '4', '--interval', '1s', '--probe', 'send:x', '--probe-timeout', '4s',
    ],
    expected:
      'all 8 connect; the second wave’s SYNs were admitted while the queue had room, but 2 of their ACKs (paced as on a real link) met a full queue: resetAfterConnect; verdict and advice name tcp_abort_on_overflow',
    check(result) {
      const failures: string[] = []
      expectThat(failures, result.counts.connected === result.plan.connects, `every connect succeeded (got ${result.counts.connected} of ${result.plan.connects})`)
      expectThat(failures, (result.probe?.outcomes.resetAfterConnect ?? 0) > 0, 'resetAfterConnect > 0')
      expectThat(failures, (result.afterConnect?.mechanisms ?? []).includes('abortOnOverflow'), 'verdict names abort_on_overflow')
      expectThat(failures, recommendation(result, 'net.ipv4.tcp_abort_on_overflow')?.proposed === '0', 'advice: tcp_abort_on_overflow 0')
      return failures
    },
  },
  {
    name: 'cookie-hang',
    symptom: 'SSH/SMTP-style clients connect fine during a spike but then hang with no banner until they give up.',
    cause: 'A wave of SYNs got SYN cookies; their ACKs overflowed the full accept queue and were dropped, and with cookies the server keeps no state and never retransmits: the connection exists only on the client, silent until the client speaks.',
    args: ['--lab-backlog', '4', '--lab-stall', '1.5s', '--lab-on-accept', 'banner', '--lab-handler-delay', '300ms', '--burst', '30', '--probe', 'banner', '--probe-timeout', '3s'],
    expected: 'all connect, many never get the banner (probeTimeout); SyncookiesRecv and ListenOverflows moved; verdict: ACKs dropped at a full accept queue',
    check(result) {
      const failures: string[] = []
      expectThat(failures, result.counts.connected === 30, `all 30 connect (got ${result.counts.connected})`)
      expectThat(failures, (result.probe?.outcomes.probeTimeout ?? 0) >= 5, `≥ 5 hang without a banner (got ${result.probe?.outcomes.probeTimeout})`)
      expectThat(failures, (result.kernel?.counterDeltas?.TcpExtSyncookiesRecv ?? 0) > 0, 'TcpExtSyncookiesRecv moved')
      expectThat(failures, (result.afterConnect?.mechanisms ?? []).includes('ackDropped'), 'verdict: ACKs dropped at a full queue')
      return failures
    },
  },
  {
    name: 'ephemeral-port-exhaustion',
    symptom: "Our load-test client starts failing with 'Cannot assign requested address' after a few seconds.",
    cause: 'Each connection the client closes first sits in TIME_WAIT for 60 s holding its source port; with tcp_tw_reuse=0 and a 1000-port range, 1000 connects use them all up.',
    args: [
      '--sysctl', 'net.ipv4.ip_local_port_range=40000 40999', '--sysctl', 'net.ipv4.tcp_tw_reuse=0', '--lab-backlog', '4096', '--lab-stall', '0',
      '--lab-on-accept', 'hold', '--close', 'fin', '--rate', '1000', '--duration', '2s',
      // The pre-flight sees it coming and would refuse; the incident is what happens when nobody checked.
      '--force',
    ],
    expected: 'about 1000 connect, the rest fail addrNotAvail (EADDRNOTAVAIL); advice: widen ip_local_port_range, with the TIME_WAIT arithmetic',
    check(result) {
      const failures: string[] = []
      expectThat(failures, result.counts.byOutcome.addrNotAvail > 0, 'addrNotAvail failures')
      // 1 % slack: on a loaded machine a few ports came free early once (1003 in a full suite with
      // a third busy thread; 999 or 1000 in ten runs under load). Which closing state let go of
      // them (FIN-WAIT-2 behind the holding lab, or TIME_WAIT) was not found. Without the ports
      // held, all 2000 would connect.
      expectThat(failures, result.counts.connected <= 1010, `at most ~1000 connect, 1 % slack (got ${result.counts.connected})`)
      expectThat(failures, (recommendation(result, 'net.ipv4.ip_local_port_range')?.evidence ?? []).some((line) => /TIME_WAIT/.test(line)), 'advice names TIME_WAIT')
      expectThat(failures, result.clientLimits?.portRange?.join('–') === '40000–40999', 'the report knows the port range that ran out (limits line)')
      expectThat(failures, (result.clientLimits?.problems ?? []).some((line) => /^TIME_WAIT: /.test(line)), 'the pre-flight refusal that --force overrode is kept')
      return failures
    },
  },
  {
    name: 'client-gives-up',
    symptom: 'Connects to a stuck service fail after exactly 7 s, although our client timeout is 15 s.',
    cause: 'tcp_syn_retries=2 on the client host: connect() gives up at the first RTO expiry after (2^3 − 1) = 7 s, before the application timeout.',
    args: ['--sysctl', 'net.ipv4.tcp_syn_retries=2', '--lab-backlog', '1', '--lab-stall', '60s', '--burst', '10', '--timeout', '15s'],
    expected: "2 connect (backlog 1 + 1); 8 fail with the kernel's ETIMEDOUT at the ladder's give-up (~7 s), not at connstorm's 15 s",
    check(result) {
      const failures: string[] = []
      expectThat(failures, result.counts.connected === 2, `2 connect (got ${result.counts.connected})`)
      expectThat(failures, result.counts.kernelTimeouts === 8, `8 kernel ETIMEDOUT (got ${result.counts.kernelTimeouts})`)
      const giveUp = result.ladder?.giveUpMs ?? 0
      const failedAt = result.latencyUs.failedFromActual.p50 / 1000
      expectThat(failures, giveUp > 0 && failedAt >= giveUp * 0.98 && failedAt <= giveUp * 1.05 + 300, `failures at the give-up time ${giveUp} ms (got ${failedAt} ms)`)
      return failures
    },
  },
]

export function findIncident(name: string): Incident | undefined {
  return INCIDENTS.find((incident) => incident.name === name)
}
