import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {closedPort, pollUntil, runCli} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'
import type {StormResult} from '../../src/results/format.js'

/**
 * The metrics of a real run, pushed by `report --push` to a real Pushgateway and scraped from it by
 * a real Prometheus (Debian's prometheus and prometheus-pushgateway; scripts/system-packages.sh
 * installs them), then read back through Prometheus's HTTP API. Both servers listen on free
 * loopback ports, keep their data in a temporary directory, and are stopped by PID.
 */

/** Every wait here is bounded: Prometheus starts in 1–2 s and scrapes every second. */
const WAIT_MS = 20_000

const PROMTOOL = '/usr/bin/promtool'
const PROMETHEUS = '/usr/bin/prometheus'
const PUSHGATEWAY = '/usr/bin/prometheus-pushgateway'

interface Server {
  child: ChildProcess
  output: () => string
}

function startServer(command: string, args: string[]): Server {
  const child = spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  return {child, output: () => output}
}

/** SIGTERM by PID, SIGKILL after 3 s; resolves when it has exited. */
function stopServer({child}: Server): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    process.kill(child.pid!, 'SIGTERM')
  })
}

/** GET, answering the status (0: no answer yet) and the body. */
async function get(url: string): Promise<{status: number; body: string}> {
  try {
    const response = await fetch(url, {signal: AbortSignal.timeout(2000)})
    return {status: response.status, body: await response.text()}
  } catch {
    return {status: 0, body: ''}
  }
}

async function ready(url: string, server: Server): Promise<void> {
  const answer = await pollUntil(() => get(url), ({status}) => status === 200, {timeoutMs: WAIT_MS, stepMs: 100})
  expect(answer.status, `${url} not ready within ${WAIT_MS / 1000} s: ${server.output()}`).toBe(200)
}

interface Vector {
  metric: Record<string, string>
  value: [number, string]
}

/** An instant query through Prometheus's HTTP API. */
async function query(port: number, promql: string): Promise<Vector[]> {
  const {status, body} = await get(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`)
  expect(status, body).toBe(200)
  return (JSON.parse(body) as {data: {result: Vector[]}}).data.result
}

/** label value → sample value, for a query answering one series per value of `label`. */
function byLabel(vectors: Vector[], label: string): Record<string, number> {
  return Object.fromEntries(vectors.map((vector) => [vector.metric[label]!, Number(vector.value[1])]))
}

const LINEAR = ['--sysctl', 'net.ipv4.tcp_syn_linear_timeouts=4', '--sysctl', 'net.ipv4.tcp_syn_retries=6'] // SYNs at 0, 1, 2, 3, 4, 5, 7, 11 … s

describe.skipIf(skipUnless({root: true, tools: ['unshare', 'ip'], files: [PROMTOOL, PROMETHEUS, PUSHGATEWAY]}, 'the Prometheus round trip'))(
  'a run\'s metrics in a real Prometheus, through a real Pushgateway (root: the storm runs alone in a namespace)',
  () => {
    it('shows 17 connects on step 0 and 33 on step 3 (the linear ladder\'s 3 s SYN) per kernel count, 33 above the le=0.95 bucket, 99 TcpExtTCPSynRetrans, and a histogram_quantile(0.99) in the run\'s p99 bucket (2.95 s, 3.29 s]', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'connstorm-prometheus-'))
      const servers: Server[] = []
      try {
        const [gatewayPort, prometheusPort] = [await closedPort(), await closedPort()]
        writeFileSync(
          join(dir, 'prometheus.yml'),
          [
            'global: {scrape_interval: 1s, evaluation_interval: 1s}',
            'scrape_configs:',
            // honor_labels: the pushed series keep job="connstorm" and their target label (the Pushgateway's own would otherwise win).
            '  - job_name: pushgateway',
            '    honor_labels: true',
            `    static_configs: [{targets: ['127.0.0.1:${gatewayPort}']}]`,
            '',
          ].join('\n'),
        )
        const gateway = startServer(PUSHGATEWAY, [`--web.listen-address=127.0.0.1:${gatewayPort}`, '--persistence.file=', '--log.level=warn'])
        servers.push(gateway)
        const prometheus = startServer(PROMETHEUS, [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${prometheusPort}`,
          '--log.level=warn',
        ])
        servers.push(prometheus)

        // Backlog 16: 17 connect at once (docs/kernel.md §1); the other 33 SYNs are dropped at 0, 1
        // and 2 s; the stall ends at 2.3 s (0.3 s after the 2 s SYN, 0.7 s before the next), so
        // the 3 s SYN — retransmit 3 of the linear ladder — gets each of them in: 33 × 3 = 99.
        // The servers start first: their start-up CPU must not delay the lab beside the storm's stall.
        await Promise.all([ready(`http://127.0.0.1:${gatewayPort}/-/ready`, gateway), ready(`http://127.0.0.1:${prometheusPort}/-/ready`, prometheus)])
        const file = join(dir, 'run.json')
        const storm = await runCli(['storm', '--isolate', ...LINEAR, '--lab-backlog', '16', '--lab-stall', '2.3s', '--burst', '50', '--out', file])
        expect(storm.code, storm.stderr).toBe(0)
        const result = JSON.parse(readFileSync(file, 'utf8')) as StormResult

        // The fixtures' checks (openmetrics.test.ts) have no kernel-counted series; this run has.
        const printed = await runCli(['report', file, '--format', 'openmetrics'])
        expect(printed.code, printed.stderr).toBe(0)
        expect(printed.stdout).toContain('connstorm_syn_retransmits_counted_connects_total{')
        const lint = spawnSync(PROMTOOL, ['check', 'metrics'], {input: printed.stdout, encoding: 'utf8', timeout: 20_000})
        expect({code: lint.status, out: lint.stdout + lint.stderr}).toEqual({code: 0, out: ''})

        const pushed = await runCli(['report', file, '--push', `http://127.0.0.1:${gatewayPort}`])
        expect(pushed.code, pushed.stderr).toBe(0)
        expect(pushed.stdout).toMatch(new RegExp(`^pushed \\d+ samples to http://127\\.0\\.0\\.1:${gatewayPort}/metrics/job/connstorm/target@base64/`))

        // Scraped once the counted series is there (one scrape a second).
        const scraped = await pollUntil(() => query(prometheusPort, 'connstorm_syn_retransmits_counted_connects_total{job="connstorm",outcome="connected"}'), (vectors) => vectors.length > 0, {
          timeoutMs: WAIT_MS,
          stepMs: 250,
        })
        expect(byLabel(scraped, 'retransmits')).toEqual({'0': 17, '3': 33})
        expect(scraped[0]!.metric).toMatchObject({job: 'connstorm', target: `${result.target.host}:${result.target.port}`, run: result.startedAt})

        expect(byLabel(await query(prometheusPort, 'connstorm_ladder_step_connects_total{job="connstorm"}'), 'retransmits')).toEqual({'0': 17, '3': 33})
        expect(byLabel(await query(prometheusPort, 'connstorm_connects_total{job="connstorm"}'), 'outcome')).toMatchObject({connected: 50, timeout: 0, refused: 0})
        // "Waited for at least one SYN retransmit" is one bucket: everything above le=0.95 (step 1's window opens at 1 s − 50 ms).
        const waited = await query(prometheusPort, 'connstorm_connect_duration_seconds_count{job="connstorm"} - ignoring(le) connstorm_connect_duration_seconds_bucket{job="connstorm",le="0.95"}')
        expect(waited.map((vector) => Number(vector.value[1]))).toEqual([33])
        // Step 3's window, (2.95 s, 3.29 s], holds the whole wave: 17 below it, all 50 at its close.
        expect(byLabel(await query(prometheusPort, 'connstorm_connect_duration_seconds_bucket{job="connstorm",le=~"2.95|3.29"}'), 'le')).toEqual({'2.95': 17, '3.29': 50})
        expect(byLabel(await query(prometheusPort, 'connstorm_kernel_nstat_delta{job="connstorm",nstat="TcpExtTCPSynRetrans"}'), 'netns')).toEqual({isolated: 99})

        // p99 of 50 is the 50th connect (0.99 × 50 = 49.5, rounded up): one of the 33 released by
        // the 3 s SYN, which complete at ~3.07 s (docs/kernel.md §2). Its bucket is step 3's
        // window, (3 s − 50 ms, 3 s × 1.03 + 200 ms] = (2.95, 3.29]: the run's p99 and Prometheus's
        // estimate (interpolated inside that bucket) both lie in it.
        for (const [metric, p99Us] of [
          ['connstorm_connect_duration_seconds_bucket', result.latencyUs.fromActual.p99],
          ['connstorm_connect_scheduled_duration_seconds_bucket', result.latencyUs.fromIntended.p99],
        ] as const) {
          const quantile = await query(prometheusPort, `histogram_quantile(0.99, ${metric}{job="connstorm"})`)
          expect(quantile, metric).toHaveLength(1)
          const estimate = Number(quantile[0]!.value[1])
          expect(estimate, metric).toBeGreaterThan(2.95)
          expect(estimate, metric).toBeLessThanOrEqual(3.29)
          expect(p99Us / 1e6, metric).toBeGreaterThan(2.95)
          expect(p99Us / 1e6, metric).toBeLessThanOrEqual(3.29)
        }

        // A path the Pushgateway does not serve: refused, one line, exit 4, nothing else.
        const refused = await runCli(['report', file, '--push', `http://127.0.0.1:${gatewayPort}/no/such/prefix`])
        expect(refused.code).toBe(4)
        expect(refused.stdout).toBe('')
        expect(refused.stderr).toBe(`connstorm report: --push: the Pushgateway at http://127.0.0.1:${gatewayPort} refused the push: HTTP 404: 404 page not found\n`)
      } finally {
        await Promise.all(servers.map((server) => stopServer(server)))
        rmSync(dir, {recursive: true, force: true})
      }
    }, 60_000)
  },
)

describe('a push nobody takes', () => {
  it('says in one line that nothing was pushed, and exits 4 (not 2: the input was fine; not 1: no bug)', async () => {
    const port = await closedPort()
    const run = await runCli(['report', fileURLToFixture('lab-burst'), '--push', `http://127.0.0.1:${port}`])
    expect(run.code).toBe(4)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe(`connstorm report: --push: cannot reach the Pushgateway at http://127.0.0.1:${port} (ECONNREFUSED): nothing was pushed\n`)
  })
})

function fileURLToFixture(name: string): string {
  return new URL(`../fixtures/results/${name}.json`, import.meta.url).pathname
}
