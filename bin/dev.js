#!/usr/bin/env node
// Development entry point: same commands, with oclif's development mode (more verbose errors).
// It runs the compiled dist/ as well, so run `npm run build` (or `npx tsc -w`) alongside.
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
