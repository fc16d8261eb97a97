#!/usr/bin/env node
// Production entry point: runs the compiled commands in dist/ (npm start / npm test build them first).
import {execute, settings} from '@oclif/core'

// Never look for TypeScript sources: with NODE_ENV=test or development (vitest sets the first),
// oclif would otherwise load the TypeScript compiler to read tsconfig.json on every start
// (~0.35 s here), only to run dist/ anyway.
settings.enableAutoTranspile = false

await execute({dir: import.meta.url})
