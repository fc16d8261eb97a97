import {Command, Errors, Flags, type Interfaces} from '@oclif/core'

import {LabStartError, UsageError} from '../errors.js'
import {stdoutOwner} from '../results/stdout.js'

/**
 * Every connstorm command: a user's mistake (ours or oclif's parse errors) becomes one line on
 * stderr and exit 2, never a stack trace. Anything else is a bug (or a broken install): one line
 * says so, then oclif prints the error and exits 1.
 *
 * Under --json, stdout is for programs: every error is also one line of JSON there,
 * {"error": {"code": "…", "message": "…"}}, the code a stable string (errors.ts). And when an
 * output file is stdout (`--out -`), stdout carries that document alone: the human report goes to
 * stderr and --json does not print the result a second time.
 */
export abstract class ConnstormCommand extends Command {
  // oclif's own --json flag, described with what it does to errors (a command's flags may
  // override a base flag; oclif adds this one only where enableJsonFlag is set, see report.ts).
  static override baseFlags: Interfaces.FlagInput = {
    json: Flags.boolean({
      description: 'Format output as json. An error is JSON too, one line on stdout: {"error": {"code": "…", "message": "…"}} (exit 2 for bad input).',
      helpGroup: 'GLOBAL',
    }),
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    const prefix = this.id ? `connstorm ${this.id}` : 'connstorm'
    if (error instanceof UsageError || isParseError(error)) {
      const message = oneLine(error.message)
      if (this.jsonEnabled()) this.writeErrorJson(errorCode(error), message)
      process.stderr.write(`${prefix}: ${message}\n`)
      this.exit(2)
    }
    // Exit 1 is kept for this case alone (the README's exit codes): say what it means.
    process.stderr.write(`${prefix}: unexpected error, a bug in connstorm or a broken install (exit 1); please report it with the lines below\n`)
    if (this.jsonEnabled()) {
      // A bug: a JSON line for the program reading stdout, and the stack on stderr for the person
      // who reports it (oclif prints that, and sets exit 1, when it is thrown on).
      this.writeErrorJson(error instanceof LabStartError ? 'LAB_START' : 'INTERNAL', oneLine(error.message))
      throw error
    }
    return super.catch(error)
  }

  /** With stdout given to an output file (`--out -`), what people read goes to stderr. */
  override log(message = '', ...args: unknown[]): void {
    if (stdoutOwner() === null) super.log(message, ...args)
    else super.logToStderr(message, ...args)
  }

  /** The result is already on stdout when an output file is stdout: printing it again would make two documents. */
  override logJson(json: unknown): void {
    if (stdoutOwner() === null) super.logJson(json)
  }

  private writeErrorJson(code: string, message: string): void {
    process.stdout.write(`${JSON.stringify({error: {code, message}})}\n`)
  }
}

function isParseError(error: Error): boolean {
  return error instanceof Errors.CLIError && ('parse' in error || MISSING_VALUE.test(error.message))
}

// oclif throws a plain CLIError, without its parse context, for a flag given without its value
// and for a flag given twice that takes one value.
const MISSING_VALUE = /^Flag --\S+ (expects a value|can only be specified once)/

/**
 * oclif's parse errors by kind. oclif does not export their classes, so they are told apart by
 * name; one it renames falls back to USAGE, still exit 2.
 */
const PARSE_ERROR_CODES: Record<string, string> = {
  NonExistentFlagsError: 'UNKNOWN_FLAG',
  RequiredArgsError: 'MISSING_ARGUMENT',
  UnexpectedArgsError: 'UNEXPECTED_ARGUMENT',
  FlagInvalidOptionError: 'INVALID_OPTION',
  ArgInvalidOptionError: 'INVALID_OPTION',
}

function errorCode(error: Error): string {
  if (error instanceof UsageError) return error.code
  if (MISSING_VALUE.test(error.message)) return 'INVALID_OPTION'
  return PARSE_ERROR_CODES[error.constructor.name] ?? 'USAGE'
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
