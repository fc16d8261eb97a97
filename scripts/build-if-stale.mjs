#!/usr/bin/env node
// scripts/build-if-stale.mjs — runs `npm run build` unless dist/ and oclif.manifest.json are
// already what the build makes from the sources in this checkout.
//
// Why: npm runs `prepare` after `npm ci` and `npm install` in a checkout as well as for a git
// dependency (`npm install -g git+…`, which must build dist/ since dist/ is not committed). A
// build is ~8 s of CPU; with `prepare` building every time, `npm ci && npm test` built twice. So
// `prepare`, `prepack`, `test`, `start` and `docs` all come here, and a fresh clone still builds
// exactly once.
//
// "Already built" is decided by content, not by modification times (a checkout, `cp -p` or a
// clock can make those lie): dist/.build-stamp.json holds a SHA-256 over the build's inputs
// (src/, tsconfig.json, package.json, package-lock.json, the manifest and validator writers, the
// schemas), taken BEFORE the
// build so an edit made while tsc runs is seen next time, and one over its outputs (dist/,
// oclif.manifest.json and the compiled validators), so a deleted manifest (`npm pack`'s postpack removes it), a dist/ file
// edited or removed by hand, or a file left over from a deleted source all cause a rebuild.
// `npm run build` itself always builds (it deletes dist/, the stamp with it).
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const STAMP = path.join(ROOT, 'dist', '.build-stamp.json')
const INPUTS = ['src', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/write-manifest.mjs', 'scripts/build-validator.mjs', 'schema/result-v1.schema.json', 'schema/search-v1.schema.json']
const OUTPUTS = ['dist', 'oclif.manifest.json', 'schema/result-v1.validate.cjs', 'schema/search-v1.validate.cjs']

/** Every file under `entries` (relative to ROOT), sorted, the stamp excepted. */
function filesOf(entries) {
  const files = []
  const walk = (relative) => {
    const absolute = path.join(ROOT, relative)
    if (!existsSync(absolute)) return
    if (statSync(absolute).isDirectory()) for (const name of readdirSync(absolute)) walk(path.join(relative, name))
    else if (absolute !== STAMP) files.push(relative)
  }
  for (const entry of entries) walk(entry)
  return files.sort()
}

/** One hash over the names and contents of these files: a file renamed, added or removed changes it too. */
function digest(entries) {
  const hash = createHash('sha256')
  for (const file of filesOf(entries)) hash.update(`${file}\0`).update(readFileSync(path.join(ROOT, file))).update('\0')
  return hash.digest('hex')
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8'))
  } catch {
    return undefined
  }
}

// An installed copy (from the tarball) has dist/ but no sources: nothing to build from.
if (!existsSync(path.join(ROOT, 'src')) || !existsSync(path.join(ROOT, 'tsconfig.json'))) process.exit(0)

const inputs = digest(INPUTS)
const stamp = readStamp()
if (stamp?.inputs === inputs && existsSync(path.join(ROOT, 'oclif.manifest.json')) && stamp.outputs === digest(OUTPUTS)) process.exit(0)

// npm sets npm_execpath for its scripts (the npm that runs us); outside npm, `npm` from PATH.
const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []]

// `npm install -g git+…` prepares the clone with an `npm install` that inherits the global
// install's settings (npm_config_global, npm_config_prefix…), so it installs no devDependencies
// into the clone and tsc is missing (npm bug https://github.com/npm/cli/issues/8440). The npm
// commands below drop those settings, and the devDependencies are installed here when missing:
// locally, without scripts (ours are running).
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_(global|prefix|location|omit|include|production)$/i.test(key)))
if (!existsSync(path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'))) {
  const install = spawnSync(npm[0], [...npm[1], 'install', '--include=dev', '--ignore-scripts', '--no-save', '--no-audit', '--no-fund'], {cwd: ROOT, env, stdio: 'inherit'})
  if (install.status !== 0) process.exit(install.status ?? 1)
}

const build = spawnSync(npm[0], [...npm[1], 'run', 'build', '--silent'], {cwd: ROOT, env, stdio: 'inherit'})
if (build.status !== 0) process.exit(build.status ?? 1)
writeFileSync(STAMP, `${JSON.stringify({inputs, outputs: digest(OUTPUTS)})}\n`)
