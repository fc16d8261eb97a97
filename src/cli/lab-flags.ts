import {Flags} from '@oclif/core'

/**
 * The lab's flags, defined once: `connstorm lab` uses them as they are, `connstorm storm` with a
 * "lab-" prefix for the lab it starts when no TARGET is given. Values stay strings here and are
 * validated in parseLabOptions, so every bad value gets the same one-line message.
 */
export function labFlags(prefix: '' | 'lab-', defaults: {backlog: string; stall: string}) {
  const helpGroup = prefix === '' ? undefined : 'LAB (no TARGET)'
  return {
    [`${prefix}host`]: Flags.string({summary: 'IP address to listen on [default: 127.0.0.1]', helpValue: '<ip>', helpGroup}),
    [`${prefix}backlog`]: Flags.string({summary: `backlog passed to listen(); capped by net.core.somaxconn; 0 is refused (Node would use 511) [default: ${defaults.backlog}]`, helpValue: '<n>', helpGroup}),
    [`${prefix}stall`]: Flags.string({
      summary: `accept nothing for this long ${prefix === '' ? 'after listen()' : "from the storm's first connect (the lab waits for it)"} [default: ${defaults.stall}]`,
      helpValue: '<duration>',
      helpGroup,
    }),
    [`${prefix}stall-every`]: Flags.string({summary: 'periodic stalls, like GC pauses: start one this often (with stall-for)', helpValue: '<duration>', helpGroup}),
    [`${prefix}stall-for`]: Flags.string({summary: 'length of each periodic stall (with stall-every)', helpValue: '<duration>', helpGroup}),
    [`${prefix}accept-rate`]: Flags.string({summary: 'accept at most this many connections per second', helpValue: '<per-second>', helpGroup}),
    [`${prefix}on-accept`]: Flags.string({
      summary: 'what happens to an accepted connection: close (FIN), rst, hold, echo (data back), banner (speaks first), http (answers 200) [default: close]',
      helpValue: 'close|rst|hold|echo|banner|http',
      helpGroup,
    }),
    [`${prefix}handler-delay`]: Flags.string({
      summary: 'time spent on each accepted connection before serving it, blocking further accepts like a single-threaded server',
      helpValue: '<duration>',
      helpGroup,
    }),
  } as const
}
