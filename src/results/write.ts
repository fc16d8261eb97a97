import {closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

import {UsageError} from '../errors.js'
import type {StormResult} from './format.js'
import {resultProblem} from './schema.js'
import {STDOUT, claimStdout} from './stdout.js'

/**
 * Fails fast, before any traffic, when --out could not be written at the end of the run: it
 * creates and removes the very temporary file the final write will use (access(W_OK) alone says
 * yes to root everywhere, /proc included). `-` is stdout, which only one output may have.
 */
export function assertWritable(file: string, flag = '--out'): void {
  if (file.trim() === '') throw new UsageError(`${flag}: invalid value '': expected a file path`, 'INVALID_OPTION')
  if (file === STDOUT) {
    const owner = claimStdout(flag)
    if (owner !== null) throw new UsageError(`${flag}: stdout (-) already carries ${owner}'s output; give ${flag} a file path`, 'OUT_UNWRITABLE')
    return
  }
  const path = resolve(file)
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${flag}: '${file}' is a directory; give a file path`, 'OUT_UNWRITABLE')
  const temporary = temporaryPath(path)
  try {
    closeSync(openSync(temporary, 'wx'))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    throw new UsageError(`${flag}: cannot write '${file}' (${code}): its directory must exist and be writable`, 'OUT_UNWRITABLE')
  } finally {
    rmSync(temporary, {force: true})
  }
}

function temporaryPath(path: string): string {
  return `${path}.tmp-${process.pid}`
}

/**
 * Writes the whole file or nothing: a reader never sees a half-written result, and a power cut
 * leaves the old file or the new one, never an empty one. The data reaches the disk (fsync)
 * before the rename makes it the file, and the rename itself (fsync of the directory) before we
 * say it is written: without the first, ext4 and xfs may commit the rename before the data.
 * `-` writes to stdout instead (a pipe has nothing to make atomic).
 */
export function writeFileAtomic(file: string, content: string, flag = '--out'): void {
  if (file === STDOUT) {
    // Synchronous for files and pipes on Linux: all of it is out before the process may exit.
    process.stdout.write(content)
    return
  }
  const path = resolve(file)
  const temporary = temporaryPath(path)
  try {
    const fd = openSync(temporary, 'w')
    try {
      writeFileSync(fd, content)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw new UsageError(`${flag}: cannot write '${file}': ${(error as Error).message}`, 'OUT_UNWRITABLE')
  }
  syncDirectory(dirname(path))
}

/** Makes a rename in `directory` durable. Where a directory cannot be opened or synced (some file systems refuse: EINVAL), the rename stands as it is. */
function syncDirectory(directory: string): void {
  let fd: number | undefined
  try {
    fd = openSync(directory, 'r')
    fsyncSync(fd)
  } catch {
    // The file is complete and in place; only its durability across a power cut is not assured here.
  } finally {
    if (fd !== undefined) closeSync(fd)
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
