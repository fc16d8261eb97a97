import {defineConfig} from 'vitest/config'

/**
 * The tests Stryker runs against each mutant (npm run test:mutation): the unit tests only. The e2e
 * tests spawn the built CLI from dist/, which never contains a mutant, so they could not kill one and
 * would only cost minutes per mutant. The two kernel tests below read sockets through the addon and
 * ss and a sampler thread; they cover no mutated file and their timing is not worth risking while
 * Stryker loads the machine.
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: ['test/unit/kernel-listeners.test.ts', 'test/unit/kernel-queue-sampler.test.ts'],
    testTimeout: 30_000,
  },
})
