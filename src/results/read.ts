import {readFileSync, statSync} from 'node:fs'

import {UsageError} from '../errors.js'
import {contradiction} from './consistency.js'
import {SCHEMA_VERSION, assertValidResultFile, resultProblem, searchProblem} from './schema.js'
import type {StormResult} from './format.js'
import type {SearchFile} from './search-format.js'

/** The FILE argument that means standard input: `connstorm storm --json | connstorm analyze -`. */
export const STDIN = '-'

/** How a message names where a result came from: the file as given, in quotes, or stdin. */
export function sourceName(file: string): string {
  return file === STDIN ? 'stdin' : `'${file}'`
}

/**
 * Reads a result from a file written by `storm --out`, or from stdin for `-`. Anything else —
 * missing, empty, truncated, foreign, of another schema version, or contradicting itself — is one
 * clear line (exit 2).
 */
export async function readResult(file: string): Promise<StormResult> {
  return file === STDIN ? parseResult(await readStdin(), file) : readResultFile(file)
}

/** A saved storm result, or a saved search (`connstorm search --out`): `analyze` and `report` read both. */
export type SavedFile = {kind: 'run'; result: StormResult} | {kind: 'search'; search: SearchFile}

/** Reads a saved run or search from a file, or from stdin for `-`; the same one-line refusals as readResult. */
export async function readSaved(file: string): Promise<SavedFile> {
  const text = file === STDIN ? await readStdin() : readText(file)
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    // parseResult words every kind of unreadable text.
    return {kind: 'run', result: parseResult(text, file)}
  }
  if (typeof data !== 'object' || data === null || (data as {kind?: unknown}).kind !== 'search') return {kind: 'run', result: parseResult(text, file)}
  const name = sourceName(file)
  const infinite = nonFinitePath(data)
  if (infinite !== null) throw new UsageError(`FILE: ${name} is not a valid connstorm search: ${infinite}: is not a finite number`, 'FILE_NOT_RESULT')
  const problem = searchProblem(data)
  if (problem !== null) throw new UsageError(`FILE: ${name} is not a valid connstorm search: ${problem}`, 'FILE_NOT_RESULT')
  const search = data as SearchFile
  for (const [index, trial] of search.trials.entries()) {
    const contradicts = contradiction(trial.result)
    if (contradicts !== null) throw new UsageError(`FILE: ${name} contradicts itself: trial ${index + 1}: ${contradicts}`, 'FILE_INCONSISTENT')
  }
  return {kind: 'search', search}
}

function readText(file: string): string {
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error('directory'), {code: 'EISDIR'})
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new UsageError(`FILE: cannot read '${file}' (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'FILE_UNREADABLE')
  }
}

/** Reads a result file (a path; `-` is only read by readResult). */
export function readResultFile(file: string): StormResult {
  return parseResult(readText(file), file)
}

/** All of stdin. A terminal is refused rather than waited on: nothing was piped in. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('FILE: stdin is a terminal: pipe a result in, e.g. connstorm storm --json | connstorm analyze -', 'FILE_UNREADABLE')
  const chunks: Buffer[] = []
  try {
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  } catch (error) {
    throw new UsageError(`FILE: cannot read stdin (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'FILE_UNREADABLE')
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') throw new UsageError('FILE: stdin is empty: pipe a result in, e.g. connstorm storm --json | connstorm analyze -', 'FILE_EMPTY')
  return text
}

function parseResult(text: string, file: string): StormResult {
  const name = sourceName(file)
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    const empty = text.trim() === ''
    throw new UsageError(`FILE: ${name} is not JSON (${empty ? 'empty' : 'truncated, or not a connstorm result'})`, empty ? 'FILE_EMPTY' : 'FILE_NOT_JSON')
  }
  if (typeof data !== 'object' || data === null || !('schemaVersion' in data)) {
    throw new UsageError(`FILE: ${name} has no schemaVersion: it is not a connstorm result`, 'FILE_NOT_RESULT')
  }
  const version = (data as {schemaVersion: unknown}).schemaVersion
  if (version !== SCHEMA_VERSION) {
    throw new UsageError(`FILE: ${name} has schema version ${JSON.stringify(version)}; this connstorm reads version ${SCHEMA_VERSION}`, 'FILE_NOT_RESULT')
  }
  // JSON.parse reads 1e309 as Infinity, which the schema cannot see where it leaves a number untyped.
  const infinite = nonFinitePath(data)
  if (infinite !== null) throw new UsageError(`FILE: ${name} is not a valid connstorm result: ${infinite}: is not a finite number`, 'FILE_NOT_RESULT')
  if (file === STDIN) {
    // The same check as assertValidResultFile, whose message quotes a file name.
    const problem = resultProblem(data)
    if (problem !== null) throw new UsageError(`FILE: ${name} is not a valid connstorm result: ${problem}`, 'FILE_NOT_RESULT')
  } else {
    try {
      assertValidResultFile(data, file)
    } catch (error) {
      if (error instanceof UsageError) throw new UsageError(error.message, 'FILE_NOT_RESULT')
      throw error
    }
  }
  const result = data as StormResult
  // Valid field by field, the numbers must also agree with each other, or the report would print impossible ones.
  const problem = contradiction(result)
  if (problem !== null) throw new UsageError(`FILE: ${name} contradicts itself: ${problem}`, 'FILE_INCONSISTENT')
  return result
}

/** The JSON pointer of the first number JSON.parse read as ±Infinity (1e309 and beyond), or null. */
function nonFinitePath(value: unknown, path = ''): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : path || '/'
  if (value === null || typeof value !== 'object') return null
  for (const [key, item] of Object.entries(value)) {
    const found = nonFinitePath(item, `${path}/${key}`)
    if (found !== null) return found
  }
  return null
}
