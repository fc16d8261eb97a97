import {Command, Errors} from '@oclif/core'

import {UsageError} from '../errors.js'

/**
 * Every connstorm command: a user's mistake (ours or oclif's parse errors) becomes one line on
 * stderr and exit 2, never a stack trace. Anything else is a bug and is left to oclif.
 */
export abstract class ConnstormCommand extends Command {
  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    if (error instanceof UsageError || isParseError(error)) {
      const prefix = this.id ? `connstorm ${this.id}` : 'connstorm'
      process.stderr.write(`${prefix}: ${oneLine(error.message)}\n`)
      this.exit(2)
    }
    return super.catch(error)
  }
}

function isParseError(error: Error): boolean {
  return error instanceof Errors.CLIError && 'parse' in error
}

/** oclif's parse messages span lines ("See more help with --help"): fold them, drop colour codes. */
export function oneLine(message: string): string {
  return message
    // eslint-disable-next-line no-control-regex
    .replaceAll(/\u001B\[[0-9;]*m/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join(' ')
}
