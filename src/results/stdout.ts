/**
 * Whether stdout carries a result document (`--out -`, `--html -`): then it must stay exactly that
 * document, so whatever a command would print for people goes to stderr (cli/base-command.ts) and
 * no second output may claim it. Its own module, free of imports: every command's base class reads
 * it, and most commands never load the result writer.
 */
let owner: string | null = null

/** The argument that names stdout for an output file. */
export const STDOUT = '-'

/** Gives stdout to `flag`'s output; the flag that already has it, when another does. */
export function claimStdout(flag: string): string | null {
  if (owner !== null && owner !== flag) return owner
  owner = flag
  return null
}

/** The flag whose output is stdout, or null when stdout is free for the human report. */
export function stdoutOwner(): string | null {
  return owner
}
