import {readFileSync, readdirSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

import {ConfigMap} from 'kubernetes-models/v1/ConfigMap'
import {PersistentVolumeClaim} from 'kubernetes-models/v1/PersistentVolumeClaim'
import {Job} from 'kubernetes-models/batch/v1/Job'

/**
 * Offline validation of Kubernetes manifests against the API's published schemas, as the API
 * server validates them (docs/kubernetes.md §4): kubernetes-models carries the OpenAPI schemas of
 * the Kubernetes API compiled for ajv (types, required fields, enums such as completionMode). Those
 * schemas allow unknown fields, which the API server refuses (kubectl's default --validate=strict),
 * so a second pass refuses any field the schema's types do not list, from the same package's type
 * declarations. `kubectl create --dry-run=client` cannot do this here: it downloads the schema
 * from a cluster.
 */

type Model = {validate(): void}
const MODELS: Record<string, {type: string; make: (data: never) => Model}> = {
  'batch/v1 Job': {type: 'IIoK8sApiBatchV1Job', make: (data) => new Job(data)},
  'v1 PersistentVolumeClaim': {type: 'IIoK8sApiCoreV1PersistentVolumeClaim', make: (data) => new PersistentVolumeClaim(data)},
  'v1 ConfigMap': {type: 'IIoK8sApiCoreV1ConfigMap', make: (data) => new ConfigMap(data)},
}

/** Every error in one manifest, as `path: message`; empty when the API would accept it. */
export function manifestErrors(manifest: {apiVersion?: unknown; kind?: unknown}): string[] {
  const model = MODELS[`${String(manifest.apiVersion)} ${String(manifest.kind)}`]
  if (!model) return [`${String(manifest.apiVersion)} ${String(manifest.kind)}: no schema here for this kind`]
  const errors: string[] = []
  try {
    model.make(manifest as never).validate()
  } catch (error) {
    errors.push(...String((error as Error).message).split(/,\s*(?=data\/)/))
  }
  errors.push(...unknownFields(manifest, model.type, String(manifest.kind)))
  return errors
}

/** Interface name → its properties' declared types, read from kubernetes-models' .d.ts files. */
let types: Map<string, Map<string, string>> | undefined

function typeTable(): Map<string, Map<string, string>> {
  if (types) return types
  const require = createRequire(import.meta.url)
  const roots = [dirname(require.resolve('kubernetes-models/package.json')), dirname(require.resolve('@kubernetes-models/apimachinery/package.json'))]
  types = new Map()
  for (const root of roots) {
    for (const file of declarationFiles(root)) {
      const text = readFileSync(file, 'utf8')
      const exported = /export \{ (I\w+) as (IIoK8s\w+)/.exec(text)
      if (!exported) continue
      const body = new RegExp(`export interface ${exported[1]} (?:extends \\w+ )?\\{([^]*?)\\n\\}`).exec(text)
      if (!body) continue
      const props = new Map<string, string>()
      // One property per line at the interface's indent; a map type goes on over several lines ({ then [key: string]: …).
      for (const match of body[1]!.matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) props.set(match[1]!, match[2]!)
      types.set(exported[2]!, props)
    }
  }
  return types
}

function declarationFiles(directory: string): string[] {
  return readdirSync(directory, {withFileTypes: true}).flatMap((entry) => {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : declarationFiles(path)
    return entry.name.endsWith('.d.ts') ? [path] : []
  })
}

function unknownFields(value: unknown, type: string, path: string): string[] {
  const props = typeTable().get(type)
  if (!props || value === null || typeof value !== 'object' || Array.isArray(value)) return []
  return Object.entries(value).flatMap(([key, child]) => {
    const declared = props.get(key)
    if (declared === undefined) return [`${path}.${key}: unknown field (the API server refuses it)`]
    const element = /^Array<(IIoK8s\w+)>$/.exec(declared)?.[1]
    if (element) return Array.isArray(child) ? child.flatMap((item, index) => unknownFields(item, element, `${path}.${key}[${index}]`)) : []
    const mapped = /^\{\s*\[key: string\]: (IIoK8s\w+);?\s*\}$/.exec(declared)?.[1]
    if (mapped) return Object.entries(child as object).flatMap(([name, item]) => unknownFields(item, mapped, `${path}.${key}.${name}`))
    const single = /^(IIoK8s\w+)$/.exec(declared)?.[1]
    return single ? unknownFields(child, single, `${path}.${key}`) : []
  })
}
