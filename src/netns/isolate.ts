import {spawn, spawnSync} from 'node:child_process'
import {readFileSync, readlinkSync, writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {UsageError} from '../errors.js'
import {forwardStopSignals} from '../signals.js'
import {sysctlPath} from '../kernel/sysctl.js'
import type {SysctlOverride} from '../plan/isolation-options.js'

/**
 * `--isolate`: the storm and its lab run in a network namespace of their own, so the kernel
 * counters they read are theirs alone, and `--sysctl` overrides touch only that namespace.
 *
 * The namespace is made with `unshare --net`, not `ip netns add`: it has no name and no mount, so
 * it disappears with the last process inside it and cannot be leaked — not by Ctrl-C, not by a
 * crash, not even by SIGKILL.
 */

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/**
 * Marks the re-executed storm inside the new namespace (hidden flag). Its value is the parent's
 * namespace, so the inner process can prove that it is somewhere else before writing sysctls.
 */
export const INSIDE_FLAG = '--isolated-netns'

function currentNetns(): string {
  return readlinkSync('/proc/self/ns/net')
}

export function assertCanIsolate(): void {
  if (process.platform !== 'linux') throw new UsageError('--isolate: network namespaces need Linux')
  if (process.getuid?.() !== 0) throw new UsageError('--isolate: needs root (it creates a network namespace); run as root or drop --isolate')
  for (const [tool, pkg] of [['unshare', 'util-linux'], ['ip', 'iproute2']] as const) {
    if (spawnSync(tool, ['-V'], {stdio: 'ignore'}).error) throw new UsageError(`--isolate: needs '${tool}' (Debian package ${pkg})`)
  }
}

/**
 * Re-runs this storm command inside a new network namespace and returns its exit code. Signals
 * are passed on, so Ctrl-C still yields the partial report (printed by the inner process).
 */
export async function runIsolated(argv: readonly string[]): Promise<number> {
  const inner = argv.filter((argument) => argument !== '--isolate')
  const child = spawn('unshare', ['--net', '--', process.execPath, RUN_JS, 'storm', ...inner, INSIDE_FLAG, currentNetns()], {stdio: 'inherit'})
  return forwardStopSignals(child)
}

/** Writes sysctls of this namespace; only ever called inside a namespace connstorm made. */
export function applySysctls(overrides: readonly SysctlOverride[]): void {
  for (const {key, value} of overrides) {
    const path = sysctlPath(key)
    try {
      writeFileSync(path, value)
      const now = readFileSync(path, 'utf8').trim().replaceAll(/\s+/g, ' ')
      if (now !== value.replaceAll(/\s+/g, ' ')) throw Object.assign(new Error('value not kept'), {code: `kept ${now}`})
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'refused'
      throw new UsageError(`--sysctl: the kernel refused ${key}=${value} (${code})`)
    }
  }
}

/**
 * Inside the new namespace: bring loopback up and apply the overrides. Refuses to run in the
 * host's namespace, where the same writes would change the machine.
 */
export function prepareIsolatedNamespace(parentNetns: string, overrides: readonly SysctlOverride[]): void {
  if (currentNetns() === parentNetns) {
    throw new UsageError(`${INSIDE_FLAG}: this process is still in its parent's network namespace; use --isolate`)
  }
  const up = spawnSync('ip', ['link', 'set', 'lo', 'up'], {encoding: 'utf8'})
  if (up.status !== 0) throw new UsageError(`--isolate: could not bring loopback up in the new namespace: ${(up.stderr || up.error?.message || '').trim()}`)
  applySysctls(overrides)
}
