import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import {inCI, isRoot} from './requirements.js'

const ADDON = fileURLToPath(new URL('../native/build/Release/netns.node', import.meta.url))

/**
 * Whether a test file can run in a network namespace of its own: root, and test/native/netns.node
 * built by `npm test`'s set-up (test/native/build.sh). vitest.config.ts asks this to decide where
 * the files that call moveToOwnNetworkNamespace() run: beside other files when it is true, one at
 * a time in the shared namespace otherwise.
 */
export function canUseOwnNetworkNamespace(): boolean {
  return isRoot && existsSync(ADDON)
}

/**
 * Moves this test file's process into a new network namespace with only loopback, up: every
 * storm, lab and listener the file starts from here on (they are its children, or its own
 * sockets) counts the kernel counters of that namespace alone, so the file can run beside others
 * (vitest runs each file in a process of its own). Call it at the top of the file, before anything
 * opens a socket or starts a thread. Namespaces are per thread: unshare(2) moves the main thread,
 * which is the one that opens the file's sockets and spawns its processes.
 *
 * Where the namespace cannot be had (not root, no compiled helper), the file runs one at a time in
 * the shared namespace instead (vitest.config.ts), which is as safe, only slower; with CI=true,
 * where both must be there, that is a failure.
 */
export function moveToOwnNetworkNamespace(): void {
  if (!canUseOwnNetworkNamespace()) {
    if (inCI) throw new Error(`a network namespace of its own needs root and ${ADDON} (built by npm test's set-up: test/native/build.sh)`)
    return
  }
  const {unshareNetwork} = createRequire(import.meta.url)(ADDON) as {unshareNetwork: () => number}
  const failed = unshareNetwork()
  if (failed !== 0) throw new Error(`unshare(CLONE_NEWNET) failed (errno ${failed})`)
  const lo = spawnSync('ip', ['link', 'set', 'lo', 'up'], {encoding: 'utf8'})
  if (lo.status !== 0) throw new Error(`ip link set lo up failed in the new namespace: ${lo.stderr || lo.error?.message}`)
}
