import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

/**
 * Where a worker thread's code is, for a module at `moduleUrl` (its import.meta.url) in `dir`
 * of src/ (e.g. 'kernel'): the sibling .js file when compiled (dist/, the real case). Under
 * vitest the module runs from src/*.ts, and a Node 20 worker cannot load TypeScript, so the
 * compiled worker in dist/ is used instead: `npm run build` before the tests.
 */
export function compiledWorkerUrl(moduleUrl: string, dir: string, worker: string): URL {
  if (!moduleUrl.endsWith('.ts')) return new URL(`${worker}.js`, moduleUrl)
  const compiled = new URL(`../../dist/${dir}/${worker}.js`, moduleUrl)
  if (!existsSync(fileURLToPath(compiled))) throw new Error(`${worker}: ${fileURLToPath(compiled)} is missing; run npm run build`)
  return compiled
}
