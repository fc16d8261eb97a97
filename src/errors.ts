/**
 * Typed errors, in one place (undici style). A UsageError is the user's mistake: the CLI prints
 * its one-line message and exits 2. Anything else that escapes is a bug and keeps its stack.
 */
export class UsageError extends Error {
  readonly exitCode = 2
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** A flag or argument whose value is malformed or out of range; the message names the accepted form. */
export class InvalidOptionError extends UsageError {
  constructor(readonly option: string, readonly value: string, readonly accepted: string) {
    super(`${option}: invalid value '${value}': expected ${accepted}`)
    this.name = 'InvalidOptionError'
  }
}

/** The lab child process did not start, or died before reporting its address. */
export class LabStartError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LabStartError'
  }
}

/** Ctrl-C (or SIGTERM) arrived before anything was measured, e.g. while the lab was starting. */
export class InterruptedBeforeStartError extends Error {
  constructor() {
    super('interrupted before the storm started; nothing was measured')
    this.name = 'InterruptedBeforeStartError'
  }
}
