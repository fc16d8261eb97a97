import {UsageError} from '../errors.js'
import {STORM_SYSCTLS} from '../results/sysctls.js'

/** The --isolate options that are checked before anything runs: --sysctl overrides and --link-rate. */

/**
 * --sysctl may set only the storm sysctls: all are per network namespace on current kernels, so
 * writing them inside the namespace can never change the host. Anything else is refused.
 */
const SETTABLE_SYSCTLS: readonly string[] = STORM_SYSCTLS

export interface SysctlOverride {
  key: string
  value: string
}

export function parseSysctlOverrides(texts: readonly string[]): SysctlOverride[] {
  return texts.map((text) => {
    const match = /^([a-z0-9_.]+)=(.+)$/.exec(text.trim())
    if (!match) throw new UsageError(`--sysctl: invalid value '${text}': expected key=value, e.g. net.core.somaxconn=128`)
    const key = match[1]!
    if (!SETTABLE_SYSCTLS.includes(key)) {
      throw new UsageError(`--sysctl: '${key}' is not one connstorm sets; allowed: ${SETTABLE_SYSCTLS.join(', ')}`)
    }
    return {key, value: match[2]!.trim()}
  })
}

/** --link-rate: a rate in tc's units. */
const RATE_PATTERN = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/

/** Checks a rate in tc's units (e.g. 64kbit) and returns it unchanged. */
export function parseLinkRate(text: string): string {
  const match = RATE_PATTERN.exec(text.trim())
  if (!match || Number(match[1]) <= 0) {
    throw new UsageError(`--link-rate: invalid rate '${text}': expected a number with bit, kbit, mbit or gbit, e.g. 64kbit`)
  }
  return text.trim()
}
