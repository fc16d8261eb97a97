import type {Reporter, TestModule} from 'vitest/node'

/**
 * Ends the run with the plain line "N passed, N failed, N skipped", which CI reads to know that
 * tests actually ran (vitest's own summary is not one of the formats it recognises).
 */
export default class PlainSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    for (const testModule of testModules) {
      for (const test of testModule.children.allTests()) {
        const {state} = test.result()
        if (state === 'passed') passed++
        else if (state === 'failed') failed++
        else skipped++
      }
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`)
  }
}
