import {readFileSync, statSync} from 'node:fs'

import {UsageError} from '../errors.js'
import {SCHEMA_VERSION} from './schema.js'
import type {StormResult} from './format.js'
import {assertValidResultFile} from './schema.js'

/**
 * Reads a result file written by `storm --out`. Anything else — missing, truncated, foreign, or of
 * another schema version — is one clear line (exit 2).
 */
export function readResultFile(file: string): StormResult {
  let text: string
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error('directory'), {code: 'EISDIR'})
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UsageError(`FILE: cannot read '${file}' (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new UsageError(`FILE: '${file}' is not JSON (${text.trim() === '' ? 'empty' : 'truncated, or not a connstorm result'})`)
  }
  if (typeof data !== 'object' || data === null || !('schemaVersion' in data)) {
    throw new UsageError(`FILE: '${file}' has no schemaVersion: it is not a connstorm result`)
  }
  const version = (data as {schemaVersion: unknown}).schemaVersion
  if (version !== SCHEMA_VERSION) {
    throw new UsageError(`FILE: '${file}' has schema version ${JSON.stringify(version)}; this connstorm reads version ${SCHEMA_VERSION}`)
  }
  assertValidResultFile(data, file)
  return data
}
