import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {STORM_SYSCTLS, type StormSysctl} from '../../src/results/sysctls.js'
import {SYSCTL_MEANINGS, effectiveBacklog, readStormSysctls, readSysctl, readSysctlInt, readSysctlsFrom, sysctlPath} from '../../src/kernel/sysctl.js'

/** The files of this machine's defaults (docs/kernel.md §0), as the kernel prints them: one line, a tab in the port range. */
const KERNEL_TEXT: Record<StormSysctl, string> = {
  'net.core.somaxconn': '4096\n',
  'net.ipv4.tcp_max_syn_backlog': '2048\n',
  'net.ipv4.tcp_syncookies': '1\n',
  'net.ipv4.tcp_abort_on_overflow': '0\n',
  'net.ipv4.tcp_syn_retries': '6\n',
  'net.ipv4.tcp_syn_linear_timeouts': '4\n',
  'net.ipv4.tcp_synack_retries': '5\n',
  'net.ipv4.ip_local_port_range': '32768\t60999\n',
  'net.ipv4.tcp_tw_reuse': '2\n',
  'net.ipv4.tcp_max_tw_buckets': '131072\n',
}

let root: string

function writeSysctls(files: Partial<Record<StormSysctl, string>>): void {
  mkdirSync(join(root, 'net', 'ipv4'), {recursive: true})
  for (const [name, text] of Object.entries(files)) {
    const path = sysctlPath(name, root)
    mkdirSync(dirname(path), {recursive: true})
    writeFileSync(path, text)
  }
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'connstorm-sysctl-'))
})

afterEach(() => {
  rmSync(root, {recursive: true, force: true})
})

describe('STORM_SYSCTLS', () => {
  it('lists the ten sysctls that shape a storm, each with a one-line meaning', () => {
    expect(STORM_SYSCTLS).toHaveLength(10)
    expect(Object.keys(SYSCTL_MEANINGS).sort()).toEqual([...STORM_SYSCTLS].sort())
    for (const name of STORM_SYSCTLS) {
      expect(SYSCTL_MEANINGS[name].length).toBeGreaterThan(10)
      expect(SYSCTL_MEANINGS[name]).not.toContain('\n')
    }
  })

  it('finds each one under /proc/sys, a directory per dot', () => {
    expect(sysctlPath('net.core.somaxconn')).toBe('/proc/sys/net/core/somaxconn')
    expect(sysctlPath('net.ipv4.ip_local_port_range')).toBe('/proc/sys/net/ipv4/ip_local_port_range')
    expect(sysctlPath('net.ipv4.tcp_syn_retries', '/tmp/sys')).toBe('/tmp/sys/net/ipv4/tcp_syn_retries')
  })
})

describe('readSysctlsFrom', () => {
  it('reads each value as the kernel prints it, the tab in ip_local_port_range as one space', () => {
    writeSysctls(KERNEL_TEXT)
    expect(readSysctlsFrom(root)).toEqual({
      'net.core.somaxconn': '4096',
      'net.ipv4.tcp_max_syn_backlog': '2048',
      'net.ipv4.tcp_syncookies': '1',
      'net.ipv4.tcp_abort_on_overflow': '0',
      'net.ipv4.tcp_syn_retries': '6',
      'net.ipv4.tcp_syn_linear_timeouts': '4',
      'net.ipv4.tcp_synack_retries': '5',
      'net.ipv4.ip_local_port_range': '32768 60999',
      'net.ipv4.tcp_tw_reuse': '2',
      'net.ipv4.tcp_max_tw_buckets': '131072',
    })
  })

  it("reads an absent tcp_syn_linear_timeouts as '0': kernels before 6.5 lack it and behave as 0", () => {
    const {'net.ipv4.tcp_syn_linear_timeouts': _absent, ...older} = KERNEL_TEXT
    writeSysctls(older)
    const values = readSysctlsFrom(root)
    expect(values['net.ipv4.tcp_syn_linear_timeouts']).toBe('0')
    expect(values['net.ipv4.tcp_syn_retries']).toBe('6')
  })

  it("never guesses any other absent sysctl: it is 'unknown'", () => {
    const {'net.ipv4.tcp_max_tw_buckets': _absent, 'net.core.somaxconn': _alsoAbsent, ...rest} = KERNEL_TEXT
    writeSysctls(rest)
    const values = readSysctlsFrom(root)
    expect(values['net.ipv4.tcp_max_tw_buckets']).toBe('unknown')
    expect(values['net.core.somaxconn']).toBe('unknown')
    expect(values['net.ipv4.tcp_tw_reuse']).toBe('2')
  })

  it("reads everything as 'unknown' when the root is unreadable (another OS), tcp_syn_linear_timeouts too", () => {
    const values = readSysctlsFrom(join(root, 'no-such-proc-sys'))
    for (const name of STORM_SYSCTLS) expect(values[name]).toBe('unknown')
  })

  it("does not turn a missing net/ipv4 directory into '0'", () => {
    mkdirSync(join(root, 'net', 'core'), {recursive: true})
    writeFileSync(join(root, 'net', 'core', 'somaxconn'), '128\n')
    const values = readSysctlsFrom(root)
    expect(values['net.core.somaxconn']).toBe('128')
    expect(values['net.ipv4.tcp_syn_linear_timeouts']).toBe('unknown')
  })
})

describe('readStormSysctls (this machine)', () => {
  it('reads the same values as readSysctl, with no tab left in them', () => {
    const values = readStormSysctls()
    for (const name of STORM_SYSCTLS) {
      expect(values[name]).not.toMatch(/\t/)
      const direct = readSysctl(name)
      if (direct !== null) expect(values[name]).toBe(direct.replace(/\s+/g, ' '))
    }
  })
})

describe('the existing readers', () => {
  it('still read single sysctls and cap a backlog by somaxconn', () => {
    const somaxconn = readSysctlInt('net.core.somaxconn')
    if (somaxconn !== null) expect(readSysctl('net.core.somaxconn')).toBe(String(somaxconn))
    expect(readSysctl('net.no.such.sysctl')).toBeNull()
    expect(readSysctlInt('net.no.such.sysctl')).toBeNull()
    expect(effectiveBacklog(100_000, 4096)).toBe(4096)
    expect(effectiveBacklog(7, 4096)).toBe(7)
    expect(effectiveBacklog(7, null)).toBeNull()
  })
})
