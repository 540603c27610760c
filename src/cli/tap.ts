/** `waymond tap [--filter TEXT] [--url URL]`: prints a running daemon's events as they happen. */
import { authHeaders, unauthorisedHint } from './daemon-auth.js';

export async function tapCommand(options: {
  filter?: string;
  url: string;
  signal?: AbortSignal;
  tokenEnv?: string;
}): Promise<number> {
  const query = options.filter ? `?filter=${encodeURIComponent(options.filter)}` : '';
  const url = `${options.url.replace(/\/$/, '')}/api/tap${query}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: options.signal, headers: authHeaders(options.tokenEnv) });
  } catch (error) {
    process.stderr.write(`error: cannot reach the daemon at ${options.url}: ${(error as Error).message}\n`);
    return 1;
  }
  if (response.status === 401) {
    process.stderr.write(`error: ${unauthorisedHint(options.tokenEnv)}\n`);
    return 1;
  }
  if (!response.ok || !response.body) {
    process.stderr.write(`error: the daemon answered ${response.status}\n`);
    return 1;
  }
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body)
      process.stdout.write(decoder.decode(chunk as Uint8Array, { stream: true }));
  } catch (error) {
    if (!options.signal?.aborted) {
      process.stderr.write(`error: the stream ended: ${(error as Error).message}\n`);
      return 1;
    }
  }
  return 0;
}
