import {readFileSync, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import type {ErrorObject, ValidateFunction} from 'ajv'

import {UsageError} from '../errors.js'
import type {WatchFile} from '../results/format.js'
import {writeFileAtomic} from '../results/write.js'

/**
 * The watch file (`connstorm watch --out`) against its own JSON Schema, schema/watch-v1.schema.json,
 * checked on write (a file `report --server-evidence` would refuse is a bug here) and on read.
 * Like the result schema (src/results/schema.ts) it is loaded compiled: `npm run build` writes
 * schema/watch-v1.validate.cjs (scripts/build-validator.mjs).
 */
const COMPILED_URL = new URL('../../schema/watch-v1.validate.cjs', import.meta.url)

let validate: ValidateFunction | undefined

function validator(): ValidateFunction {
  validate ??= createRequire(import.meta.url)(fileURLToPath(COMPILED_URL)) as ValidateFunction
  return validate
}

function describe(error: ErrorObject): string {
  const path = error.instancePath === '' ? '/' : error.instancePath
  const detail = error.keyword === 'enum' || error.keyword === 'const' ? ` (${JSON.stringify(error.params)})` : ''
  return `${path}: ${error.message ?? error.keyword}${detail}`
}

/** The first problem with a would-be watch file, as "path: problem", or null when it is valid. */
export function watchProblem(data: unknown): string | null {
  const check = validator()
  if (!check(data)) return describe(check.errors![0]!)
  const watch = data as WatchFile
  if (watch.endedAtMs < watch.startedAtMs) return '/endedAtMs: is before /startedAtMs'
  for (const [index, sample] of watch.samples.entries()) {
    if (sample.t < watch.startedAtMs || sample.t > watch.endedAtMs) return `/samples/${index}/t: is outside startedAtMs…endedAtMs`
    if (index > 0 && sample.t < watch.samples[index - 1]!.t) return `/samples/${index}/t: is before the sample above it`
  }
  return null
}

/** Writes a watch file atomically (temp + fsync + rename, as results/write.ts does) after checking it against its schema. */
export function writeWatchFile(file: string, watch: WatchFile): void {
  const problem = watchProblem(watch)
  if (problem !== null) throw new Error(`internal: the watch file does not match schema/watch-v1.schema.json: ${problem}`)
  writeFileAtomic(file, `${JSON.stringify(watch)}\n`)
}

/**
 * Reads a watch file written by `connstorm watch --out`. Missing, empty, not JSON, a storm result
 * or anything else, another version: one line naming `flag` and the file (exit 2).
 */
export function readWatchFile(file: string, flag = '--server-evidence'): WatchFile {
  let text: string
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error('directory'), {code: 'EISDIR'})
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UsageError(`${flag}: cannot read '${file}' (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'FILE_UNREADABLE')
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    const empty = text.trim() === ''
    throw new UsageError(`${flag}: '${file}' is not JSON (${empty ? 'empty' : 'truncated, or not a connstorm watch file'})`, empty ? 'FILE_EMPTY' : 'FILE_NOT_JSON')
  }
  if (typeof data !== 'object' || data === null || (data as {kind?: unknown}).kind !== 'watch') {
    const hint = typeof data === 'object' && data !== null && 'schemaVersion' in data ? ' (a storm result? give the file `connstorm watch --out` wrote)' : ''
    throw new UsageError(`${flag}: '${file}' is not a connstorm watch file${hint}`, 'FILE_NOT_RESULT')
  }
  const version = (data as {schemaVersion?: unknown}).schemaVersion
  if (version !== 1) throw new UsageError(`${flag}: '${file}' is a watch file of schema version ${JSON.stringify(version)}; this connstorm reads version 1`, 'FILE_NOT_RESULT')
  const problem = watchProblem(data)
  if (problem !== null) throw new UsageError(`${flag}: '${file}' is not a valid connstorm watch file: ${problem}`, 'FILE_NOT_RESULT')
  return data as WatchFile
}
