import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {type Socket, connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {readListenerDrops} from '../../src/kernel/listeners.js'
import {RUN_JS, pollUntil, runCli, startScript} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {parseJsonResult} from '../helpers/result.js'

// Two storms in one network namespace, each against a built-in lab of its own: the namespace's
// counters (TcpExtListenDrops, TCPSynRetrans, TcpActiveOpens) add up both, the listener's own drops
// (its sk_drops, docs/kernel.md §14) do not. unshare -n needs root; CI runs as root.
const NEEDS = skipUnless({root: true, tools: ['unshare', 'ip', 'sysctl']}, 'two storms sharing a network namespace')

let directory: string | undefined
let listener: ChildProcess | undefined
const clients: Socket[] = []
afterEach(() => {
  if (directory !== undefined) rmSync(directory, {recursive: true, force: true})
  directory = undefined
  for (const client of clients.splice(0)) client.destroy()
  if (listener?.pid !== undefined && listener.exitCode === null && listener.signalCode === null) process.kill(listener.pid, 'SIGKILL')
  listener = undefined
})

// A listener on 127.0.0.1 with backlog 2 that never accepts: it prints its port, then blocks its
// event loop (Atomics.wait ends after 60 s in case nobody kills it).
const NEVER_ACCEPTS = `
const server = require('node:net').createServer()
server.listen({port: 0, host: '127.0.0.1', backlog: 2}, () => {
  process.stdout.write(server.address().port + '\\n')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000)
})
`

async function startNeverAccepting(): Promise<number> {
  const {child, firstLine} = await startScript(NEVER_ACCEPTS)
  listener = child
  return Number(firstLine)
}

const noSs = skipUnless({tools: ['ss']}, 'reading a listener\'s drops over ss')

describe('the listener’s own drop count (sk_drops) against a listener that never accepts', () => {
  // Backlog 2: the accept queue holds 3; the SYNs of connects 4–6 are dropped, one drop each.
  // Their first retransmit comes 1 s later (the SYN's initial timeout), so the count is read,
  // within 500 ms, while it is exactly 3.
  it.for([
    ['netlink', {}],
    ['ss', {netlink: false}],
  ] as const)('reads 3 drops over %s after 6 connects to a full queue of 3', async ([source, options], {skip}) => {
    if (source === 'ss' && noSs) skip()
    const port = await startNeverAccepting()
    expect(await readListenerDrops({host: '127.0.0.1', port, family: 4}, options)).toBe(0)
    for (let i = 0; i < 6; i++) {
      const client = connect({host: '127.0.0.1', port})
      client.on('error', () => undefined)
      clients.push(client)
    }
    const drops = await pollUntil(() => readListenerDrops({host: '127.0.0.1', port, family: 4}, options), (value) => value !== null && value >= 3, {timeoutMs: 500, stepMs: 10})
    expect(drops).toBe(3)
  })

  // The storm records after − before: drops from before it started are not its own. 3 SYNs are
  // dropped first (their connects then closed, so they retransmit nothing); then a storm of 2
  // connects with a 500 ms timeout: both SYNs dropped, both give up before the 1 s retransmit.
  it('gives a storm only the drops during it: 2 after 3 from before', async () => {
    const port = await startNeverAccepting()
    const pending: Socket[] = []
    for (let i = 0; i < 6; i++) {
      const client = connect({host: '127.0.0.1', port})
      client.on('error', () => undefined)
      ;(i < 3 ? clients : pending).push(client)
    }
    const before = await pollUntil(() => readListenerDrops({host: '127.0.0.1', port, family: 4}), (value) => value !== null && value >= 3, {timeoutMs: 500, stepMs: 10})
    for (const client of pending) client.destroy()
    expect(before).toBe(3)
    const run = await runCli(['storm', `127.0.0.1:${port}`, '--burst', '2', '--timeout', '500ms', '--json'])
    const result = parseJsonResult(run.stdout)
    expect(result.counts.attempted).toBe(2)
    expect(result.kernel!.listener!.drops).toBe(2)
  })

  it('gives null for a listener that is not there', async () => {
    expect(await readListenerDrops({host: '127.0.0.1', port: 1, family: 4})).toBeNull()
  })
})

/** Runs `script` with sh inside a fresh network namespace (loopback up); resolves with its exit code and stderr. */
function inFreshNamespace(script: string, killAfterMs = 30_000): Promise<{code: number | null; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && ${script}`], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.on('close', (code) => {
      clearTimeout(killer)
      resolve({code, stderr})
    })
  })
}

describe.skipIf(NEEDS)('a storm on a shared namespace with noise (root)', () => {
  // Ladder 6 retries / 4 linear: SYN retransmits at 1, 2, 3 … s. Both storms start at one instant
  // (--start-at). Measured storm: lab backlog 8 (9 fit the accept queue), accepts stalled 1.5 s,
  // burst 100: 9 connect at once, the other 91 SYNs are dropped at 0 s and at 1 s and get in at
  // 2 s, so Σ k·n = 91 × 2 = 182, all done by ~2.1 s. The noise storm opens 200 connects a second
  // for 3 s against a lab of its own (backlog 4, same stall), so it connects, and gets SYNs
  // dropped, all through the measured storm's counter window (a burst of noise could fall just
  // before that window's first snapshot: the two processes start milliseconds apart).
  it('is corroborated from its listener’s own drops while the namespace counters, shared, add up both storms', async () => {
    directory = mkdtempSync(join(tmpdir(), 'connstorm-listener-drops-'))
    const measured = join(directory, 'measured.json')
    const noise = join(directory, 'noise.json')
    const node = `'${process.execPath}' '${RUN_JS}'`
    // 2.5 s ahead: both CLIs are up by then, even on a loaded 2-core machine (~0.5 s each).
    const at = new Date(Date.now() + 2500).toISOString()
    const storm = (lab: string, burst: number | null, out: string) =>
      `${node} storm --lab-backlog ${lab} --lab-stall 1.5s${burst === null ? '' : ` --burst ${burst}`} --start-at ${at} --json > '${out}'`
    const run = await inFreshNamespace(
      `sysctl -qw net.ipv4.tcp_syn_retries=6 net.ipv4.tcp_syn_linear_timeouts=4 && ` +
        `{ ${storm('4 --rate 200 --duration 3s', null, noise)} & ${storm('8', 100, measured)}; a=$?; wait $!; b=$?; exit $((a + b)); }`,
    )
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(readFileSync(measured, 'utf8'))
    const other = parseJsonResult(readFileSync(noise, 'utf8'))

    expect(result.attribution!.steps).toMatchObject([
      {retransmits: 0, connects: 9},
      {retransmits: 2, connects: 91},
    ])
    expect(result.attribution!.expectedSynRetrans).toBe(182)
    const kernel = result.kernel!
    // The namespace counters hold both storms: more connects opened than the 100, and more SYNs
    // retransmitted than the 182 (the noise's connects of its first second retransmit at least
    // once inside the window), so they give no verdict.
    expect(kernel.counterDeltas!.TcpActiveOpens).toBeGreaterThan(100)
    expect(kernel.counterDeltas!.TcpExtTCPSynRetrans).toBeGreaterThan(182)
    expect(kernel.corroboration!.countersReason).toMatch(/^counters are shared with other traffic \(TcpActiveOpens \+\d+ for 100 connects\): shown without a verdict$/)
    // The listener's own drops: at least one per retransmitted SYN (182), the rest handshake ACKs
    // at the full queue; each storm's listener counts only its own. The namespace's ListenDrops
    // also holds the other listener's SYN drops, hundreds of them, so it is larger (the
    // listener's drops can exceed its own share of ListenDrops only by a few request-sock
    // discards, docs/kernel.md §14). Not an exact sum: the two windows start milliseconds apart.
    const drops = kernel.listener!.drops!
    const otherDrops = other.kernel!.listener!.drops!
    expect(drops).toBeGreaterThanOrEqual(182)
    expect(otherDrops).toBeGreaterThan(0)
    expect(kernel.counterDeltas!.TcpExtListenDrops).toBeGreaterThan(drops)
    expect(kernel.corroboration).toMatchObject({corroborated: true, expected: 182, listenerDrops: drops})
    expect(kernel.corroboration!.reason).toMatch(/^the listener's own drops agree: \d+ (=|≥) 182 retransmitted SYNs/)
    expect(kernel.corroborated).toBe(true)
    // Seen once in ~10 runs (fresh clone, idle machine): the noise storm's drops 535 below its Σ k·n,
    // cause not yet found; the whole corroboration and its counts are printed to find it next time.
    expect(other.kernel!.corroboration, JSON.stringify({corroboration: other.kernel!.corroboration, counts: other.counts, attribution: other.attribution})).toMatchObject({corroborated: true, listenerDrops: otherDrops})
  })
})
