/** See nginx-config.mjs. */
export function writeNginxConfig(directory: string, options: {listen: string; workers?: number}): string
