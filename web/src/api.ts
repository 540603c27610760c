// The daemon's JSON API as the dashboard reads it (same origin: the page is served by the daemon).
import type { WaymondEvent } from './types.js';

export { addressOf, nextHealth, shortId } from './rules.js';
export type * from './types.js';

const TOKEN_KEY = 'waymond-token';

export class Unauthorized extends Error {}

function headers(): HeadersInit {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** True once a token was entered in this tab (a refusal then means a wrong token, not a missing one). */
export function hasToken(): boolean {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

function refused(status: number): boolean {
  return status === 401 || status === 403;
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: headers() });
  if (refused(response.status)) throw new Unauthorized(`${path}: ${response.status}`);
  if (!response.ok) throw new Error(`${path}: the daemon answered ${response.status}`);
  return (await response.json()) as T;
}

/**
 * Follows `/api/tap` (NDJSON, one event a line) until `signal` aborts; reconnects after a
 * dropped stream so a restarted daemon is picked up again. A streamed fetch rather than
 * EventSource, which cannot send the bearer header. Rejects with Unauthorized when the
 * daemon refuses the token (say it restarted with another one), so the page asks again
 * instead of retrying a token that will never work.
 */
export async function followTap(
  onEvent: (event: WaymondEvent) => void,
  onState: (live: boolean) => void,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await fetch('/api/tap', { headers: headers(), signal });
      if (refused(response.status)) {
        onState(false);
        throw new Unauthorized(`/api/tap: ${response.status}`);
      }
      if (!response.ok || !response.body) throw new Error(`tap: ${response.status}`);
      onState(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onEvent(JSON.parse(line) as WaymondEvent);
      }
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      // dropped or failed: retry below
    }
    onState(false);
    if (!signal.aborted) await new Promise((r) => setTimeout(r, 2000));
  }
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}
