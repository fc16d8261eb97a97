import {readFileSync} from 'node:fs'

/**
 * Reads one sysctl of the network namespace this process runs in (e.g. "net.core.somaxconn").
 * null means unknown: another OS, no /proc, no permission. Never a guessed default.
 */
export function readSysctl(name: string): string | null {
  try {
    return readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim()
  } catch {
    return null
  }
}

export function readSysctlInt(name: string): number | null {
  const text = readSysctl(name)
  if (text === null || !/^-?\d+$/.test(text)) return null
  return Number(text)
}

/**
 * The backlog the kernel actually uses for listen(backlog): capped by net.core.somaxconn as it
 * is at listen() time (KERNEL.md Q6). null when somaxconn cannot be read.
 */
export function effectiveBacklog(requested: number, somaxconn: number | null): number | null {
  return somaxconn === null ? null : Math.min(requested, somaxconn)
}
