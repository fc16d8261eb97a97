import {defineConfig} from 'vitest/config'

import {canUseOwnNetworkNamespace} from './test/helpers/own-namespace.js'
import {longestFirst} from './test/support/longest-first-sequencer.js'

/**
 * Two groups, run one after the other (sequence.groupOrder):
 *
 * 1. `side-by-side`: tests that time nothing and share nothing with the kernel's counters of the
 *    namespace the tests run in — the unit tests of pure logic; the e2e files that only check a
 *    CLI's text, exit code or files; and the ones whose storms each run in a network namespace of
 *    their own and judge outcomes a stall or a full queue makes exact, not durations (the incident
 *    gallery, --isolate, the real servers, the Prometheus round trip, packaging and the image
 *    build). Three files run at a time (vitest's default on 2 cores is one worker: cores − 1), so
 *    the CPU-bound files (packing, building, refusals) overlap the ones waiting on stalls; the
 *    longest start first (LONGEST_FIRST). The unit files without module mocks are a project of
 *    their own in this group (`side-by-side-units`), sharing their workers' processes.
 * 2. `one-at-a-time`: tests on real sockets in the shared namespace, one file at a time. Several
 *    measure timing and rates on a 2-core machine (rates, start skew, accept waits, a burst that
 *    must leave within a few ms), and some count the namespace's counters: a second storm beside
 *    them would be measured too. Tests marked concurrent overlap within their file, four at most.
 *    Where only some tests of a file need this, the others are in a file of their own beside it
 *    (storm/storm-outcomes, probe/probe-outcomes, lifecycle/lifecycle-outcomes, merge/merge-files,
 *    advice-verify/advice), and run side by side.
 */
const SIDE_BY_SIDE_E2E = [
  // CLI text, exit codes and files only
  'test/e2e/bad-input.test.ts',
  'test/e2e/docs.test.ts',
  'test/e2e/analyze-fixtures.test.ts',
  'test/e2e/exit-codes.test.ts',
  'test/e2e/help.test.ts',
  'test/e2e/files.test.ts',
  'test/e2e/openmetrics.test.ts',
  'test/e2e/server-evidence.test.ts',
  // a stall makes its outcomes exact; it judges the connect path and outcomes, no duration, no counter
  'test/e2e/without-addon.test.ts',
  // CPU-bound builds: npm pack and install, the container image's build step
  'test/e2e/package.test.ts',
  'test/e2e/kubernetes-image.test.ts',
  // each storm in a network namespace of its own, judged by outcomes, not durations
  'test/e2e/real-servers.test.ts',
  'test/e2e/incidents.test.ts',
  'test/e2e/real-incidents.test.ts',
  'test/e2e/isolate.test.ts',
  'test/e2e/prometheus.test.ts',
  'test/e2e/source.test.ts',
  // storms judged by outcomes, counts and files, whose few timed bounds leave a busy machine a second
  // or more (a late timer only lengthens a run), reading no counter of the shared namespace; the
  // tests of these files that need a quiet machine are in their namesakes without "-outcomes"
  'test/e2e/storm-outcomes.test.ts',
  'test/e2e/probe-outcomes.test.ts',
  'test/e2e/lifecycle-outcomes.test.ts',
  'test/e2e/merge-files.test.ts',
  'test/e2e/progress.test.ts',
]
/**
 * Files that time nothing but count the kernel's counters of the namespace they run in: each moves
 * itself into a network namespace of its own (test/helpers/own-namespace.ts) and then runs beside
 * the others; where it cannot (not root, no compiled helper), one at a time in the shared one.
 */
const OWN_NAMESPACE_E2E = [
  'test/e2e/advice.test.ts',
  'test/e2e/search.test.ts',
  'test/e2e/counted.test.ts',
  'test/e2e/connected-then-reset.test.ts',
  'test/e2e/watch.test.ts',
  'test/e2e/two-hosts.test.ts',
  'test/e2e/reuseport.test.ts',
  'test/e2e/report.test.ts',
]
/**
 * Every Node process the tests start (hundreds of CLIs, labs, watches) would parse this machine's
 * extra CA bundle first (NODE_EXTRA_CA_CERTS: +70 ms of CPU per start, measured), though none of
 * them speaks TLS to a public CA: traffic stays on loopback and in namespaces made by the tests.
 * Removed here, before the test workers start, so they and their children do without it (npm keeps
 * its own `cafile` setting).
 */
delete process.env.NODE_EXTRA_CA_CERTS

const SIDE_BY_SIDE = [...SIDE_BY_SIDE_E2E, ...(canUseOwnNetworkNamespace() ? OWN_NAMESPACE_E2E : [])]

/**
 * The files that take longest, longest first (seconds, each file alone on this 2-core machine, load
 * ~4): they start first in their group, so that the group does not end on one of them with the other
 * workers idle (test/support/longest-first-sequencer.ts). Files not named follow, larger first.
 */
const LONGEST_FIRST = [
  'test/e2e/real-servers.test.ts', // 65
  'test/e2e/incidents.test.ts', // 59
  'test/e2e/real-incidents.test.ts', // 37
  'test/e2e/bad-input.test.ts', // 35
  'test/e2e/two-hosts.test.ts', // 27
  'test/e2e/advice.test.ts', // 25 (before its --verify test moved to advice-verify)
  'test/e2e/package.test.ts', // 24
  'test/e2e/search.test.ts', // 20
  'test/e2e/source.test.ts', // 19
  'test/e2e/counted.test.ts', // 19
  'test/e2e/kubernetes-image.test.ts', // 19
  'test/e2e/report.test.ts', // 18
  'test/e2e/connected-then-reset.test.ts', // 17
  'test/e2e/isolate.test.ts', // 17
  'test/e2e/storm-outcomes.test.ts',
  'test/e2e/probe-outcomes.test.ts',
  'test/e2e/watch.test.ts', // 14
  'test/e2e/lifecycle-outcomes.test.ts',
  'test/e2e/files.test.ts', // 12
  'test/e2e/prometheus.test.ts', // 12
  'test/e2e/server-evidence.test.ts', // 12
  'test/e2e/openmetrics.test.ts', // 11
  'test/e2e/without-addon.test.ts', // 11
  'test/e2e/merge-files.test.ts',
  'test/e2e/progress.test.ts', // 8
  'test/e2e/reuseport.test.ts', // 8
]
const KERNEL_UNIT = 'test/unit/kernel-*.test.ts'
/**
 * Unit files that replace a module (vi.mock): they need a module graph of their own, so they run
 * isolated like the e2e files. The other unit files test pure logic and share their worker's
 * process file after file (the side-by-side-units project, isolate: false): a fresh process, vitest
 * and the module graph loaded again for each of ~60 files took ~45 s of CPU, ~17 s this way
 * (measured, test/unit alone; the same files pass in any order, shuffled).
 */
const UNITS_WITH_MODULE_MOCKS = ['test/unit/plan.test.ts', 'test/unit/target.test.ts']
/** Both projects of the side-by-side group (one groupOrder) take the same number of workers: vitest requires it. */
const SIDE_BY_SIDE_WORKERS = 3

export default defineConfig({
  test: {
    sequence: {sequencer: longestFirst(LONGEST_FIRST)},
    testTimeout: 60_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/plain-summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'side-by-side',
          include: [...UNITS_WITH_MODULE_MOCKS, ...SIDE_BY_SIDE],
          maxWorkers: SIDE_BY_SIDE_WORKERS,
          // bad-input's refusals, the incidents and the real servers run concurrently within their files: three at a time.
          maxConcurrency: 3,
          sequence: {groupOrder: 0},
        },
      },
      {
        extends: true,
        test: {
          name: 'side-by-side-units',
          include: ['test/unit/**/*.test.ts'],
          exclude: [KERNEL_UNIT, ...UNITS_WITH_MODULE_MOCKS],
          isolate: false,
          maxWorkers: SIDE_BY_SIDE_WORKERS,
          maxConcurrency: 3,
          sequence: {groupOrder: 0},
        },
      },
      {
        extends: true,
        test: {
          name: 'one-at-a-time',
          include: ['test/e2e/**/*.test.ts', KERNEL_UNIT],
          exclude: SIDE_BY_SIDE,
          fileParallelism: false,
          maxConcurrency: 4,
          sequence: {groupOrder: 1},
        },
      },
    ],
  },
})
