import {readFileSync, readdirSync} from 'node:fs'
import {dirname, join, normalize, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

/**
 * The layer rule, in one place: data flows one way,
 *   commands → cli → run / watch → engine / kernel / lab / netns / probe → report → analysis → plan / results → errors,
 * with signals.ts (which signals stop a run, and their exit codes) a leaf beside errors.ts,
 * and each directory of src/ may import only the directories listed for it (and itself).
 * `report` renders a diagnosis and is imported only by commands and cli; `analysis` is pure.
 * No file-level import cycle is allowed anywhere, within a directory either.
 */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  commands: ['signals', 'cli', 'run', 'watch', 'report', 'incidents', 'engine', 'kernel', 'lab', 'netns', 'probe', 'native', 'analysis', 'plan', 'results', 'errors'],
  hooks: ['cli'],
  cli: ['signals', 'run', 'report', 'netns', 'kernel', 'analysis', 'plan', 'results', 'errors'],
  run: ['signals', 'watch', 'engine', 'kernel', 'lab', 'netns', 'probe', 'native', 'analysis', 'plan', 'results', 'errors'],
  // `connstorm watch`: the server's side of a storm, sampled on the server's host (no storm of its own).
  watch: ['signals', 'kernel', 'native', 'analysis', 'plan', 'results', 'errors'],
  incidents: ['results', 'errors'],
  engine: ['kernel', 'probe', 'native', 'plan', 'results', 'errors'],
  kernel: ['native', 'plan', 'results', 'errors'],
  // native: the lab reads TCP_INFO of each socket it accepts (its own accept-queue wait).
  lab: ['signals', 'kernel', 'native', 'plan', 'results', 'errors'],
  netns: ['signals', 'kernel', 'plan', 'results', 'errors'],
  probe: ['plan', 'results', 'errors'],
  native: ['errors'],
  report: ['analysis', 'plan', 'results', 'errors'],
  analysis: ['plan', 'results', 'errors'],
  plan: ['results', 'errors'],
  results: ['plan', 'errors'],
  signals: [],
  errors: [],
}

/** Every relative import of every .ts file under src/, as [from, to] paths relative to src/. */
export function importEdges(root: string): [string, string][] {
  const edges: [string, string][] = []
  const walk = (directory: string): void => {
    for (const entry of readdirSync(directory, {withFileTypes: true})) {
      const path = join(directory, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts')) {
        const from = relative(root, path)
        // `import … from './x.js'`, `export … from './x.js'` and `import('./x.js')`, type-only imports too.
        for (const match of readFileSync(path, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
          edges.push([from, normalize(join(dirname(from), match[1]!)).replace(/\.js$/, '.ts')])
        }
      }
    }
  }
  walk(root)
  return edges
}

function layerOf(file: string): string {
  return file.includes('/') ? file.split('/')[0]! : file.replace(/\.ts$/, '')
}

export function layerViolations(edges: readonly [string, string][]): string[] {
  return edges
    .filter(([from, to]) => layerOf(from) !== layerOf(to) && !(MAY_IMPORT[layerOf(from)] ?? []).includes(layerOf(to)))
    .map(([from, to]) => `${from} imports ${to}: ${layerOf(from)}/ may import only ${(MAY_IMPORT[layerOf(from)] ?? []).join(', ') || 'nothing'}`)
}

/** Each cycle once, as the files around it. */
export function importCycles(edges: readonly [string, string][]): string[][] {
  const next = new Map<string, string[]>()
  for (const [from, to] of edges) next.set(from, [...(next.get(from) ?? []), to])
  const cycles: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (file: string): void => {
    state.set(file, 'open')
    stack.push(file)
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') cycles.push(stack.slice(stack.indexOf(to)))
      else if (!state.has(to)) visit(to)
    }
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of [...next.keys()].sort()) if (!state.has(file)) visit(file)
  return cycles
}

describe('the layer rule of src/', () => {
  const edges = importEdges(SRC)

  it('knows every directory of src/ (a new one must be given its place in the rule)', () => {
    const layers = new Set(edges.flatMap((edge) => edge.map(layerOf)))
    expect([...layers].filter((layer) => !(layer in MAY_IMPORT))).toEqual([])
  })

  it('has no import against the direction commands → run → engine/kernel/lab → analysis → results/plan', () => {
    expect(layerViolations(edges)).toEqual([])
  })

  it('has no import cycle', () => {
    expect(importCycles(edges).map((cycle) => cycle.join(' → '))).toEqual([])
  })

  it('catches an upward import and a cycle (the checker itself)', () => {
    expect(layerViolations([['results/format.ts', 'engine/storm.ts']])).toEqual([
      'results/format.ts imports engine/storm.ts: results/ may import only plan, errors',
    ])
    expect(importCycles([['a/x.ts', 'a/y.ts'], ['a/y.ts', 'a/z.ts'], ['a/z.ts', 'a/x.ts']])).toEqual([['a/x.ts', 'a/y.ts', 'a/z.ts']])
  })
})
