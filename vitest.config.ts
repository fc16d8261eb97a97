import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Files run one after another: several tests measure timing and rates on a 2-core machine,
    // and a second storm running beside them would be measured too.
    fileParallelism: false,
    testTimeout: 60_000,
    // Only tests marked concurrent (the incident gallery) run side by side, three at most.
    maxConcurrency: 3,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/plain-summary-reporter.ts'],
  },
})
