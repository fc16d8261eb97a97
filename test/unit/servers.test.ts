import {describe, expect, it} from 'vitest'

import {SERVER_IDS, SERVER_PROFILES, assertBacklog, findServer} from '../../src/analysis/servers.js'

const REQUIRED_IDS = [
  'nginx',
  'haproxy',
  'envoy',
  'apache',
  'redis',
  'node',
  'go',
  'java',
  'tomcat',
  'kestrel',
  'gunicorn',
  'uvicorn',
  'postgres',
  'rust',
] as const

const REQUIRED_ALIASES: ReadonlyArray<[alias: string, id: string]> = [
  ['httpd', 'apache'],
  ['nodejs', 'node'],
  ['spring', 'tomcat'],
  ['spring-boot', 'tomcat'],
  ['dotnet', 'kestrel'],
  ['postgresql', 'postgres'],
]

const NO_KNOB = ['go', 'rust'] as const

const profile = (id: string) => {
  const found = findServer(id)
  if (found === undefined) throw new Error(`no profile for ${id}`)
  return found
}

describe('findServer resolves every required server', () => {
  it.each(REQUIRED_IDS)('%s resolves to its own profile', (id) => {
    expect(findServer(id)?.id).toBe(id)
  })

  it.each(REQUIRED_ALIASES)('alias %s resolves to %s', (alias, id) => {
    expect(findServer(alias)?.id).toBe(id)
  })

  it('ignores case and surrounding space in ids and aliases', () => {
    expect(findServer('NGINX')?.id).toBe('nginx')
    expect(findServer('  HttPd ')?.id).toBe('apache')
    expect(findServer('Spring-Boot')?.id).toBe('tomcat')
    expect(findServer('NodeJS')?.id).toBe('node')
  })

  it('answers undefined for unknown or empty names', () => {
    expect(findServer('lighttpd')).toBeUndefined()
    expect(findServer('')).toBeUndefined()
    expect(findServer('   ')).toBeUndefined()
  })

  it('also carries unicorn', () => {
    expect(findServer('unicorn')?.id).toBe('unicorn')
  })
})

describe('SERVER_IDS and the catalog are consistent', () => {
  it('lists exactly the profile ids, in catalog order, including every required id', () => {
    expect(SERVER_IDS).toEqual(SERVER_PROFILES.map((entry) => entry.id))
    for (const id of REQUIRED_IDS) expect(SERVER_IDS).toContain(id)
  })

  it('no id or alias is empty, so an empty or blank name finds nothing', () => {
    const names = SERVER_PROFILES.flatMap((entry) => [entry.id, ...entry.aliases])
    expect(names.filter((name) => name.trim() === '')).toEqual([])
  })

  it('no id or alias names two profiles', () => {
    const names = SERVER_PROFILES.flatMap((entry) => [entry.id, ...entry.aliases].map((name) => name.toLowerCase()))
    expect(new Set(names).size).toBe(names.length)
  })
})

describe('backlogLines(1023) prints the exact lines for each server', () => {
  it('nginx: backlog= on the listen directive', () => {
    expect(profile('nginx').backlogLines(1023)).toEqual(['listen 80 backlog=1023;  # on each listen directive that takes the storm'])
  })

  it('redis: tcp-backlog', () => {
    expect(profile('redis').backlogLines(1023)).toEqual(['tcp-backlog 1023'])
  })

  it('node: the backlog option of server.listen', () => {
    expect(profile('node').backlogLines(1023)).toEqual(['server.listen({port: 8080, backlog: 1023})'])
  })

  it('java: ServerSocket constructor and NIO bind', () => {
    expect(profile('java').backlogLines(1023)).toEqual(['new ServerSocket(port, 1023)', 'serverSocketChannel.bind(address, 1023)'])
  })

  it('go: no knob, so no lines', () => {
    expect(profile('go').backlogLines(1023)).toBeNull()
  })

  it('tomcat: Spring Boot property and server.xml attribute', () => {
    expect(profile('spring-boot').backlogLines(1023)).toEqual([
      'server.tomcat.accept-count=1023   # Spring Boot application.properties',
      '<Connector … acceptCount="1023" />   # Tomcat server.xml',
    ])
  })

  it('gunicorn: --backlog', () => {
    expect(profile('gunicorn').backlogLines(1023)).toEqual(['gunicorn --backlog 1023 …'])
  })

  it('haproxy: the backlog keyword in the section, or per bind line', () => {
    expect(profile('haproxy').backlogLines(1023)).toEqual([
      'backlog 1023   # in the frontend (or listen/defaults) section that takes the storm',
      'bind :80 backlog 1023   # or per bind line',
    ])
  })

  it('envoy: tcp_backlog_size in the Listener', () => {
    expect(profile('envoy').backlogLines(1023)).toEqual(['tcp_backlog_size: 1023   # in the Listener resource that takes the storm'])
  })

  it('apache: ListenBacklog', () => {
    expect(profile('httpd').backlogLines(1023)).toEqual(['ListenBacklog 1023'])
  })

  it('kestrel: SocketTransportOptions.Backlog through UseSockets', () => {
    expect(profile('kestrel').backlogLines(1023)).toEqual(['builder.WebHost.UseSockets(options => options.Backlog = 1023);'])
  })

  it('uvicorn: --backlog on the command line, or backlog= in uvicorn.run', () => {
    expect(profile('uvicorn').backlogLines(1023)).toEqual(['uvicorn --backlog 1023 …', 'uvicorn.run(app, backlog=1023)'])
  })

  it('unicorn: the :backlog option of listen', () => {
    expect(profile('unicorn').backlogLines(1023)).toEqual(['listen 8080, :backlog => 1023   # unicorn config file'])
  })

  it('rust: no knob, so no lines', () => {
    expect(profile('rust').backlogLines(1023)).toBeNull()
  })

  it('postgres: the backlog follows max_connections (listen(fd, 2 × MaxConnections)), so it prints half the backlog, rounded up', () => {
    expect(profile('postgres').backlogLines(255)).toEqual(['max_connections = 128   # postgresql.conf: PostgreSQL 16+ listens with 2 × max_connections = 256; up to 15 with 2 × (max_connections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders), more'])
    expect(profile('postgres').backlogLines(1023)).toEqual(['max_connections = 512   # postgresql.conf: PostgreSQL 16+ listens with 2 × max_connections = 1024; up to 15 with 2 × (max_connections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders), more'])
  })

  it('every server with a knob prints at least one line that contains the number', () => {
    for (const entry of SERVER_PROFILES) {
      const printed = entry.backlogLines(1023)
      if (printed === null) continue
      expect(printed.length, entry.id).toBeGreaterThan(0)
      // PostgreSQL's is max_connections, half of it (its own spec above).
      if (entry.id === 'postgres') continue
      for (const line of printed) expect(line, entry.id).toContain('1023')
    }
  })

  it('accepts the whole range listen() takes, 1 to 2^31 − 1 (an int), and prints it as given', () => {
    expect(() => assertBacklog(1)).not.toThrow()
    expect(() => assertBacklog(2 ** 31 - 1)).not.toThrow()
    expect(profile('redis').backlogLines(1)).toEqual(['tcp-backlog 1'])
    expect(profile('redis').backlogLines(2_147_483_647)).toEqual(['tcp-backlog 2147483647'])
    expect(profile('go').backlogLines(2_147_483_647)).toBeNull()
  })

  it('says which range it wants and what it got', () => {
    expect(() => assertBacklog(0)).toThrow(new RangeError('backlog must be an integer from 1 to 2147483647, got 0'))
    expect(() => assertBacklog(2 ** 31)).toThrow(new RangeError('backlog must be an integer from 1 to 2147483647, got 2147483648'))
    expect(() => assertBacklog(1.5)).toThrow(new RangeError('backlog must be an integer from 1 to 2147483647, got 1.5'))
  })

  it('refuses a backlog that is not a positive integer, for every profile', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => assertBacklog(bad)).toThrow(RangeError)
      for (const entry of SERVER_PROFILES) expect(() => entry.backlogLines(bad), entry.id).toThrow(RangeError)
    }
  })
})

describe('servers without a knob say what to do instead', () => {
  it.each(NO_KNOB)('%s returns null and has withoutKnob text', (id) => {
    const entry = profile(id)
    expect(entry.backlogLines(1023)).toBeNull()
    expect(entry.withoutKnob?.trim().length ?? 0).toBeGreaterThan(0)
  })

  it('only the no-knob servers return null', () => {
    const nulls = SERVER_PROFILES.filter((entry) => entry.backlogLines(511) === null).map((entry) => entry.id)
    expect(nulls.sort()).toEqual([...NO_KNOB].sort())
  })

  it('go says somaxconn, postgres says max_connections, rust names socket2 and tokio', () => {
    expect(profile('go').withoutKnob).toMatch(/somaxconn/)
    expect(profile('postgres').withoutKnob).toMatch(/max_connections/)
    expect(profile('rust').withoutKnob).toMatch(/socket2/)
    expect(profile('rust').withoutKnob).toMatch(/TcpSocket::listen/)
  })
})

describe('every profile is complete and cited', () => {
  it.each(SERVER_PROFILES.map((entry) => [entry.id, entry] as const))('%s mentions somaxconn in cap and has a source', (_id, entry) => {
    expect(entry.cap).toMatch(/somaxconn/)
    expect(entry.source.trim()).not.toBe('')
    expect(entry.name.trim()).not.toBe('')
    expect(entry.setting.trim()).not.toBe('')
    expect(entry.defaultBacklog.trim()).not.toBe('')
    expect(entry.applyNote.trim()).not.toBe('')
  })

  it('marks exactly the entries checked against their own source or docs as verified: all sixteen', () => {
    // Each entry's comment in src/analysis/servers.ts quotes the line it was confirmed against;
    // an entry added without that check must say verified: false and is listed here by name.
    expect(SERVER_PROFILES.filter((entry) => entry.verified).map((entry) => entry.id)).toEqual([
      'nginx', 'haproxy', 'envoy', 'apache', 'redis', 'node', 'go', 'java', 'tomcat', 'kestrel', 'memcached', 'gunicorn', 'uvicorn', 'postgres', 'rust', 'unicorn',
    ])
    expect(SERVER_PROFILES.filter((entry) => !entry.verified).map((entry) => entry.id)).toEqual([])
  })

  it('states the defaults the sources give', () => {
    expect(profile('nginx').defaultBacklog).toMatch(/^511 on Linux/)
    expect(profile('redis').defaultBacklog).toMatch(/^511/)
    expect(profile('node').defaultBacklog).toMatch(/^511/)
    expect(profile('apache').defaultBacklog).toMatch(/^511/)
    expect(profile('java').defaultBacklog).toMatch(/^50 /)
    expect(profile('tomcat').defaultBacklog).toMatch(/^100 /)
    expect(profile('kestrel').defaultBacklog).toMatch(/^512 /)
    expect(profile('gunicorn').defaultBacklog).toMatch(/^2048 /)
    expect(profile('uvicorn').defaultBacklog).toMatch(/^2048 /)
    expect(profile('rust').defaultBacklog).toMatch(/^128 /)
    expect(profile('unicorn').defaultBacklog).toMatch(/^1024 /)
    expect(profile('postgres').defaultBacklog).toMatch(/^2 × max_connections/)
  })
})
