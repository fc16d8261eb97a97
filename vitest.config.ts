import {defineConfig} from 'vitest/config'

/**
 * Two groups, run one after the other (sequence.groupOrder):
 *
 * 1. `pure`: tests that time nothing and share nothing with the kernel's counters — the unit tests
 *    of pure logic, the e2e files that only check a CLI's text and exit code, and three that run
 *    storms but judge no timing and read no shared counter (packaging, result files, and the real
 *    servers, each in a namespace of its own and stalled until its queue is full). Two files run
 *    side by side (vitest's default on 2 cores is one worker: cores − 1).
 * 2. `live`: tests on real sockets, one file at a time. Several measure timing and rates on a 2-core
 *    machine, and count the kernel's per-namespace counters: a second storm beside them would be
 *    measured too. Only tests marked concurrent (the incident gallery, each incident in a namespace
 *    of its own, mostly waiting on its stall) overlap, four at most.
 */
const PURE_E2E = ['test/e2e/bad-input.test.ts', 'test/e2e/docs.test.ts', 'test/e2e/analyze-fixtures.test.ts', 'test/e2e/exit-codes.test.ts', 'test/e2e/help.test.ts', 'test/e2e/package.test.ts', 'test/e2e/files.test.ts', 'test/e2e/real-servers.test.ts', 'test/e2e/openmetrics.test.ts']
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
          name: 'pure',
          include: ['test/unit/**/*.test.ts', ...PURE_E2E],
          exclude: [KERNEL_UNIT],
          maxWorkers: 2,
          // bad-input's refusals run concurrently: three CLIs at a time beside the other worker.
          maxConcurrency: 3,
          sequence: {groupOrder: 0},
        },
      },
      {
        extends: true,
        test: {
          name: 'live',
          include: ['test/e2e/**/*.test.ts', KERNEL_UNIT],
          exclude: PURE_E2E,
          fileParallelism: false,
          maxConcurrency: 4,
          sequence: {groupOrder: 1},
        },
      },
    ],
  },
})
