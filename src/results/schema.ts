import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import type {ErrorObject, ValidateFunction} from 'ajv'

import {UsageError} from '../errors.js'
import {decodeHistogram} from './histogram.js'
import type {StormResult} from './format.js'

/** The version every result file written by this connstorm carries (StormResult['schemaVersion']). */
export const SCHEMA_VERSION: StormResult['schemaVersion'] = 1

/**
 * The result schema ships as a JSON Schema file (schema/result-v1.schema.json) so that other tools
 * can validate connstorm's files too. ajv over zod or typebox: the schema stays a standard,
 * language-neutral document rather than TypeScript code. `npm run build` compiles it with ajv into
 * schema/result-v1.validate.cjs (scripts/build-validator.mjs: strict, first error only), so a read
 * loads plain code instead of ajv's compiler and the schema (~0.17 s per start).
 */
const compiled = new Map<string, ValidateFunction>()

/** Loaded on first use, not at start-up: a storm that writes no file never loads it. */
function validator(name: 'result-v1' | 'search-v1' = 'result-v1'): ValidateFunction {
  let validate = compiled.get(name)
  if (validate === undefined) {
    validate = createRequire(import.meta.url)(fileURLToPath(new URL(`../../schema/${name}.validate.cjs`, import.meta.url))) as ValidateFunction
    compiled.set(name, validate)
  }
  return validate
}

/**
 * The first problem with a would-be search file (`connstorm search --out`): its envelope against
 * schema/search-v1.schema.json, then each trial's result as a storm result.
 */
export function searchProblem(data: unknown): string | null {
  const validate = validator('search-v1')
  if (!validate(data)) return describe(validate.errors![0]!)
  for (const [index, trial] of (data as {trials: {result: unknown}[]}).trials.entries()) {
    const problem = resultProblem(trial.result)
    if (problem !== null) return `/trials/${index}/result${problem.replace(/^\/:/, ':')}`
  }
  return null
}

/** The first problem with a would-be result, as "path: problem", or null when it is valid. */
export function resultProblem(data: unknown): string | null {
  const validate = validator()
  // ajv sets at least one error whenever validation fails.
  if (!validate(data)) return describe(validate.errors![0]!)
  // A histogram string can match the schema and still not decode: check each one.
  const result = data as StormResult
  const histograms: [string, string][] = [
    ...Object.entries(result.histograms).map(([name, value]): [string, string] => [`/histograms/${name}`, value]),
    ...Object.entries(result.probe?.histograms ?? {}).map(([name, value]): [string, string] => [`/probe/histograms/${name}`, value]),
  ]
  for (const [path, encoded] of histograms) {
    try {
      decodeHistogram(encoded)
    } catch {
      return `${path}: is not an HdrHistogram (compressed base64) that decodes`
    }
  }
  return null
}

/** Throws a one-line UsageError naming the file, the path in it and the problem. */
export function assertValidResultFile(data: unknown, file: string): asserts data is StormResult {
  const problem = resultProblem(data)
  if (problem !== null) throw new UsageError(`FILE: '${file}' is not a valid connstorm result: ${problem}`)
}

function describe(error: ErrorObject): string {
  const path = error.instancePath === '' ? '/' : error.instancePath
  const detail = error.keyword === 'enum' || error.keyword === 'const' ? ` (${JSON.stringify(error.params)})` : ''
  return `${path}: ${error.message ?? error.keyword}${detail}`
}
