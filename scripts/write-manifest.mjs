// Writes oclif.manifest.json: each command's flags, args and file, as oclif caches them.
// Why: without a manifest, @oclif/core imports every command module at start-up to learn its
// flags (config/plugin.js `_manifest`), so `connstorm storm` also loaded undici, ajv and the
// rest of every other command: ~0.5 s of CPU before the first line of our code. With it, oclif
// imports only the command that runs. Built by `npm run build`, never committed (a stale
// manifest would describe flags the code no longer has).
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {Config} from '@oclif/core'

const root = fileURLToPath(new URL('..', import.meta.url))
const config = await Config.load({root, devPlugins: false, userPlugins: false, ignoreManifest: true})
const plugin = config.plugins.get(config.pjson.name)
if (!plugin) throw new Error(`plugin ${config.pjson.name} not found under ${root}`)
const commands = Object.keys(plugin.manifest.commands)
if (commands.length === 0) throw new Error('no commands found: build dist/ first')
writeFileSync(new URL('../oclif.manifest.json', import.meta.url), `${JSON.stringify(plugin.manifest, null, 2)}\n`)
console.error(`oclif.manifest.json: ${commands.length} commands`)
