/**
 * `waymond completion bash|zsh|fish`: a shell completion script, generated from the
 * commander program itself so new verbs and flags are completed without editing this
 * file. Verbs complete after `waymond`; each verb's flags after `-`; files otherwise.
 */
import type { Command } from 'commander';

import { SHELLS } from './choices.js';

export { SHELLS };
export type Shell = (typeof SHELLS)[number];

interface Verb {
  name: string;
  description: string;
  flags: { long: string; short?: string; description: string; choices?: readonly string[] }[];
}

export function describeVerbs(program: Command): Verb[] {
  return program.commands
    .filter((c) => c.name() !== 'help')
    .map((c) => ({
      name: c.name(),
      description: c.description(),
      flags: [
        ...c.options.map((o) => ({
          long: o.long ?? '',
          short: o.short,
          description: o.description,
          choices: o.argChoices,
        })),
        { long: '--help', short: '-h', description: 'display help for command' },
      ].filter((f) => f.long !== ''),
    }));
}

const quoteSingle = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

function bash(verbs: Verb[]): string {
  const cases = verbs
    .map(
      (v) =>
        `    ${v.name}) flags=${quoteSingle(v.flags.flatMap((f) => (f.short ? [f.long, f.short] : [f.long])).join(' '))} ;;`,
    )
    .join('\n');
  return `# bash completion for waymond: source it, or save it as
# /etc/bash_completion.d/waymond (or ~/.local/share/bash-completion/completions/waymond).
_waymond() {
  local cur=\${COMP_WORDS[COMP_CWORD]} verb=\${COMP_WORDS[1]} flags
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quoteSingle(`${verbs.map((v) => v.name).join(' ')} --version --help`)} -- "$cur"))
    return
  fi
  case "$verb" in
${cases}
    *) flags='' ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _waymond waymond
`;
}

// Inside the single-quoted spec: _arguments wants [ ] : escaped; a quote ends the quoting.
const zshEscape = (text: string): string => text.replace(/[[\]:]/g, (c) => `\\${c}`).replace(/'/g, `'\\''`);

function zsh(verbs: Verb[]): string {
  const verbList = verbs.map((v) => `    ${quoteSingle(`${v.name}:${v.description.replace(/:/g, '\\:')}`)}`).join('\n');
  const cases = verbs
    .map((v) => {
      const specs = v.flags.map((f) => {
        const names = f.short ? `(${f.short} ${f.long})'{${f.short},${f.long}}'` : f.long;
        const value = f.choices ? `:value:(${f.choices.join(' ')})` : '';
        return `'${names}[${zshEscape(f.description)}]${value}'`;
      });
      return `    ${v.name}) _arguments ${specs.join(' ')} '*:file:_files' ;;`;
    })
    .join('\n');
  return `#compdef waymond
# zsh completion for waymond: save it as _waymond in a directory on $fpath, or
# source <(waymond completion zsh)
_waymond() {
  local -a verbs
  verbs=(
${verbList}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' verbs
    return
  fi
  local verb=\${words[2]}
  shift words
  (( CURRENT-- ))
  case $verb in
${cases}
    *) _files ;;
  esac
}
if [ "$funcstack[1]" = "_waymond" ]; then _waymond "$@"; else compdef _waymond waymond; fi
`;
}

function fish(verbs: Verb[]): string {
  const lines = [
    '# fish completion for waymond: save it as ~/.config/fish/completions/waymond.fish',
    'complete -c waymond -f',
    `complete -c waymond -n __fish_use_subcommand -l version -d 'print the version'`,
  ];
  for (const v of verbs) {
    lines.push(`complete -c waymond -n __fish_use_subcommand -a ${v.name} -d ${quoteSingle(v.description)}`);
    for (const f of v.flags) {
      const short = f.short ? ` -s ${f.short.slice(1)}` : '';
      const choices = f.choices ? ` -r -a ${quoteSingle(f.choices.join(' '))}` : '';
      lines.push(
        `complete -c waymond -n '__fish_seen_subcommand_from ${v.name}' -l ${f.long.slice(2)}${short}${choices} -d ${quoteSingle(f.description)}`,
      );
    }
    lines.push(`complete -c waymond -n '__fish_seen_subcommand_from ${v.name}' -F`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(program: Command, shell: Shell): string {
  const verbs = describeVerbs(program);
  return shell === 'bash' ? bash(verbs) : shell === 'zsh' ? zsh(verbs) : fish(verbs);
}
