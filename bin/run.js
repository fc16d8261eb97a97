#!/usr/bin/env node
// Production entry point: runs the compiled commands in dist/ (npm start / npm test build them first).
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
