#!/usr/bin/env node
// Production entry point: runs the compiled commands in dist/ (npm start / npm test build them first).
import {setFlagsFromString} from 'node:v8'

// `connstorm watch` samples for minutes on a thread of the addon while Node idles: V8's memory
// reducer would free the start-up heap a few seconds in with full collections (50–100 ms of CPU,
// 0.5–1 % of a 10 s watch, docs/result-schema.md "watch files"). Set before anything is loaded:
// set later, it did not take in 3 of 5 traced runs.
if (process.argv[2] === 'watch') setFlagsFromString('--no-memory-reducer')

const {execute, settings} = await import('@oclif/core')

// Never look for TypeScript sources: with NODE_ENV=test or development (vitest sets the first),
// oclif would otherwise load the TypeScript compiler to read tsconfig.json on every start
// (~0.35 s here), only to run dist/ anyway.
settings.enableAutoTranspile = false

await execute({dir: import.meta.url})
