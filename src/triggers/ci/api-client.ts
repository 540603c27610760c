/**
 * The one REST client of the CI triggers (buildkite, github_actions, gitlab). Each API
 * differs only in how a token is sent and how it says "slow down"; everything else is the
 * same GET: the token read from its environment variable at each call (never cached, never
 * printed), a 401 that names the variable, a rate limit that defers the next poll by what
 * the server asked (Retry-After, or the API's own reset header), any other failure quoted
 * with the server's `message`, and a body that must be JSON. Conditional GETs (ETag, 304)
 * are kept per URL for the APIs that support them, so an unchanged listing is free.
 */
import { errorMessage } from '../../core/context.js';
import { httpError } from '../../core/errors.js';
import type { ComponentContext } from '../../core/types.js';
import type { PollControl } from '../poller.js';

export interface CiApi {
  /** As users know it: "Buildkite", "GitHub", "GitLab". */
  name: string;
  /** Base URL; paths are appended (a full URL, e.g. a `Link: next` page, is used as is). */
  baseUrl: string;
  /** Name of the environment variable holding the token. */
  tokenEnv: string;
  /** What the token is called in a 401 message ("token", "agent token"). */
  tokenKind?: string;
  /** The request headers that carry the token (plus any the API wants). */
  headers(token: string): Record<string, string>;
  /**
   * When the response is a rate limit: how long to wait (undefined when it does not say),
   * and the message. Returns undefined when the response is not a rate limit.
   */
  rateLimit(response: Response, now: number): { waitMs: number | undefined; message: string } | undefined;
  /** Called with every response (Buildkite's poll-interval hint). */
  onResponse?(response: Response, control: PollControl | undefined): void;
  /** Send If-None-Match and reuse the body on 304 (GitHub). */
  conditional?: boolean;
}

export interface CiResponse {
  body: unknown;
  headers: Headers;
  url: string;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from `now`. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `: <message>` from a JSON error body (`{"message": ...}`, as Buildkite, GitHub and GitLab answer), or nothing. */
export async function apiErrorDetail(response: Response): Promise<string> {
  try {
    const body: unknown = await response.json();
    return body !== null && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string'
      ? `: ${(body as { message: string }).message}`
      : '';
  } catch {
    return '';
  }
}

interface Cached {
  etag: string;
  body: unknown;
}

export interface CiApiClient {
  /** One GET. Throws a message naming the component on every failure. */
  get(
    path: string,
    options: { signal?: AbortSignal | undefined; control?: PollControl | undefined },
  ): Promise<CiResponse>;
  /** Keeps only the ETags the last complete poll used, so the cache stays bounded. */
  endPoll(): void;
  /** A poll that failed half way keeps what it learnt without dropping older entries. */
  abandonPoll(): void;
}

export function ciApiClient(ctx: ComponentContext, api: CiApi, missingToken: () => Error): CiApiClient {
  const base = api.baseUrl.replace(/\/+$/, '');
  let cache = new Map<string, Cached>();
  let used = new Map<string, Cached>();

  async function get(
    path: string,
    { signal, control }: { signal?: AbortSignal | undefined; control?: PollControl | undefined },
  ): Promise<CiResponse> {
    const token = process.env[api.tokenEnv];
    if (!token) throw missingToken();
    const url = /^https?:\/\//.test(path) ? path : `${base}${path}`;
    const headers: Record<string, string> = { 'User-Agent': 'waymond', ...api.headers(token) };
    const cached = api.conditional ? cache.get(url) : undefined;
    if (cached) headers['If-None-Match'] = cached.etag;
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: signal ?? control?.signal });
    } catch (error) {
      // fetch says only "fetch failed"; its cause says "connection refused". The URL has no secret.
      const cause = (error as { cause?: unknown }).cause;
      throw new Error(
        `${ctx.address}: GET ${url} failed: ${errorMessage(error)}${cause ? ` (${errorMessage(cause)})` : ''}`,
        { cause: error },
      );
    }
    api.onResponse?.(response, control);
    if (response.status === 304 && cached) {
      used.set(url, cached);
      return { body: cached.body, headers: response.headers, url };
    }
    const limited = api.rateLimit(response, ctx.clock.now());
    if (limited) {
      if (limited.waitMs !== undefined) control?.deferNextPoll(limited.waitMs);
      throw new Error(`${ctx.address}: ${limited.message}`);
    }
    if (response.status === 401) {
      throw httpError(
        `${ctx.address}: ${api.name} rejected the ${api.tokenKind ?? 'token'} (401${await apiErrorDetail(response)}); check ${api.tokenEnv}`,
        401,
      );
    }
    if (!response.ok) {
      throw httpError(
        `${ctx.address}: GET ${url} answered ${response.status}${await apiErrorDetail(response)}`,
        response.status,
      );
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new Error(`${ctx.address}: GET ${url} returned invalid JSON: ${(error as Error).message}`);
    }
    const etag = api.conditional ? response.headers.get('etag') : null;
    if (etag) used.set(url, { etag, body });
    return { body, headers: response.headers, url };
  }

  return {
    get,
    endPoll() {
      cache = used;
      used = new Map();
    },
    abandonPoll() {
      for (const [url, entry] of used) cache.set(url, entry);
      used = new Map();
    },
  };
}
