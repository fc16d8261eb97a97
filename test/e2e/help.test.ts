import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

// The version is a stated input (package.json), not something the code under test computes.
const {version} = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}

// Each case is one CLI start (~0.3 s of CPU) and none opens a socket: they run side by side.
describe.concurrent('help, version and unknown commands', () => {
  it('`connstorm help` lists the commands, storm with its summary', async () => {
    const {code, stdout} = await runCli(['help'])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^ {2}storm +Fire a burst, a rate or waves of TCP connects/m)
    expect(stdout).toMatch(/^ {2}lab +Run the built-in misbehaving target/m)
  })

  it('`connstorm help storm` prints storm\'s usage and exits 0', async () => {
    const {code, stdout} = await runCli(['help', 'storm'])
    expect(code).toBe(0)
    expect(stdout).toContain('$ connstorm storm [TARGET]')
  })

  it('`connstorm storm -h` prints storm\'s usage and exits 0, without storming', async () => {
    const {code, stdout} = await runCli(['storm', '-h'])
    expect(code).toBe(0)
    expect(stdout).toContain('$ connstorm storm [TARGET]')
    expect(stdout).not.toContain('outcomes')
  })

  it('`connstorm -v` prints connstorm/<version>', async () => {
    const {code, stdout} = await runCli(['-v'])
    expect(code).toBe(0)
    expect(stdout.startsWith(`connstorm/${version} `)).toBe(true)
  })

  it('`connstorm strom` suggests storm on stderr, exits 2 and storms nothing', async () => {
    // With --json a storm would print its result on stdout: the empty stdout shows none ran.
    const {code, stdout, stderr} = await runCli(['strom', '--burst', '5', '--json'])
    expect(stderr).toBe("connstorm: 'strom' is not a connstorm command. Did you mean 'storm'? See connstorm help.\n")
    expect(code).toBe(2)
    expect(stdout).toBe('')
  })

  it('`connstorm strom 127.0.0.1:9` names only the mistyped word, not its arguments', async () => {
    const {code, stderr} = await runCli(['strom', '127.0.0.1:9'])
    expect(stderr).toBe("connstorm: 'strom' is not a connstorm command. Did you mean 'storm'? See connstorm help.\n")
    expect(code).toBe(2)
  })

  it('`connstorm xyzzy` says it is not a command, with no suggestion, and exits 2', async () => {
    const {code, stdout, stderr} = await runCli(['xyzzy'])
    expect(stderr).toBe("connstorm: 'xyzzy' is not a connstorm command. See connstorm help.\n")
    expect(code).toBe(2)
    expect(stdout).toBe('')
  })
})
