import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {skipUnless} from '../helpers/requirements.js'

/**
 * `report --format openmetrics` on the checked-in results, judged by Prometheus's own linter, and
 * its refusals. No sockets: every refusal here happens before a push would connect.
 */

const PROMTOOL = '/usr/bin/promtool'

function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/results/${name}.json`, import.meta.url))
}

describe.skipIf(skipUnless({files: [PROMTOOL]}, 'promtool check metrics'))('the exposition, checked by promtool', () => {
  it.concurrent.each(['lab-burst', 'merged', 'probe', 'rate', 'verify'])('promtool check metrics reports nothing on %s', async (name) => {
    const run = await runCli(['report', fixture(name), '--format', 'openmetrics'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^# HELP connstorm_connect_duration_seconds /)
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], {input: run.stdout, encoding: 'utf8', timeout: 20_000})
    expect({code: check.status, out: check.stdout + check.stderr}).toEqual({code: 0, out: ''})
  })
})

describe('report --format openmetrics / --push: bad input is one line and exit 2', () => {
  const cases: {name: string; args: string[]; line: string}[] = [
    {
      name: 'an unknown --format',
      args: [fixture('lab-burst'), '--format', 'prometheus'],
      line: 'connstorm report: Expected --format=prometheus to be one of: text, json, markdown, openmetrics See more help with --help',
    },
    {
      name: '--push without a scheme',
      args: [fixture('lab-burst'), '--push', 'pushgateway:9091'],
      line: "connstorm report: --push: invalid value 'pushgateway:9091': expected an http:// or https:// URL of a Pushgateway, e.g. http://pushgateway:9091",
    },
    {
      name: '--push to another scheme',
      args: [fixture('lab-burst'), '--push', 'ftp://gw:21'],
      line: "connstorm report: --push: invalid value 'ftp://gw:21': expected an http:// or https:// URL of a Pushgateway, e.g. http://pushgateway:9091",
    },
    {
      // Checked before the file is read: the file named here does not exist.
      name: '--push with a query, before the file is read',
      args: ['/nonexistent/run.json', '--push', 'http://127.0.0.1:9/?job=x'],
      line: "connstorm report: --push: invalid value 'http://127.0.0.1:9/?job=x': expected an http:// or https:// URL of a Pushgateway, e.g. http://pushgateway:9091 (no ?query or #fragment: the push path is appended to it)",
    },
    {
      // Port 9 (discard) on loopback: a refusal that wrongly got past would try to push and exit 4.
      name: '--push with --format json',
      args: [fixture('lab-burst'), '--push', 'http://127.0.0.1:9', '--format', 'json'],
      line: 'connstorm report: --push sends metrics: it takes --format openmetrics (or no --format), not --format json',
    },
    {
      name: '--format openmetrics with two files',
      args: [fixture('lab-burst'), fixture('rate'), '--format', 'openmetrics'],
      line: 'connstorm report: FILE: --format openmetrics takes one result file (2 given); one run is one group of metrics',
    },
    {
      name: '--push with two files',
      args: [fixture('lab-burst'), fixture('rate'), '--push', 'http://127.0.0.1:9'],
      line: 'connstorm report: FILE: --push takes one result file (2 given); one run is one group of metrics',
    },
  ]
  it.concurrent.each(cases)('refuses $name', async ({args, line}) => {
    const run = await runCli(['report', ...args])
    expect({code: run.code, stdout: run.stdout, stderr: run.stderr}).toEqual({code: 2, stdout: '', stderr: `${line}\n`})
  })
})
