import {defineConfig} from 'vitest/config'

/**
 * Two groups, run one after the other (sequence.groupOrder):
 *
 * 1. `side-by-side`: tests that time nothing and share nothing with the kernel's counters of the
 *    namespace the tests run in — the unit tests of pure logic; the e2e files that only check a
 *    CLI's text, exit code or files; and the ones whose storms each run in a network namespace of
 *    their own and judge outcomes a stall or a full queue makes exact, not durations (the incident
 *    gallery, --isolate, the real servers, the Prometheus round trip, packaging and the image
 *    build). Two files run at a time (vitest's default on 2 cores is one worker: cores − 1), so the
 *    CPU-bound files (packing, building, refusals) overlap the ones waiting on stalls.
 * 2. `one-at-a-time`: tests on real sockets in the shared namespace, one file at a time. Several
 *    measure timing and rates on a 2-core machine (rates, start skew, accept waits), and some count
 *    the namespace's counters: a second storm beside them would be measured too. Tests marked
 *    concurrent overlap within their file, four at most.
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
  // CPU-bound builds: npm pack and install, the container image's build step
  'test/e2e/package.test.ts',
  'test/e2e/kubernetes-image.test.ts',
  // each storm in a network namespace of its own, judged by outcomes, not durations
  'test/e2e/real-servers.test.ts',
  'test/e2e/incidents.test.ts',
  'test/e2e/isolate.test.ts',
  'test/e2e/prometheus.test.ts',
]
const KERNEL_UNIT = 'test/unit/kernel-*.test.ts'

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/plain-summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'side-by-side',
          include: ['test/unit/**/*.test.ts', ...SIDE_BY_SIDE_E2E],
          exclude: [KERNEL_UNIT],
          maxWorkers: 2,
          // bad-input's refusals and the incidents run concurrently within their files: up to three at a time.
          maxConcurrency: 3,
          sequence: {groupOrder: 0},
        },
      },
      {
        extends: true,
        test: {
          name: 'one-at-a-time',
          include: ['test/e2e/**/*.test.ts', KERNEL_UNIT],
          exclude: SIDE_BY_SIDE_E2E,
          fileParallelism: false,
          maxConcurrency: 4,
          sequence: {groupOrder: 1},
        },
      },
    ],
  },
})
