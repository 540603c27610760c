/**
 * The one REST client behind buildkite, github_actions and gitlab, against a local HTTP
 * server: what each failure becomes is the same sentence whatever the API, and a rate
 * limit defers the next poll by what the server asked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import { type CiApi, ciApiClient } from '../../src/triggers/ci/api-client.js';
import { gitlabRateLimit } from '../../src/triggers/ci/gitlab.js';
import type { PollControl } from '../../src/triggers/poller.js';
import { testContext } from '../helpers/context.js';
import { freePort } from '../helpers/prometheus.js';

let server: Server;
let base: string;
let answer: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  process.env.WAYMOND_TEST_CI_TOKEN = 'tok-secret-value';
});
afterAll(async () => {
  delete process.env.WAYMOND_TEST_CI_TOKEN;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const reply =
  (status: number, body: string, headers: Record<string, string> = {}) =>
  (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

function api(baseUrl: string): CiApi {
  return {
    name: 'Example CI',
    baseUrl,
    tokenEnv: 'WAYMOND_TEST_CI_TOKEN',
    conditional: true,
    headers: (token) => ({ Authorization: `Bearer ${token}` }),
    rateLimit: (response, now) => {
      if (response.status !== 429) return undefined;
      const seconds = Number(response.headers.get('retry-after'));
      return { waitMs: Number.isFinite(seconds) ? seconds * 1000 : undefined, message: `slow down (429) at ${now}` };
    },
  };
}

function client(baseUrl = base) {
  const t = testContext('trigger', 'ci', { clock: new VirtualClock(0) });
  const deferred: number[] = [];
  const control: PollControl = { signal: new AbortController().signal, deferNextPoll: (ms) => deferred.push(ms) };
  const missing = () => new Error('trigger.ci: environment variable WAYMOND_TEST_CI_TOKEN is not set');
  return { api: ciApiClient(t.ctx, api(baseUrl), missing), control, deferred, close: () => t.close() };
}

describe('ciApiClient', () => {
  it.each([
    [
      '401 names the token variable, never the token',
      reply(401, '{"message":"Bad credentials"}'),
      'trigger.ci: Example CI rejected the token (401: Bad credentials); check WAYMOND_TEST_CI_TOKEN',
    ],
    [
      'another failure quotes the status and the API message',
      reply(500, '{"message":"boom"}'),
      /^trigger\.ci: GET http:\/\/127\.0\.0\.1:\d+\/jobs answered 500: boom$/,
    ],
    [
      'a body that is not JSON',
      reply(200, '<html>'),
      /^trigger\.ci: GET http:\/\/127\.0\.0\.1:\d+\/jobs returned invalid JSON: /,
    ],
    [
      "a rate limit is the API's own sentence",
      reply(429, '{}', { 'retry-after': '30' }),
      'trigger.ci: slow down (429) at 0',
    ],
  ])('%s', async (_, handler, message) => {
    answer = handler;
    const c = client();
    const failure = await c.api.get('/jobs', { control: c.control }).catch((error: Error) => error.message);
    if (typeof message === 'string') expect(failure).toBe(message);
    else expect(failure).toMatch(message);
    expect(String(failure)).not.toContain('tok-secret-value');
    c.close();
  });

  it('a rate limit defers the next poll by Retry-After', async () => {
    answer = reply(429, '{}', { 'retry-after': '30' });
    const c = client();
    await expect(c.api.get('/jobs', { control: c.control })).rejects.toThrow('429');
    expect(c.deferred).toEqual([30_000]);
    c.close();
  });

  it('an unreachable server says why (connection refused)', async () => {
    const c = client(`http://127.0.0.1:${await freePort()}`);
    await expect(c.api.get('/jobs', { control: c.control })).rejects.toThrow(
      /^trigger\.ci: GET http:\/\/127\.0\.0\.1:\d+\/jobs failed: fetch failed \(.*ECONNREFUSED/,
    );
    c.close();
  });

  it('sends the token as the API wants it, and reuses a body on 304 (ETag)', async () => {
    answer = (req, res) => {
      if (req.headers['if-none-match'] === '"v1"') return reply(304, '')(req, res);
      reply(200, '{"jobs":[1,2]}', { etag: '"v1"' })(req, res);
    };
    const c = client();
    const before = seen.length;
    expect((await c.api.get('/jobs', { control: c.control })).body).toEqual({ jobs: [1, 2] });
    c.api.endPoll();
    expect((await c.api.get('/jobs', { control: c.control })).body).toEqual({ jobs: [1, 2] });
    const requests = seen.slice(before);
    expect(requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer tok-secret-value',
      'Bearer tok-secret-value',
    ]);
    expect(requests.map((r) => r.headers['if-none-match'])).toEqual([undefined, '"v1"']);
    c.close();
  });
});

describe('gitlabRateLimit', () => {
  const now = Date.UTC(2026, 11, 1, 9, 0, 0);
  const limited = (headers: Record<string, string>) => new Response(null, { status: 429, headers });

  it('prefers Retry-After (seconds)', () => {
    expect(
      gitlabRateLimit(limited({ 'retry-after': '30', 'ratelimit-reset': String(now / 1000 + 90) }), now)?.waitMs,
    ).toBe(30_000);
  });

  it('reads RateLimit-Reset as the Unix time the quota resets, not as seconds to wait', () => {
    const result = gitlabRateLimit(limited({ 'ratelimit-reset': String(now / 1000 + 90) }), now);
    expect(result).toEqual({ waitMs: 90_000, message: 'GitLab API rate limit exceeded (429); retry after 90 s' });
  });

  it('is not a rate limit unless 429', () => {
    expect(gitlabRateLimit(new Response(null, { status: 403 }), now)).toBeUndefined();
  });
});
