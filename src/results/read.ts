import {readFileSync} from 'node:fs'

import {UsageError} from '../errors.js'
import {SCHEMA_VERSION, type StormResult} from './result.js'

/** Keys every schema-1 result has; a file without them was not written by `storm --out`. */
const REQUIRED_KEYS = ['tool', 'target', 'plan', 'counts', 'latencyUs', 'histograms', 'self', 'durationMs', 'stopReason'] as const

/**
 * Reads a result file written by `storm --out`. Anything else — missing, truncated, foreign, or of
 * another schema version — is one clear line (exit 2).
 */
export function readResultFile(file: string): StormResult {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UsageError(`FILE: cannot read '${file}' (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new UsageError(`FILE: '${file}' is not JSON (truncated, or not a connstorm result)`)
  }
  if (typeof data !== 'object' || data === null || !('schemaVersion' in data)) {
    throw new UsageError(`FILE: '${file}' has no schemaVersion: it is not a connstorm result`)
  }
  const version = (data as {schemaVersion: unknown}).schemaVersion
  if (version !== SCHEMA_VERSION) {
    throw new UsageError(`FILE: '${file}' has schema version ${JSON.stringify(version)}; this connstorm reads version ${SCHEMA_VERSION}`)
  }
  const missing = REQUIRED_KEYS.filter((key) => !(key in data))
  if (missing.length > 0) throw new UsageError(`FILE: '${file}' lacks ${missing.join(', ')}: not a complete connstorm result`)
  return data as StormResult
}
