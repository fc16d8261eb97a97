import {closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {resolve} from 'node:path'

import {UsageError} from '../errors.js'
import type {StormResult} from './format.js'
import {resultProblem} from './schema.js'

/**
 * Fails fast, before any traffic, when --out could not be written at the end of the run: it
 * creates and removes the very temporary file the final write will use (access(W_OK) alone says
 * yes to root everywhere, /proc included).
 */
export function assertWritable(file: string): void {
  if (file.trim() === '') throw new UsageError("--out: invalid value '': expected a file path")
  const path = resolve(file)
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`--out: '${file}' is a directory; give a file path`)
  const temporary = temporaryPath(path)
  try {
    closeSync(openSync(temporary, 'wx'))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    throw new UsageError(`--out: cannot write '${file}' (${code}): its directory must exist and be writable`)
  } finally {
    rmSync(temporary, {force: true})
  }
}

function temporaryPath(path: string): string {
  return `${path}.tmp-${process.pid}`
}

/** Writes the whole file or nothing: a reader never sees a half-written result. */
export function writeFileAtomic(file: string, content: string): void {
  const path = resolve(file)
  const temporary = temporaryPath(path)
  try {
    writeFileSync(temporary, content)
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw new UsageError(`--out: cannot write '${file}': ${(error as Error).message}`)
  }
}

/**
 * Writes a result file atomically after checking it against schema 1: a file that `analyze`
 * would refuse is a bug here, never something to hand the user.
 */
export function writeResultFile(file: string, result: StormResult): void {
  const problem = resultProblem(result)
  if (problem !== null) throw new Error(`internal: the result does not match schema 1: ${problem}`)
  writeFileAtomic(file, `${JSON.stringify(result, null, 2)}\n`)
}
