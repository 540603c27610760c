/**
 * The fixed choices of the CLI's options. main.ts builds every verb's options from these
 * before it knows which verb runs, so this file imports nothing: the verbs' own modules
 * (and the libraries they need) load only when that verb is chosen.
 */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const GRAPH_FORMATS = ['mermaid', 'dot', 'text'] as const;
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
