/** `waymond fire ADDRESS [--data JSON] [--url URL]`: fire a component of a running daemon. */
import { authHeaders, unauthorisedHint } from './daemon-auth.js';

export async function fireCommand(
  address: string,
  options: { data?: string; url: string; tokenEnv?: string },
): Promise<number> {
  let body = '{}';
  if (options.data !== undefined) {
    try {
      const parsed: unknown = JSON.parse(options.data);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = JSON.stringify(parsed);
    } catch (error) {
      process.stderr.write(
        `error: --data: expected a JSON object, found ${JSON.stringify(options.data)} (${(error as Error).message})\n`,
      );
      return 1;
    }
  }
  const url = `${options.url.replace(/\/$/, '')}/api/fire/${encodeURIComponent(address)}`;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(options.tokenEnv) },
      body,
    });
    const text = await response.text();
    if (response.status === 401) {
      process.stderr.write(`error: ${address}: ${unauthorisedHint(options.tokenEnv)}\n`);
      return 1;
    }
    if (!response.ok) {
      process.stderr.write(`error: ${address}: the daemon answered ${response.status}: ${text}\n`);
      return 1;
    }
    process.stdout.write(`${text}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`error: cannot reach the daemon at ${options.url}: ${(error as Error).message}\n`);
    return 1;
  }
}
