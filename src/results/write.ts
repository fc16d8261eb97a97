import {accessSync, constants, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

import {UsageError} from '../errors.js'

/** Fails fast, before any traffic, when --out could not be written at the end of the run. */
export function assertWritable(file: string): void {
  const path = resolve(file)
  const directory = dirname(path)
  try {
    if (!statSync(directory).isDirectory()) throw new Error('not a directory')
    accessSync(directory, constants.W_OK)
  } catch {
    throw new UsageError(`--out: cannot write '${file}': directory '${directory}' does not exist or is not writable`)
  }
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`--out: '${file}' is a directory; give a file path`)
    accessSync(path, constants.W_OK)
  } catch (error) {
    if (error instanceof UsageError) throw error
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`--out: cannot write '${file}': not writable`)
  }
}

/** Writes the whole file or nothing: a reader never sees a half-written result. */
export function writeFileAtomic(file: string, content: string): void {
  const path = resolve(file)
  const temporary = `${path}.tmp-${process.pid}`
  try {
    writeFileSync(temporary, content)
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw new UsageError(`--out: cannot write '${file}': ${(error as Error).message}`)
  }
}
