/** `waymond reload [--url URL]`: make a running daemon re-read its config file (as SIGHUP does). */
import { authHeaders, unauthorisedHint } from './daemon-auth.js';

interface ReloadAnswer {
  ok?: boolean;
  errors?: string[];
  added?: string[];
  removed?: string[];
  restarted?: string[];
  unchanged?: number;
  not_applied?: string[];
  error?: string;
}

/** One line per change, then what waits for a restart. */
export function describeReload(answer: ReloadAnswer): string[] {
  const list = (items: string[] | undefined) => (items && items.length > 0 ? items.join(', ') : 'none');
  const lines = [
    `reloaded: added ${list(answer.added)}; removed ${list(answer.removed)}; restarted ${list(answer.restarted)}; ${answer.unchanged ?? 0} unchanged`,
  ];
  for (const part of answer.not_applied ?? []) lines.push(`note: ${part} changed; it takes effect on a restart only`);
  return lines;
}

export async function reloadCommand(options: { url: string; tokenEnv?: string }): Promise<number> {
  const url = `${options.url.replace(/\/$/, '')}/api/reload`;
  try {
    const response = await fetch(url, { method: 'POST', headers: authHeaders(options.tokenEnv) });
    const text = await response.text();
    if (response.status === 401) {
      process.stderr.write(`error: reload: ${unauthorisedHint(options.tokenEnv)}\n`);
      return 1;
    }
    let answer: ReloadAnswer;
    try {
      answer = JSON.parse(text) as ReloadAnswer;
    } catch {
      process.stderr.write(`error: reload: the daemon answered ${response.status}: ${text}\n`);
      return 1;
    }
    if (!response.ok) {
      const errors = answer.errors ?? [answer.error ?? text];
      process.stderr.write('error: the daemon kept its running config; the file has errors:\n');
      for (const error of errors) process.stderr.write(`${error}\n`);
      return 1;
    }
    process.stdout.write(`${describeReload(answer).join('\n')}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`error: cannot reach the daemon at ${options.url}: ${(error as Error).message}\n`);
    return 1;
  }
}
