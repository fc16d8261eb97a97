import {execFileSync, spawnSync} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import type {ChildProcess} from 'node:child_process'

import {RUN_JS, childPids, isAlive, runCli, waitFor} from '../helpers/cli.js'
import {parseJsonResult} from '../helpers/result.js'

const isRoot = process.getuid?.() === 0
const hasTools = ['unshare', 'ip'].every((tool) => !spawnSync(tool, ['-V'], {stdio: 'ignore'}).error)

// --isolate creates a network namespace, which needs root (and unshare + ip). CI runs as root; a
// developer without root gets these skipped, with this reason, rather than failed.
describe.skipIf(!isRoot || !hasTools)('storm --isolate (root: a network namespace of its own)', () => {
  it('runs lab and storm alone in a fresh namespace: 17 at once, 83 on the step after 2.5 s, counters agree exactly', async () => {
    const namespacesBefore = execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'})
    const run = await runCli(['storm', '--isolate', '--lab-backlog', '16', '--lab-stall', '2.5s', '--burst', '100', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = parseJsonResult(run.stdout)
    const firstStepAfterStall = result.ladder!.sendTimesMs.findIndex((at) => at >= 2500)
    expect(result.attribution!.steps).toMatchObject([
      {retransmits: 0, connects: 17},
      {retransmits: firstStepAfterStall, connects: 83},
    ])
    expect(result.kernel).toMatchObject({netns: 'isolated', corroborated: true, listener: {effectiveBacklog: 16, peakQueue: 17}})
    expect(result.attribution!.expectedSynRetrans).toBe(result.kernel!.counterDeltas!.TcpExtTCPSynRetrans)
    expect(result.attribution!.expectedSynRetrans).toBe(83 * firstStepAfterStall)
    // The namespace had no name and died with its processes: nothing is left to list or remove.
    expect(execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'})).toBe(namespacesBefore)
  })

  // --sysctl applied only inside, with the classic ladder putting a 4 s stall's connects on the 7 s
  // step (k=3), is the `classic-ladder` incident: test/e2e/incidents.test.ts asserts it.

  it('on Ctrl-C prints the partial report, exits 130, and leaves no process (so no namespace) behind', async () => {
    let storm: ChildProcess | undefined
    const running = runCli(['storm', '--isolate', '--lab-stall', '20s', '--lab-backlog', '2', '--burst', '20'], {onSpawn: (child) => (storm = child)})
    const descendants = (): number[] => {
      const all: number[] = []
      for (let frontier = [storm!.pid!]; frontier.length > 0; ) {
        frontier = frontier.flatMap((pid) => childPids(pid))
        all.push(...frontier)
      }
      return all
    }
    let inside: number[] = []
    // outer storm → storm inside the namespace → its lab
    await waitFor(() => (inside = descendants()).length >= 2, 10_000)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    storm!.kill('SIGINT')
    const run = await running
    expect(run.code).toBe(130)
    expect(run.stdout).toMatch(/PARTIAL\s+interrupted/)
    expect(inside.length).toBeGreaterThanOrEqual(2)
    expect(await waitFor(() => inside.every((pid) => !isAlive(pid)), 3000)).toBe(true)
  })

  it.each([
    ['an unknown sysctl', 'kernel.pid_max=5', /--sysctl: 'kernel\.pid_max' is not one connstorm sets/],
    ['a value the kernel refuses', 'net.core.somaxconn=abc', /--sysctl: the kernel refused net\.core\.somaxconn=abc \(EINVAL\)/],
  ])('refuses %s with one line and exit 2', async (_name, sysctl, message) => {
    const run = await runCli(['storm', '--isolate', '--sysctl', sysctl])
    expect(run.code).toBe(2)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toMatch(message)
    expect(run.stdout).toBe('')
  })

  it('inspect shows the somaxconn cap: listen(1000) under somaxconn 64 has effective backlog 64', () => {
    // A namespace of our own (dies with the shell), somaxconn lowered there only, a lab listening
    // with backlog 1000, then inspect on its port.
    const script = `
      set -e
      ip link set lo up
      echo 64 > /proc/sys/net/core/somaxconn
      "${process.execPath}" "${RUN_JS}" lab --backlog 1000 --json --max-duration 20s > "$TMP/lab.out" &
      lab=$!
      for i in $(seq 100); do [ -s "$TMP/lab.out" ] && break; sleep 0.1; done
      port=$(sed -n '1s/.*"port":\\([0-9]*\\).*/\\1/p' "$TMP/lab.out")
      "${process.execPath}" "${RUN_JS}" inspect "$port" --json
      kill $lab; wait $lab || true`
    const tmp = execFileSync('mktemp', ['-d'], {encoding: 'utf8'}).trim()
    try {
      const output = execFileSync('unshare', ['--net', '--', 'sh', '-c', script], {encoding: 'utf8', env: {...process.env, TMP: tmp}, timeout: 30_000})
      const inspection = JSON.parse(output)
      expect(inspection.listeners).toMatchObject([{sendQ: 64}])
      expect(inspection.sysctls.find((sysctl: {name: string}) => sysctl.name === 'net.core.somaxconn').value).toBe('64')
    } finally {
      execFileSync('rm', ['-rf', tmp])
    }
  })
})
