import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'

/**
 * What a test needs from the machine, and what happens when it is missing.
 *
 * On a developer's machine a missing tool or missing root skips the test with the reason printed.
 * With CI=true it is a failure: CI runs as root after `npm test`'s set-up installed every tool, so a
 * skip there would be a test that silently never ran.
 */
export const isRoot = process.getuid?.() === 0
export const inCI = process.env.CI === 'true'

export interface Needs {
  /** needs root (network namespaces, sysctls) */
  root?: boolean
  /** commands that must be on PATH, e.g. ['unshare', 'ip'] */
  tools?: string[]
  /** files that must exist, e.g. ['/usr/bin/chromium'] */
  files?: string[]
}

/** True when `tool` runs (any exit code): it is on PATH and executable. */
export function hasTool(tool: string): boolean {
  return spawnSync(tool, ['--version'], {stdio: 'ignore'}).error === undefined
}

/** The reason these needs are not met on this machine, or null when they are. */
export function unmetNeeds(needs: Needs): string | null {
  const missing: string[] = []
  if (needs.root && !isRoot) missing.push('root')
  for (const tool of needs.tools ?? []) if (!hasTool(tool)) missing.push(`the '${tool}' command`)
  for (const file of needs.files ?? []) if (!existsSync(file)) missing.push(file)
  return missing.length === 0 ? null : `needs ${missing.join(', ')}`
}

/**
 * For `describe.skipIf(skipUnless(…))` / `it.skipIf(…)`: true (skip) when a need is unmet, after
 * saying why; with CI=true an unmet need throws instead, so the file fails naming what is missing.
 */
export function skipUnless(needs: Needs, what = 'these tests'): boolean {
  const reason = unmetNeeds(needs)
  if (reason === null) return false
  if (inCI) throw new Error(`CI=true: ${what} ${reason}; CI must run them (npm test's set-up installs the tools, CI runs as root)`)
  console.warn(`skipped: ${what} ${reason}`)
  return true
}
