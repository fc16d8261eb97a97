import {type ChildProcess, spawn} from 'node:child_process'

import {afterEach, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {moveToOwnNetworkNamespace} from '../helpers/own-namespace.js'
import {parseJsonResult} from '../helpers/result.js'

// Its storms count the counters of a network namespace of this file's own, so it runs beside other
// files (vitest.config.ts); it times nothing they could disturb.
moveToOwnNetworkNamespace()

// Four sockets listening on one port with SO_REUSEPORT, each with backlog 8 and none accepting, as
// nginx's `reuseport` or a Go service's listeners look while their workers are stopped. The kernel
// hashes each connect to one of them (docs/kernel.md §16). Node 20 cannot set SO_REUSEPORT on a
// listener (reusePort came in Node 22.12), so Python holds the sockets.
const FOUR_LISTENERS = `
import socket, sys, time
sockets = []
port = 0
for _ in range(4):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(('127.0.0.1', port))
    port = s.getsockname()[1]
    s.listen(8)
    sockets.append(s)
print(port, flush=True)
time.sleep(60)
`

const NEEDS = skipUnless({tools: ['python3']}, 'an SO_REUSEPORT group held by python3')

let holder: ChildProcess | undefined
afterEach(() => {
  if (holder?.pid !== undefined && holder.exitCode === null && holder.signalCode === null) process.kill(holder.pid, 'SIGKILL')
  holder = undefined
})

function startGroup(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', FOUR_LISTENERS], {stdio: ['ignore', 'pipe', 'inherit']})
    holder = child
    child.stdout!.setEncoding('utf8').once('data', (line: string) => resolve(Number(line.trim())))
    child.once('exit', (code) => reject(new Error(`the listeners' script exited (code ${code})`)))
  })
}

describe('an SO_REUSEPORT group: four listen(8) sockets on one port, none accepting', () => {
  // 200 connects hashed over 4 queues of 9: each queue gets ~50 (fewer than 9 has a probability
  // below 10⁻¹⁵), so exactly 4 × 9 = 36 get in at once; the other 164 have their SYN dropped,
  // retransmit at 1 s into a queue still full, and time out at 1.5 s.
  it.skipIf(NEEDS)('admits 4 × (8+1) = 36 at once, names the group, and sizes each listener for its share of the burst', async () => {
    const port = await startGroup()
    const run = await runCli(['storm', `127.0.0.1:${port}`, '--burst', '200', '--timeout', '1500ms', '--server', 'nginx', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    expect(result.counts.byOutcome).toMatchObject({connected: 36, timeout: 164})
    const listener = result.kernel!.listener!
    expect(listener.reusePort!.effectiveBacklogs).toEqual([8, 8, 8, 8])
    // Each dropped SYN is one drop on the member it hashed to: the members add up to the group's count.
    const memberDrops = listener.reusePort!.drops as number[]
    expect(memberDrops.every((drops) => drops > 0)).toBe(true)
    expect(memberDrops.reduce((sum, drops) => sum + drops, 0)).toBe(listener.drops)
    // 164 first SYNs and 164 retransmits at 1 s were dropped (more only if a handshake ACK found a
    // queue full, docs/kernel.md §14).
    expect(listener.drops).toBeGreaterThanOrEqual(328)

    // Each member must hold its share: 200/4 = 50 + 4σ (σ = √(200 · ¼ · ¾) = 6.12) → 75 (unless this
    // run's drops show a larger share, which at 4σ above the mean is not expected), × 1.25 headroom
    // = 94, rounded up to 2^n − 1 → 127 per listener, not the 255 one queue would need for all 200.
    const backlog = result.recommendations!.find((recommendation) => recommendation.knob === 'backlog')!
    expect(backlog).toMatchObject({current: '8', proposed: '127'})
    expect(backlog.evidence).toContain('36 connects were admitted at once (= 4 listeners × (backlog 8 + 1) sharing the port with SO_REUSEPORT, when the application is not accepting)')
    expect(backlog.lines[0]).toMatch(/backlog=127/)
    expect(result.advice!.model).toMatch(/hashed over 4 SO_REUSEPORT listeners: each queue must hold its share, ≤ 75 \(50 on average \+ 4 standard deviations of the hash's spread\); this run's shares, from each listener's drops: \d+, \d+, \d+, \d+ \(largest \d+ against 50 on average\)/)

    const text = await runCli(['report', '-'], {input: run.stdout})
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^listener .*; 4 listeners share the port \(SO_REUSEPORT\): 4 × \(8\+1\) = 36 at once; drops per listener \d+, \d+, \d+, \d+$/m)
    expect(text.stdout).toMatch(/^verdict .*: the accept queues of the 4 listeners sharing the port with SO_REUSEPORT \(4 × \(8\+1\) = 36\) were full/m)
  })
})
