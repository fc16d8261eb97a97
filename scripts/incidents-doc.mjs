#!/usr/bin/env node
// Writes examples/incidents/README.md from the incident catalog (dist/incidents/catalog.js), the
// lab's incidents and the real servers', so
// the gallery page says exactly what `connstorm reproduce` runs. `npm run docs` calls it; a test
// fails when the page is stale.
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

export const INCIDENTS_DOC = fileURLToPath(new URL('../examples/incidents/README.md', import.meta.url))

export async function renderIncidentsDoc() {
  const {INCIDENTS, REAL_SERVER_INCIDENTS} = await import('../dist/incidents/catalog.js')
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
  lines.push(
    '',
    '## Real servers',
    '',
    "These incidents run a real server from its Debian package instead of the lab, on two hosts on one machine: the server in a network namespace of its own (198.18.0.2) with the incident's sysctls, the storm in another (198.18.0.1), and `connstorm watch` on the server's port joined to the storm as the server's evidence, so the diagnosis names the listener's real effective backlog. The server stops accepting the way it really does, from 0.1 s before the burst until the stated time after it. `reproduce` reads and prints the server's version; a missing server is one line naming its Debian package (exit 2). The numbers each live run must show are asserted by `test/e2e/real-incidents.test.ts`.",
  )
  for (const incident of REAL_SERVER_INCIDENTS) {
    const {server} = incident
    lines.push('', `### ${incident.name}`, '', `> ${incident.symptom}`, '', `**Cause.** ${incident.cause}`, '')
    lines.push(`**Server.** ${server.name} (Debian package \`${server.debianPackage}\`), reproduced with ${incident.reproducedWith}. It asks listen() for ${server.askedBacklog}${incident.serverSysctls.length > 0 ? `; the server's namespace has ${incident.serverSysctls.map((sysctl) => `\`${sysctl}\``).join(', ')}` : ''}. Stall: ${server.stall.what}, until ${incident.stallMs / 1000} s after the burst.`)
    lines.push('', `**What the run shows.** ${incident.expected}`)
    if (incident.longer) lines.push('', `**Takes longer.** ${incident.longer}`)
    lines.push('', '```sh', `./bin/run.js reproduce ${incident.name}      # = storm 198.18.0.2:${server.port} ${incident.args.join(' ')} --server ${server.adviceId}, from the client's namespace`, '```')
  }
  return `${lines.join('\n')}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(INCIDENTS_DOC, await renderIncidentsDoc())
  console.log(`wrote ${INCIDENTS_DOC}`)
}
