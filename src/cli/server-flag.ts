import {Flags} from '@oclif/core'

import {SERVER_IDS, type ServerProfile, findServer} from '../analysis/servers.js'
import {InvalidOptionError} from '../errors.js'

/** --server, declared once for storm, analyze and report. */
export function serverFlag(helpGroup?: string) {
  return Flags.string({summary: `print the backlog advice in this server's syntax: ${SERVER_IDS.join(', ')}`, helpValue: '<name>', ...(helpGroup ? {helpGroup} : {})})
}

/** The profile named by --server; an unknown name is a one-line usage error listing the known ones. */
export function resolveServer(name: string | undefined): ServerProfile | undefined {
  if (name === undefined) return undefined
  const server = findServer(name)
  if (!server) throw new InvalidOptionError('--server', name, `one of ${SERVER_IDS.join(', ')}`)
  return server
}
