import {spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

import {manifestErrors} from '../helpers/kubernetes-schema.js'
import {skipUnless} from '../helpers/requirements.js'

/**
 * The manifests of examples/kubernetes against the Kubernetes API schemas, offline
 * (docs/kubernetes.md §4): what `kubectl apply` would send must be what the API server accepts.
 */

const EXAMPLE = fileURLToPath(new URL('../../examples/kubernetes/', import.meta.url))
const MANIFESTS = ['pvc.yaml', 'shards.yaml', 'collector.yaml']

type Manifest = Record<string, any>

function documents(text: string): Manifest[] {
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length > 0) throw new Error(String(document.errors[0]))
    return document.toJS() as Manifest
  })
}

const read = (name: string): string => readFileSync(join(EXAMPLE, name), 'utf8')

/** `kubectl kustomize` (what `kubectl apply -k` sends) of a copy of the example with a start.env. */
function rendered(edit: (directory: string) => void = () => {}): Manifest[] {
  const directory = mkdtempSync(join(tmpdir(), 'connstorm-kustomize-'))
  try {
    cpSync(EXAMPLE, directory, {recursive: true})
    writeFileSync(join(directory, 'start.env'), 'START_AT=2026-12-06T15:00:00Z\n')
    edit(directory)
    const run = spawnSync('kubectl', ['kustomize', directory], {encoding: 'utf8'})
    if (run.status !== 0) throw new Error(`kubectl kustomize: ${run.stderr}`)
    return documents(run.stdout)
  } finally {
    rmSync(directory, {recursive: true, force: true})
  }
}

describe('the manifests against the Kubernetes API schema (offline)', () => {
  it.each(MANIFESTS)('%s is accepted: every field known, every value of its type and enum', (name) => {
    const manifests = documents(read(name))
    expect(manifests.length).toBeGreaterThan(0)
    for (const manifest of manifests) expect(manifestErrors(manifest)).toEqual([])
  })

  it('refuses completionMode: Indexd (a typo of Indexed), naming the field', () => {
    const [job] = documents(read('shards.yaml').replace('completionMode: Indexed', 'completionMode: Indexd'))
    expect(manifestErrors(job!)).toEqual(['data/spec/completionMode must be equal to one of the allowed values'])
  })

  it('refuses a field the API does not have (completionMod), as the API server does', () => {
    const [job] = documents(read('shards.yaml').replace('completionMode: Indexed', 'completionMod: Indexed'))
    expect(manifestErrors(job!)).toEqual(['Job.spec.completionMod: unknown field (the API server refuses it)'])
  })

  it('refuses a misspelt field deep in the pod template (volumeMount)', () => {
    const [job] = documents(read('collector.yaml').replace('volumeMounts:', 'volumeMount:'))
    expect(manifestErrors(job!)).toEqual(['Job.spec.template.spec.containers[0].volumeMount: unknown field (the API server refuses it)'])
  })

  it('refuses a value of the wrong type (backoffLimit: none)', () => {
    const [job] = documents(read('shards.yaml').replace('backoffLimit: 0', 'backoffLimit: none'))
    expect(manifestErrors(job!)).toEqual(['data/spec/backoffLimit must be integer'])
  })
})

describe.skipIf(skipUnless({tools: ['kubectl']}, 'rendering the kustomization'))('what kubectl apply -k sends (kubectl kustomize, offline)', () => {
  it('is a ConfigMap and two Jobs, each accepted by the API schema', () => {
    const manifests = rendered()
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(['ConfigMap', 'Job', 'Job'])
    for (const manifest of manifests) expect(manifestErrors(manifest)).toEqual([])
  })

  it('sets the shard Job\'s completions and parallelism from SHARDS, the one place: SHARDS=5 gives 5 and 5', () => {
    const manifests = rendered((directory) => {
      const path = join(directory, 'kustomization.yaml')
      writeFileSync(path, readFileSync(path, 'utf8').replace('SHARDS=3', 'SHARDS=5'))
    })
    const shards = manifests.find((manifest) => manifest.metadata.name === 'connstorm-shards')!
    expect([shards.spec.completions, shards.spec.parallelism]).toEqual([5, 5])
    expect(manifests.find((manifest) => manifest.kind === 'ConfigMap')!.data.SHARDS).toBe('5')
  })

  it('gives both Jobs the one ConfigMap, START_AT included, under its generated name', () => {
    const manifests = rendered()
    const config = manifests.find((manifest) => manifest.kind === 'ConfigMap')!
    expect(config.data.START_AT).toBe('2026-12-06T15:00:00Z')
    expect(Object.keys(config.data).sort()).toEqual(['COLLECT_TIMEOUT', 'PLAN', 'SHARDS', 'START_AT', 'TARGET', 'THRESHOLD'])
    for (const job of manifests.filter((manifest) => manifest.kind === 'Job')) {
      expect(job.spec.template.spec.containers[0].envFrom).toEqual([{configMapRef: {name: config.metadata.name}}])
    }
  })
})

describe('what the manifests promise', () => {
  const [pvc] = documents(read('pvc.yaml'))
  const [shards] = documents(read('shards.yaml'))
  const [collector] = documents(read('collector.yaml'))

  it('runs the shards as one Indexed Job, all at once, never again after a failure', () => {
    expect(shards!.spec).toMatchObject({completionMode: 'Indexed', backoffLimit: 0, completions: 3, parallelism: 3})
    expect(shards!.spec.template.spec.restartPolicy).toBe('Never')
  })

  it('mounts the one claim at the path RESULTS names, in every pod', () => {
    for (const job of [shards!, collector!]) {
      const pod = job.spec.template.spec
      expect(pod.volumes).toEqual([{name: 'results', persistentVolumeClaim: {claimName: pvc!.metadata.name}}])
      const container = pod.containers[0]
      expect(container.volumeMounts).toEqual([{name: 'results', mountPath: '/results'}])
      expect(container.env).toEqual([{name: 'RESULTS', value: '/results'}])
    }
    expect(pvc!.spec.accessModes).toEqual(['ReadWriteMany'])
  })

  it('runs every pod as a non-root user with no capability (a storm needs none)', () => {
    for (const job of [shards!, collector!]) {
      const pod = job.spec.template.spec
      expect(pod.securityContext).toMatchObject({runAsNonRoot: true, runAsUser: 1000})
      expect(pod.containers[0].securityContext).toEqual({allowPrivilegeEscalation: false, capabilities: {drop: ['ALL']}})
    }
  })

  it('labels every object and pod template app.kubernetes.io/name=connstorm with its component', () => {
    expect(pvc!.metadata.labels).toEqual({'app.kubernetes.io/name': 'connstorm', 'app.kubernetes.io/component': 'results'})
    for (const [job, component] of [[shards!, 'shard'], [collector!, 'collector']] as const) {
      expect(job.metadata.labels).toEqual({'app.kubernetes.io/name': 'connstorm', 'app.kubernetes.io/component': component})
      expect(job.spec.template.metadata.labels).toEqual({'app.kubernetes.io/name': 'connstorm', 'app.kubernetes.io/component': component})
    }
  })
})
