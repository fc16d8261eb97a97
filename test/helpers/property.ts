import fc from 'fast-check'

/**
 * The one way the property tests run fast-check: a fixed seed, so that a run of the suite is
 * repeatable and a failure seen once is seen again, and a run count small enough that each
 * property file stays under ~2 s on a 2-core machine.
 *
 *   CONNSTORM_PROPERTY_SEED=<integer>  replays (or varies) the generated cases; a failure prints
 *                                      the value to set, which is the seed the run used.
 *   CONNSTORM_PROPERTY_RUNS=<integer>  runs every property that many times instead (a longer hunt
 *                                      locally: `CONNSTORM_PROPERTY_RUNS=5000 npx vitest run test/unit/property-*`).
 *
 * The first runs of a longer hunt are the same cases as the short run's (fast-check draws them in
 * order from the seed), so a seed that failed at the default count fails at any higher one too.
 */

export const SEED_VARIABLE = 'CONNSTORM_PROPERTY_SEED'
export const RUNS_VARIABLE = 'CONNSTORM_PROPERTY_RUNS'
/** The seed every run uses unless CONNSTORM_PROPERTY_SEED says otherwise. */
export const DEFAULT_SEED = 20_251_125

/** The seed from the environment (a 32-bit integer), or DEFAULT_SEED when the variable is unset or empty. */
export function propertySeed(env: NodeJS.ProcessEnv = process.env): number {
  return integerFrom(env, SEED_VARIABLE, DEFAULT_SEED, -(2 ** 31), 2 ** 31 - 1)
}

/** The run count: the property's own, or CONNSTORM_PROPERTY_RUNS for every property when set. */
export function propertyRuns(own: number, env: NodeJS.ProcessEnv = process.env): number {
  return integerFrom(env, RUNS_VARIABLE, own, 1, 1_000_000)
}

/**
 * fc.assert with the fixed seed and the run count, after the given examples. fast-check's own failure message already names
 * the seed (`{ seed: …, path: … }`), the shrunk counterexample and the error; the first line added
 * here says how to replay it through this helper, with the seed that was actually used.
 */
export function assertProperty<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, {runs, examples = []}: {runs: number; examples?: Ts[]}): void {
  const seed = propertySeed()
  const numRuns = propertyRuns(runs)
  try {
    // Examples (known counterexamples, kept as regressions) run first, before the generated cases.
    fc.assert(property, {seed, numRuns, examples})
  } catch (error) {
    if (error instanceof Error) {
      error.message = `property failed with ${SEED_VARIABLE}=${seed} (${numRuns} runs); set it to replay this run\n${error.message}`
    }
    throw error
  }
}

function integerFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name]
  if (text === undefined || text.trim() === '') return fallback
  const value = Number(text)
  // A typo here would silently run other cases than the ones asked for: refuse it.
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name}=${JSON.stringify(text)}: expected an integer from ${min} to ${max}`)
  return value
}
