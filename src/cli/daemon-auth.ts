/** The admin token a CLI verb sends to a running daemon: from `--token-env NAME` (default WAYMOND_TOKEN). */
export const DEFAULT_TOKEN_ENV = 'WAYMOND_TOKEN';

export function authHeaders(
  tokenEnv: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const token = env[tokenEnv ?? DEFAULT_TOKEN_ENV];
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** The daemon's 401, said so that the fix is in the sentence. */
export function unauthorisedHint(tokenEnv: string | undefined): string {
  return `the daemon needs its admin token: set ${tokenEnv ?? DEFAULT_TOKEN_ENV} (or pass --token-env NAME)`;
}
