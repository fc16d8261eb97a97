/**
 * Typed errors, in one place (undici style). A UsageError is the user's mistake: the CLI prints
 * its one-line message and exits 2. Anything else that escapes is a bug and keeps its stack.
 */
export class UsageError extends Error {
  readonly exitCode = 2
  /**
   * What kind of mistake, as a stable string for scripts (`--json` prints it as error.code): the
   * message may be reworded, the code stays. USAGE is any mistake without a code of its own.
   */
  readonly code: UsageErrorCode
  constructor(message: string, code: UsageErrorCode = 'USAGE') {
    super(message)
    this.name = 'UsageError'
    this.code = code
  }
}

/** The codes a refusal carries, printed under --json as {"error": {"code", "message"}}. Never renamed: a script may match on them. */
export const USAGE_ERROR_CODES = [
  /** a mistake in the command line with no more specific code */
  'USAGE',
  /** a flag or argument value that is malformed or out of range */
  'INVALID_OPTION',
  /** a flag the command does not have */
  'UNKNOWN_FLAG',
  /** an argument the command requires is missing */
  'MISSING_ARGUMENT',
  /** an argument the command does not take */
  'UNEXPECTED_ARGUMENT',
  /** a result file (or stdin) that cannot be read: missing, a directory, no permission */
  'FILE_UNREADABLE',
  /** a result file (or stdin) that is empty */
  'FILE_EMPTY',
  /** a result file that is not JSON: truncated, or something else */
  'FILE_NOT_JSON',
  /** JSON that is not a connstorm result of the schema version this connstorm reads */
  'FILE_NOT_RESULT',
  /** a result whose numbers contradict each other (results/consistency.ts) */
  'FILE_INCONSISTENT',
  /** the same file given twice where each belongs once (merge) */
  'FILE_GIVEN_TWICE',
  /** an output file (--out, --html, --hdr-log) that cannot be written */
  'OUT_UNWRITABLE',
  /** shards of one split that are not among the files (merge without --allow-missing) */
  'SHARD_MISSING',
  /** two files of the same shard index: a pod that ran twice (merge) */
  'SHARD_TWICE',
  /** results that are not parts of one storm: their plans, shard splits or ladders differ (merge without --force) */
  'MERGE_MISMATCH',
  /** a real server an incident needs is not installed (reproduce: the line names its Debian package) */
  'SERVER_MISSING',
] as const
export type UsageErrorCode = (typeof USAGE_ERROR_CODES)[number]

/** A flag or argument whose value is malformed or out of range; the message names the accepted form. */
export class InvalidOptionError extends UsageError {
  constructor(readonly option: string, readonly value: string, readonly accepted: string) {
    super(`${option}: invalid value '${value}': expected ${accepted}`, 'INVALID_OPTION')
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
