import {Flags} from '@oclif/core'

import {PROBE_FORMS} from '../plan/probe-spec.js'
import {DEFAULT_BURST, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS} from '../plan/plan.js'
import {THRESHOLD_METRICS} from '../plan/thresholds.js'
import {labFlags} from './lab-flags.js'
import {serverFlag} from './server-flag.js'

/**
 * The default lab: a small queue (9 slots) that stays full for 1.5 s, so a 100-connect burst has
 * its excess SYNs dropped at least once and completes on a later retransmit step (~2 s with the
 * Linux ≥ 6.5 defaults, ~3 s with the classic ladder), well inside 15 s.
 */
export const DEFAULT_LAB = {backlog: 8, stallMs: 1500}

/** `connstorm storm`'s flags, all strings until parseStormOptions checks them together. */
export const STORM_FLAGS = {
  burst: Flags.string({summary: `connects launched together (burst mode, the default; per wave with --waves) [default: ${DEFAULT_BURST}]`, helpValue: '<n>'}),
  rate: Flags.string({summary: 'open loop: connect starts per second (needs --duration)', helpValue: '<per-second>'}),
  duration: Flags.string({summary: 'how long --rate runs', helpValue: '<duration>'}),
  waves: Flags.string({summary: 'repeat the burst this many times (needs --interval)', helpValue: '<n>'}),
  interval: Flags.string({summary: 'time between wave starts', helpValue: '<duration>'}),
  concurrency: Flags.string({summary: `connects in flight at most; a start that must wait is counted late [default: ${DEFAULT_CONCURRENCY}]`, helpValue: '<n>'}),
  timeout: Flags.string({summary: `per connect; 15 s lets the 1…11 s SYN-retransmit steps show [default: ${DEFAULT_TIMEOUT_MS / 1000}s]`, helpValue: '<duration>'}),
  'max-duration': Flags.string({summary: 'hard deadline for the whole run [default: schedule + timeout + 5s]', helpValue: '<duration>'}),
  close: Flags.string({summary: 'after connect: rst (SO_LINGER 0, no TIME_WAIT), fin, or hold open until --max-duration, then rst [default: rst]', helpValue: 'rst|fin|hold'}),
  out: Flags.string({summary: 'also write the JSON result to this file (atomically: temp file + rename); - writes it to stdout, which then carries only that JSON (the report goes to stderr)', helpValue: '<file>'}),
  quiet: Flags.boolean({summary: 'no live progress line (it is shown only on a TTY, and never with --json)'}),
  force: Flags.boolean({summary: 'start even when the pre-flight checks (open files, ephemeral ports, TIME_WAIT, conntrack) say the plan cannot fit'}),
  workers: Flags.string({
    summary: 'threads that share the plan (auto = cores), started together; their histograms are added, never averaged [default: 1]',
    helpValue: '<n|auto>',
  }),
  source: Flags.string({
    summary:
      'bind the connects to these local addresses in turn — 127.0.0.1-127.0.0.8, 127.0.0.0/29 or a,b,c — to hold more connections to one destination than the ~28k ports of one source address. Only when asked: Node cannot set IP_BIND_ADDRESS_NO_PORT, so each bind takes its port for every destination and ports in TIME_WAIT block binds (prefer --close rst)',
    helpValue: '<addresses>',
  }),
  shard: Flags.string({
    summary: 'run the i-th of n shares of the plan (every n-th connect, same timing), for one storm from several hosts; merge the files after',
    helpValue: '<i/n>',
    helpGroup: 'MULTI-HOST',
  }),
  'start-at': Flags.string({
    summary: 'start the first connect at this wall-clock instant (ISO-8601, or +D from now; at most 1 h ahead), so shards fire together',
    helpValue: '<instant>',
    helpGroup: 'MULTI-HOST',
  }),
  isolate: Flags.boolean({
    summary: 'root: run the lab and the storm in a network namespace of their own (clean counters; removed with the run)',
  }),
  sysctl: Flags.string({
    summary: 'with --isolate: set a TCP sysctl inside that namespace only, e.g. net.ipv4.tcp_syn_linear_timeouts=0 (repeatable)',
    helpValue: '<key=value>',
    multiple: true,
  }),
  'link-rate': Flags.string({
    summary:
      'with --isolate: pace the packets sent toward the lab at this rate (e.g. 64kbit), so handshake ACKs trail the SYNs as on a real link and can meet a full accept queue — ACK-time overflow and tcp_abort_on_overflow resets, which plain loopback cannot show',
    helpValue: '<rate>',
  }),
  probe: Flags.string({
    summary: `after each connect: ${PROBE_FORMS}. Times the first response, which shows the accept-queue wait that connect latency hides [default: none]`,
    helpValue: '<probe>',
    helpGroup: 'PROBE',
  }),
  'probe-timeout': Flags.string({summary: 'deadline of each probe, from its connect [default: 15s]', helpValue: '<duration>', helpGroup: 'PROBE'}),
  expect: Flags.string({summary: 'with send/banner: the reply must contain this text (else unexpectedReply)', helpValue: '<text>', helpGroup: 'PROBE'}),
  insecure: Flags.boolean({summary: 'with tls/https: do not verify the certificate (the report says so)', helpGroup: 'PROBE'}),
  server: serverFlag('ADVICE'),
  'accept-stall': Flags.string({
    summary: "the longest pause in your server's accept loop that you know of (GC, event loop), for the sizing model",
    helpValue: '<duration>',
    helpGroup: 'ADVICE',
  }),
  verify: Flags.boolean({summary: 'with the lab: re-run the plan with the advised backlog (and somaxconn, with --isolate) and compare', helpGroup: 'ADVICE'}),
  threshold: Flags.string({
    summary: `pass/fail for CI, repeatable: exit 99 when one fails. e.g. 'p99<200ms', 'synRetransmits==0', 'timeout<1%'. Metrics: ${THRESHOLD_METRICS.join(', ')}`,
    helpValue: '<expr>',
    multiple: true,
    helpGroup: 'ADVICE',
  }),
  'sysctl-after-listen': Flags.string({
    summary: 'with --isolate: set a sysctl after the lab listens and before the storm — e.g. somaxconn raised without restarting the service (repeatable)',
    helpValue: '<key=value>',
    multiple: true,
  }),
  'isolated-netns': Flags.string({hidden: true, description: 'set by --isolate on the storm it runs inside the new namespace'}),
  ...labFlags('lab-', {backlog: String(DEFAULT_LAB.backlog), stall: `${DEFAULT_LAB.stallMs / 1000}s`}),
}
