import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type TwoHosts, createTwoHosts, vethNames} from '../../src/netns/topology.js'
import {startWatchProcess} from '../../src/watch/process.js'
import {RUN_JS, childPids, isAlive, pollUntil, runCli} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import {writeNginxConfig} from './real-servers/nginx-config.mjs'
import {moveToOwnNetworkNamespace} from '../helpers/own-namespace.js'

// Its storms count the counters of a network namespace of this file's own, so it runs beside other
// files (vitest.config.ts); it times nothing they could disturb.
moveToOwnNetworkNamespace()

// Two hosts on one machine (src/netns/topology.ts): a client and a server network namespace
// joined by a veth pair, 198.18.0.1 and 198.18.0.2. Making namespaces and links needs root; CI is root.
const NEEDS = skipUnless({root: true, tools: ['unshare', 'nsenter', 'ip', 'tc']}, 'two network namespaces joined by a veth pair')

let topology: TwoHosts | undefined
let directory: string | undefined
const children: ChildProcess[] = []
/** processes started inside a namespace by another of ours (nginx's worker), ended by PID */
const grandchildren: number[] = []
afterEach(async () => {
  for (const pid of grandchildren.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  for (const child of children.splice(0)) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL')
  await topology?.dispose()
  topology = undefined
  if (directory !== undefined) rmSync(directory, {recursive: true, force: true})
  directory = undefined
})

// A listener with backlog 2 that never accepts: its accept queue holds 3 (backlog + 1). Prints a
// line once listening; Atomics.wait ends it after 60 s in case nobody kills it.
const NEVER_ACCEPTS = (host: string, port: number) => `
const server = require('node:net').createServer()
server.listen({port: ${port}, host: '${host}', backlog: 2}, () => {
  process.stdout.write('listening\\n')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000)
})
`

function startInside(argv: string[]): {child: ChildProcess; stdout: () => string; stderr: () => string; closed: Promise<number | null>} {
  const child = spawn(argv[0]!, argv.slice(1), {stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return {child, stdout: () => stdout, stderr: () => stderr, closed: new Promise((resolve) => child.once('close', (code) => resolve(code)))}
}

function hostLinks(): string {
  return spawnSync('ip', ['-br', 'link'], {encoding: 'utf8'}).stdout
}

function netnsList(): string {
  return spawnSync('ip', ['netns', 'list'], {encoding: 'utf8'}).stdout
}

describe.skipIf(NEEDS)('two hosts on one machine', () => {
  it('keeps each side’s counters its own: 6 connects to a full queue of 3 with a 1.5 s timeout are 3 SYN retransmits on the client and 6 overflows on the server, and neither shows the other’s', async () => {
    directory = mkdtempSync(join(tmpdir(), 'connstorm-two-hosts-'))
    topology = await createTwoHosts()
    const port = 8088
    const listener = startInside(topology.inside('server', [process.execPath, '-e', NEVER_ACCEPTS(topology.server.address, port)]))
    await pollUntil(listener.stdout, (text) => text.includes('listening'), {timeoutMs: 10_000})
    // The watch runs where the listener is: in the server's namespace.
    const watch = startWatchProcess(port, {wrap: topology.inside('server', []), maxDurationMs: 20_000})
    grandchildren.push(watch.pid)
    await watch.ready
    // 3 connects fill the queue; the SYNs of the other 3 are dropped, retransmitted once at 1 s
    // (the initial RTO), dropped again, and the connects time out at 1.5 s, before a second retransmit.
    const storm = startInside(
      topology.inside('client', [process.execPath, RUN_JS, 'storm', `${topology.server.address}:${port}`, '--burst', '6', '--timeout', '1.5s', '--json', '--out', join(directory, 'c.json')]),
    )
    expect(await storm.closed).toBe(0)
    const server = await watch.stop()
    const client = JSON.parse(readFileSync(join(directory, 'c.json'), 'utf8')) as {kernel: {counterDeltas: Record<string, number>}; counts: {connected: number; byOutcome: Record<string, number>}}
    expect(client.counts.connected).toBe(3)
    expect(client.counts.byOutcome.timeout).toBe(3)
    expect(client.kernel.counterDeltas.TcpExtTCPSynRetrans).toBe(3)
    expect(client.kernel.counterDeltas.TcpExtListenOverflows).toBe(0)
    expect(client.kernel.counterDeltas.TcpActiveOpens).toBe(6)
    const first = server.samples[0]!.counters!
    const last = server.samples.at(-1)!.counters!
    expect(last.TcpExtListenOverflows! - first.TcpExtListenOverflows!).toBe(6)
    // The server retransmitted no SYN-ACK (the 3 queued handshakes completed), and the client's SYN retransmits are not here.
    expect(last.TcpExtTCPSynRetrans! - first.TcpExtTCPSynRetrans!).toBe(0)
    expect(server.samples.at(-1)!.listeners[0]!.drops! - server.samples[0]!.listeners[0]!.drops!).toBe(6)
  }, 30_000)

  it('leaves no namespace and no link behind after SIGINT in the middle of a storm between the two', async () => {
    const names = vethNames(0).client.slice(0, 4) // the prefix, 'cstc'
    const driver = `
const {createTwoHosts} = await import(${JSON.stringify(new URL('../../dist/netns/topology.js', import.meta.url).href)})
const {spawn} = await import('node:child_process')
const hosts = await createTwoHosts()
const inner = []
const start = (side, argv) => { const c = spawn(hosts.inside(side, argv)[0], hosts.inside(side, argv).slice(1), {stdio: 'ignore'}); inner.push(c); return c }
start('server', [process.execPath, '-e', ${JSON.stringify(NEVER_ACCEPTS('198.18.0.2', 8088))}])
await new Promise((resolve) => setTimeout(resolve, 500))
start('client', [process.execPath, ${JSON.stringify(RUN_JS)}, 'storm', '198.18.0.2:8088', '--burst', '50', '--timeout', '20s'])
process.on('SIGINT', async () => {
  for (const c of inner) c.kill('SIGKILL')
  await Promise.all(inner.map((c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', resolve)))))
  await hosts.dispose()
  process.exit(130)
})
process.stdout.write(JSON.stringify({client: hosts.client, server: hosts.server, ns: [${'`'}/proc/${'$'}{hosts.client.holderPid}/ns/net${'`'}, ${'`'}/proc/${'$'}{hosts.server.holderPid}/ns/net${'`'}]}) + '\\n')
setTimeout(() => process.exit(1), 30000)
`
    const run = startInside([process.execPath, '--input-type=module', '-e', driver])
    const line = await pollUntil(run.stdout, (text) => text.includes('\n'), {timeoutMs: 15_000})
    const made = JSON.parse(line) as {client: {holderPid: number; device: string}; server: {holderPid: number; device: string}; ns: string[]}
    const namespaces = made.ns.map((path) => readlinkSync(path))
    expect(made.client.device.startsWith(names)).toBe(true)
    // In the middle: the storm's connects wait on retransmits against the full queue.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    // Every process in either namespace now: the holders, the never-accepting server, the storm.
    const insideBefore = processesIn(namespaces)
    expect(insideBefore.length).toBeGreaterThanOrEqual(4)
    run.child.kill('SIGINT')
    expect(await run.closed).toBe(130)
    expect(isAlive(made.client.holderPid)).toBe(false)
    expect(isAlive(made.server.holderPid)).toBe(false)
    expect(hostLinks()).not.toContain(made.client.device)
    expect(hostLinks()).not.toContain(made.server.device)
    expect(netnsList()).not.toMatch(/cst/)
    // No process is left in either namespace (a namespace lives as long as one process is in it).
    // Judged by the processes, not by the namespaces' inode numbers: the kernel reuses a freed
    // namespace's number at once, and other test files make namespaces meanwhile (seen: the number
    // of this test's namespace listed again, held by another test's holder). Up to 10 s: a
    // SIGKILLed process with 50 connects in flight is gone only once its exit has torn them down.
    const left = await pollUntil(() => insideBefore.filter(isAlive), (alive) => alive.length === 0, {timeoutMs: 10_000})
    expect(left.map((pid) => `${pid} ${commandOf(pid)}`)).toEqual([])
  }, 40_000)

  it('joins the two over IPv6 too: 5 connects from the client to a lab on the server’s ULA address connect at once', async () => {
    topology = await createTwoHosts()
    const lab = startInside(topology.inside('server', [process.execPath, RUN_JS, 'lab', '--json', '--host', 'fdc5:7e57:5707::2', '--port', '8089', '--max-duration', '20s']))
    await pollUntil(lab.stdout, (text) => text.includes('\n'), {timeoutMs: 10_000})
    const storm = startInside(topology.inside('client', [process.execPath, RUN_JS, 'storm', '[fdc5:7e57:5707::2]:8089', '--burst', '5', '--timeout', '2s', '--json']))
    expect(await storm.closed).toBe(0)
    const result = JSON.parse(storm.stdout()) as {counts: {connected: number}; target: {family: number}}
    expect(result.target.family).toBe(6)
    expect(result.counts.connected).toBe(5)
    lab.child.kill('SIGTERM')
    await lab.closed
  }, 30_000)

  it('removes what it made when a step fails (a --link-rate tc refuses), and says which step', async () => {
    const before = hostLinks()
    await expect(createTwoHosts({linkRate: {port: 8088, rate: 'fast'}})).rejects.toThrow(/^two hosts \(client\): 'nsenter --net=\/proc\/\d+\/ns\/net -- tc class add dev cstc\d+ parent 1: classid 1:30 htb rate fast/)
    expect(hostLinks()).toBe(before)
  })

  it('paces the client’s packets toward the server port on its end of the veth with --link-rate', async () => {
    topology = await createTwoHosts({linkRate: {port: 8088, rate: '64kbit'}})
    const classes = spawnSync(topology.inside('client', ['tc', 'class', 'show', 'dev', topology.client.device])[0]!, topology.inside('client', ['tc', 'class', 'show', 'dev', topology.client.device]).slice(1), {encoding: 'utf8'}).stdout
    expect(classes).toContain('class htb 1:30 root prio 0 rate 64Kbit')
    const filters = spawnSync(topology.inside('client', ['tc', 'filter', 'show', 'dev', topology.client.device])[0]!, topology.inside('client', ['tc', 'filter', 'show', 'dev', topology.client.device]).slice(1), {encoding: 'utf8'}).stdout
    // 8088 = 0x1f98: the u32 match on the destination port
    expect(filters).toContain('match 00001f98/0000ffff at 20')
    expect(existsSync(`/proc/${topology.server.holderPid}/ns/net`)).toBe(true)
  })
})

// The acceptance run of a remote storm: a real nginx (Debian package) in the server namespace,
// `listen 198.18.0.2:8088 backlog=32`, its one worker stopped for 2.5 s; connstorm watch beside it;
// a burst of 150 from the client namespace; then report --server-evidence.
const NO_NGINX = NEEDS || skipUnless({tools: ['nginx']}, 'nginx in the server namespace')

function nginxConfig(directory: string): string {
  // As test/e2e/real-servers/driver.mjs writes it, on the server's veth address.
  return writeNginxConfig(directory, {listen: '198.18.0.2:8088 backlog=32'})
}

/** The PIDs of every process whose network namespace is one of these ('net:[…]', as readlink shows them). */
function processesIn(namespaces: readonly string[]): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (namespaces.includes(readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry))
    } catch {
      // gone meanwhile, or a kernel thread: not in the namespaces
    }
  }
  return pids
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return '(gone)'
  }
}

describe.skipIf(NO_NGINX)('a remote storm against a real nginx, with the server’s side watched on its host', () => {
  it('names peak queue 33/32+1 and the listener’s drops, counts the client’s SYN retransmits exactly, and advises from backlog 32', async () => {
    directory = mkdtempSync(join(tmpdir(), 'connstorm-nginx-two-hosts-'))
    topology = await createTwoHosts()
    const config = nginxConfig(directory)
    const nginx = startInside(topology.inside('server', ['nginx', '-c', config, '-p', directory]))
    const watch = startInside(topology.inside('server', [process.execPath, RUN_JS, 'watch', '8088', '--interval', '10ms', '--duration', '60s', '--out', join(directory, 's.json')]))
    await pollUntil(watch.stderr, (text) => text.includes('listener on port 8088: 198.18.0.2:8088 (backlog 32)'), {timeoutMs: 15_000})
    // nsenter execs nginx: its PID is the master's, and the master's one child is the worker that accepts.
    const worker = await pollUntil(() => childPids(nginx.child.pid!), (pids) => pids.length === 1, {timeoutMs: 5000})
    expect(worker).toHaveLength(1)
    grandchildren.push(worker[0]!)
    // The burst leaves at an instant 4 s ahead (--start-at); the worker is stopped from 1 s before it
    // to 1.5 s after it (2.5 s), midway between the 1 s and 2 s retransmits: a storm CLI slow to
    // start on a loaded machine cannot fire into a worker already resumed (seen once when the stop
    // began before the CLI was started: its start-up took most of the 2.5 s, and 93 got in at once).
    const at = Date.now() + 4000
    const storm = startInside(topology.inside('client', [process.execPath, RUN_JS, 'storm', '198.18.0.2:8088', '--burst', '150', '--start-at', new Date(at).toISOString(), '--out', join(directory, 'c.json')]))
    await new Promise((resolve) => setTimeout(resolve, at - 1000 - Date.now()))
    process.kill(worker[0]!, 'SIGSTOP')
    const resume = setTimeout(() => process.kill(worker[0]!, 'SIGCONT'), 2500)
    try {
      expect(await storm.closed).toBe(0)
    } finally {
      clearTimeout(resume)
      process.kill(worker[0]!, 'SIGCONT')
    }
    watch.child.kill('SIGINT')
    expect(await watch.closed).toBe(0)
    // SIGTERM: nginx's fast shutdown, the master ends its worker (a SIGKILLed master would orphan it, and it would hold the namespace).
    nginx.child.kill('SIGTERM')
    await nginx.closed

    // 150 connects, 33 fit in the queue: the others' SYNs were dropped at least once each.
    await expectJoinedHalves(directory, {backlog: 32, atOnce: 33})
    // The client's namespace has the storm alone, so it saw no overflow of its own.
    expect(clientOverflows(directory)).toBe(0)
  }, 60_000)
})

/**
 * The two halves joined (report and analyze --server-evidence): the verdict names the server's
 * full queue (backlog + 1) and the advice starts from its backlog; of 150 connects, all but the
 * `atOnce` the queue held had a SYN dropped at least once; the client's namespace has the storm
 * alone, so its TCPSynRetrans is exactly Σ k·n; and every retransmitted SYN followed one the
 * listener dropped (docs/kernel.md §14).
 */
async function expectJoinedHalves(directory: string, {backlog, atOnce}: {backlog: number; atOnce: number}): Promise<void> {
  const report = await runCli(['report', join(directory, 'c.json'), '--server-evidence', join(directory, 's.json')])
  expect(report.stderr).toBe('')
  expect(report.code).toBe(0)
  expect(report.stdout).toContain(`verdict   server side: peak queue ${atOnce}/${backlog}+1 (the accept queue was full); the listener dropped `)
  expect(report.stdout).toMatch(new RegExp(`^ {2}backlog +${backlog} → `, 'm'))
  const result = JSON.parse((await runCli(['analyze', join(directory, 'c.json'), '--server-evidence', join(directory, 's.json'), '--json'])).stdout) as {
    attribution: {expectedSynRetrans: number}
    kernel: {counterDeltas: Record<string, number>; corroborated: boolean; serverEvidence: {listener: {drops: number}}}
  }
  const sumKN = result.attribution.expectedSynRetrans
  expect(sumKN).toBeGreaterThanOrEqual(150 - atOnce)
  expect(result.kernel.counterDeltas.TcpExtTCPSynRetrans).toBe(sumKN)
  expect(result.kernel.serverEvidence.listener.drops).toBeGreaterThanOrEqual(sumKN)
  expect(result.kernel.corroborated).toBe(true)
}

/** The client storm's own ListenOverflows delta (c.json): nothing listens on the client's side. */
function clientOverflows(directory: string): number | undefined {
  return (JSON.parse(readFileSync(join(directory, 'c.json'), 'utf8')) as {kernel: {counterDeltas: Record<string, number>}}).kernel.counterDeltas.TcpExtListenOverflows
}

const NO_REDIS = NEEDS || skipUnless({tools: ['redis-server', 'redis-cli']}, 'Redis in the server namespace')

describe.skipIf(NO_REDIS)('a remote storm against a real Redis, with the server’s side watched on its host', () => {
  it('names peak queue 17/16+1 with tcp-backlog 16 while DEBUG SLEEP 3 blocks its event loop, and advises from backlog 16', async () => {
    directory = mkdtempSync(join(tmpdir(), 'connstorm-redis-two-hosts-'))
    topology = await createTwoHosts()
    // DEBUG is off by default since Redis 7 ('local' would refuse redis-cli on the veth address), and
    // protected mode refuses clients from a non-loopback address without a password: nothing but this
    // test can reach the namespace.
    const redis = startInside(
      topology.inside('server', ['redis-server', '--port', '6390', '--bind', '198.18.0.2', '--tcp-backlog', '16', '--save', '', '--appendonly', 'no', '--dir', directory, '--enable-debug-command', 'yes', '--protected-mode', 'no']),
    )
    const watch = startInside(topology.inside('server', [process.execPath, RUN_JS, 'watch', '6390', '--interval', '10ms', '--duration', '60s', '--out', join(directory, 's.json')]))
    await pollUntil(watch.stderr, (text) => text.includes('listener on port 6390: 198.18.0.2:6390 (backlog 16)'), {timeoutMs: 15_000})
    // The burst leaves at an instant 4 s ahead (--start-at) and the sleep begins 0.5 s before it, so
    // a storm CLI slow to start on a loaded machine cannot fire after the sleep has half passed (seen
    // once with the storm started 0.2 s after the sleep: 28 got in on the first retransmit).
    const at = Date.now() + 4000
    const storm = startInside(topology.inside('client', [process.execPath, RUN_JS, 'storm', '198.18.0.2:6390', '--burst', '150', '--start-at', new Date(at).toISOString(), '--out', join(directory, 'c.json')]))
    await new Promise((resolve) => setTimeout(resolve, at - 500 - Date.now()))
    // redis-cli from the server's namespace; the reply comes after 3 s.
    const sleep = startInside(topology.inside('server', ['redis-cli', '-h', '198.18.0.2', '-p', '6390', 'DEBUG', 'SLEEP', '3']))
    expect(await storm.closed).toBe(0)
    expect(await sleep.closed).toBe(0)
    expect(sleep.stdout().trim()).toBe('OK')
    watch.child.kill('SIGINT')
    expect(await watch.closed).toBe(0)
    redis.child.kill('SIGTERM')
    await redis.closed

    await expectJoinedHalves(directory, {backlog: 16, atOnce: 17})
  }, 60_000)
})
