import { createHmac } from 'node:crypto';
import { parse } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import type { HookRequest, RouteHandler, Trigger } from '../../src/core/types.js';
import { httpEndpoint } from '../../src/triggers/http-endpoint.js';
import { type TestContext, testContext } from '../helpers/context.js';

const TOKEN = 'tok-3f9a';
const SECRET = 'shh-secret';

function request(body: string | Buffer, headers: HookRequest['headers'] = {}): HookRequest {
  return { method: 'POST', headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body), query: {} };
}

function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

let tc: TestContext | undefined;
let trigger: Trigger | undefined;

afterEach(async () => {
  await trigger?.stop();
  tc?.close();
  trigger = undefined;
  tc = undefined;
});

async function setup(config: Record<string, unknown> = {}): Promise<{ route: RouteHandler; outputs: () => unknown[] }> {
  tc = testContext('trigger', 'deploy');
  const parsed = httpEndpoint.schema.parse({ type: 'http_endpoint', id: 'deploy', ...config });
  trigger = await httpEndpoint.create(parsed, tc.ctx);
  await trigger.start();
  const route = tc.routes.get('POST /hooks/deploy');
  if (!route) throw new Error('http_endpoint mounted no POST /hooks/deploy route');
  const events = tc.events;
  return { route, outputs: () => events.filter((e) => e.topic === 'trigger.deploy.output').map((e) => e.data) };
}

describe('http_endpoint', () => {
  it('has an example that validates', () => {
    const example = parse(httpEndpoint.example) as { trigger: unknown[] };
    expect(httpEndpoint.schema.safeParse(example.trigger[0]).success).toBe(true);
  });

  it('emits a posted JSON object and answers 202 with the event id', async () => {
    const { route, outputs } = await setup();
    const response = await route(request('{"desired":5}', { 'content-type': 'application/x-www-form-urlencoded' }));
    expect(response.status).toBe(202);
    expect(outputs()).toEqual([{ desired: 5 }]);
    const emitted = tc?.events.find((e) => e.topic === 'trigger.deploy.output');
    expect(response.body).toEqual({ event_id: emitted?.id });
  });

  const rejected: [name: string, body: string | Buffer, status: number, message: RegExp][] = [
    ['a body that is not JSON', 'desired=5', 400, /body is not JSON/],
    ['a JSON array', '[1,2]', 400, /body must be a JSON object/],
    ['a JSON number', '5', 400, /body must be a JSON object/],
    ['JSON null', 'null', 400, /body must be a JSON object/],
    ['an empty body', '', 400, /body is not JSON/],
    ['a body over 1 MiB', Buffer.alloc(1024 * 1024 + 1, 0x20), 413, /over the 1048576 byte limit/],
  ];
  for (const [name, body, status, message] of rejected) {
    it(`answers ${status} to ${name} and emits nothing`, async () => {
      const { route } = await setup();
      const response = await route(request(body));
      expect(response.status).toBe(status);
      expect((response.body as { error: string }).error).toMatch(message);
      expect(tc?.events).toEqual([]);
    });
  }

  it('accepts a body of exactly 1 MiB', async () => {
    const { route, outputs } = await setup();
    const json = `{"pad":"${'x'.repeat(1024 * 1024 - 10)}"}`;
    expect(Buffer.byteLength(json)).toBe(1024 * 1024);
    expect((await route(request(json))).status).toBe(202);
    expect(outputs()).toHaveLength(1);
  });

  describe('with a bearer token', () => {
    const cases: [name: string, headers: HookRequest['headers'], status: number][] = [
      ['the right token', { authorization: `Bearer ${TOKEN}` }, 202],
      ['the right token, lower-case scheme', { authorization: `bearer ${TOKEN}` }, 202],
      ['no Authorization header', {}, 401],
      ['a wrong token', { authorization: 'Bearer tok-3f9b' }, 401],
      ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, 4)}` }, 401],
      ['the token as basic auth', { authorization: `Basic ${TOKEN}` }, 401],
    ];
    for (const [name, headers, status] of cases) {
      it(`answers ${status} to ${name}`, async () => {
        const { route, outputs } = await setup({ token: TOKEN });
        const response = await route(request('{"desired":1}', headers));
        expect(response.status).toBe(status);
        expect(outputs()).toHaveLength(status === 202 ? 1 : 0);
        expect(JSON.stringify(response.body)).not.toContain(TOKEN);
      });
    }

    it('checks the token before it reads the body', async () => {
      const { route } = await setup({ token: TOKEN });
      expect((await route(request('not json'))).status).toBe(401);
    });
  });

  describe('with an HMAC secret', () => {
    const body = '{"action":"queued","workflow_job":{"id":1}}';
    it('accepts a signature computed over the raw body', async () => {
      const { route, outputs } = await setup({ secret: SECRET });
      const response = await route(request(body, { 'x-hub-signature-256': sign(SECRET, body) }));
      expect(response.status).toBe(202);
      expect(outputs()).toEqual([{ action: 'queued', workflow_job: { id: 1 } }]);
    });

    const cases: [name: string, headers: HookRequest['headers']][] = [
      ['no signature', {}],
      ['a signature made with another secret', { 'x-hub-signature-256': sign('other', body) }],
      ['a signature of another body', { 'x-hub-signature-256': sign(SECRET, `${body} `) }],
      ['a sha1 signature', { 'x-hub-signature-256': `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}` }],
      ['the secret itself', { 'x-hub-signature-256': SECRET }],
    ];
    for (const [name, headers] of cases) {
      it(`answers 401 to ${name} and emits nothing`, async () => {
        const { route } = await setup({ secret: SECRET });
        const response = await route(request(body, headers));
        expect(response.status).toBe(401);
        expect(tc?.events).toEqual([]);
        expect(JSON.stringify(response.body)).not.toContain(SECRET);
      });
    }

    it('requires both when token and secret are set', async () => {
      const { route } = await setup({ secret: SECRET, token: TOKEN });
      const signature = { 'x-hub-signature-256': sign(SECRET, body) };
      expect((await route(request(body, signature))).status).toBe(401);
      expect((await route(request(body, { authorization: `Bearer ${TOKEN}` }))).status).toBe(401);
      expect((await route(request(body, { ...signature, authorization: `Bearer ${TOKEN}` }))).status).toBe(202);
    });
  });

  it('answers 503 and emits nothing once stopped', async () => {
    const { route } = await setup();
    await trigger?.stop();
    const response = await route(request('{"desired":1}'));
    expect(response.status).toBe(503);
    expect(tc?.events).toEqual([]);
  });

  describe('with credentials from the environment', () => {
    const tokenVar = `WAYMOND_TEST_HOOK_TOKEN_${process.pid}`;
    const secretVar = `WAYMOND_TEST_HOOK_SECRET_${process.pid}`;
    afterEach(() => {
      delete process.env[tokenVar];
      delete process.env[secretVar];
    });

    it('reads token_env and secret_env at start', async () => {
      process.env[tokenVar] = TOKEN;
      process.env[secretVar] = SECRET;
      const { route, outputs } = await setup({ token_env: tokenVar, secret_env: secretVar });
      const body = '{"desired":2}';
      expect((await route(request(body, { authorization: `Bearer ${TOKEN}` }))).status).toBe(401);
      const both = { authorization: `Bearer ${TOKEN}`, 'x-hub-signature-256': sign(SECRET, body) };
      expect((await route(request(body, both))).status).toBe(202);
      expect(outputs()).toEqual([{ desired: 2 }]);
    });

    it('refuses everything, and says why once, when the variable is unset', async () => {
      const { route, outputs } = await setup({ token_env: tokenVar });
      const errors = tc?.events.filter((e) => e.topic === 'trigger.deploy.error') ?? [];
      expect(errors.map((e) => e.data.error)).toEqual([
        `trigger.deploy: environment variable ${tokenVar} is not set; the endpoint refuses every request`,
      ]);
      const response = await route(request('{"desired":1}', { authorization: 'Bearer ' }));
      expect(response.status).toBe(503);
      expect(outputs()).toEqual([]);
      expect(tc?.events).toHaveLength(1);
    });
  });

  const badConfigs: [name: string, config: Record<string, unknown>, path: string][] = [
    ['an empty token', { token: '' }, 'token'],
    ['token and token_env', { token: 'a', token_env: 'A' }, 'token_env'],
    ['secret and secret_env', { secret: 'a', secret_env: 'A' }, 'secret_env'],
    ['a token_env that is not a variable name', { token_env: 'not a name' }, 'token_env'],
    ['an unknown field', { tokens: 'a' }, ''],
  ];
  for (const [name, config, path] of badConfigs) {
    it(`rejects ${name} in the config`, () => {
      const result = httpEndpoint.schema.safeParse({ type: 'http_endpoint', id: 'x', ...config });
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((i) => i.path.join('.'))).toContain(path);
    });
  }
});
