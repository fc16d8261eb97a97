import type {Hook} from '@oclif/core'

import {notACommandMessage} from '../cli/command-suggestion.js'

/**
 * oclif's command_not_found hook: one line on stderr naming the nearest command, then exit 2 (a
 * usage error, like every other one). It only suggests: connstorm sends traffic, so it never runs
 * the guess (which is why @oclif/plugin-not-found, which offers to, is not used).
 */
const hook: Hook.CommandNotFound = async function ({config, id}) {
  // Hidden commands (autocomplete's internals) are not offered; ids are stored with ':' between
  // words and typed with the topic separator (a space).
  const commands = config.commands.filter((command) => !command.hidden).map((command) => command.id.replaceAll(':', config.topicSeparator))
  process.stderr.write(`${notACommandMessage(config.bin, typedWord(id), commands)}\n`)
  this.exit(2)
}

/**
 * The first word the user typed. With topics separated by spaces, oclif joins the unknown word and
 * the words after it into `id` with ':' ('strom 127.0.0.1:8080' arrives as 'strom:127.0.0.1:8080'),
 * so the word is taken from the command line itself when `id` starts with it.
 */
function typedWord(id: string): string {
  const first = process.argv[2]
  if (first !== undefined && (id === first || id.startsWith(`${first}:`))) return first
  return id.split(':')[0] ?? id
}

export default hook
