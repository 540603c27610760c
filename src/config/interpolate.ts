/**
 * `${VAR}` and `${VAR:-default}` from the environment, applied to the file's text before
 * parsing (so numbers can come from the environment too). `$${` is a literal `${` (a lone
 * `$$` stays as it is, since JSONata uses it for the root of the input). Comment
 * lines are left alone, so a commented-out `${TOKEN}` never fails a config.
 */
export interface InterpolationResult {
  text: string;
  missing: { name: string; line: number }[];
}

const PATTERN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolateEnv(
  text: string,
  env: NodeJS.ProcessEnv,
  commentPrefix: string | null = '#',
): InterpolationResult {
  const missing: { name: string; line: number }[] = [];
  const lines = text.split('\n').map((line, index) => {
    if (commentPrefix && line.trimStart().startsWith(commentPrefix)) return line;
    return line.replace(PATTERN, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      const value = env[name as string];
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      missing.push({ name: name as string, line: index + 1 });
      return match;
    });
  });
  return { text: lines.join('\n'), missing };
}
