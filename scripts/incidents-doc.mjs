#!/usr/bin/env node
// Writes examples/incidents/README.md from the incident catalog (dist/incidents/catalog.js), so
// the gallery page says exactly what `connstorm reproduce` runs. `npm run docs` calls it; a test
// fails when the page is stale.
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

export const INCIDENTS_DOC = fileURLToPath(new URL('../examples/incidents/README.md', import.meta.url))

export async function renderIncidentsDoc() {
  const {INCIDENTS} = await import('../dist/incidents/catalog.js')
  const lines = [
    '# Incident gallery',
    '',
    'Each incident is a connection-timeout report as users write it, reproduced on one machine in a network namespace of its own and diagnosed by connstorm. Run one with `sudo ./bin/run.js reproduce NAME` (root: it uses `storm --isolate`); `./bin/run.js reproduce --list` lists them. `reproduce` prints the storm\'s report and advice beside the words below; the numbers each live run must show are asserted by `test/e2e/incidents.test.ts` (from `test/e2e/incident-expectations.ts`).',
  ]
  for (const incident of INCIDENTS) {
    lines.push('', `## ${incident.name}`, '', `> ${incident.symptom}`, '', `**Cause.** ${incident.cause}`, '', `**What the run shows.** ${incident.expected}`)
    if (incident.longer) lines.push('', `**Takes longer.** ${incident.longer}`)
    lines.push('', '```sh', `./bin/run.js reproduce ${incident.name}      # = storm --isolate ${incident.args.join(' ')}`, '```')
  }
  return `${lines.join('\n')}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(INCIDENTS_DOC, await renderIncidentsDoc())
  console.log(`wrote ${INCIDENTS_DOC}`)
}
