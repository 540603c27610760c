import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { Trigger, WaymondEvent } from '../../src/core/types.js';
import { httpClient, printableUrl } from '../../src/triggers/http-client.js';
import { type TestContext, testContext } from '../helpers/context.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let seen: Seen[];
let answer: Answer;
let tc: TestContext | undefined;
let trigger: Trigger | undefined;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
};

beforeEach(async () => {
  seen = [];
  answer = json(200, {});
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await trigger?.stop();
  tc?.close();
  trigger = undefined;
  tc = undefined;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function create(config: Record<string, unknown>, options: { clock?: VirtualClock; hasInput?: boolean } = {}) {
  tc = testContext('trigger', 'api', { hasInput: options.hasInput ?? true, clock: options.clock });
  const parsed = httpClient.schema.parse({ type: 'http_client', id: 'api', url: `${base}/metrics`, ...config });
  trigger = await httpClient.create(parsed, tc.ctx);
  await trigger.start();
  return trigger;
}

const input: WaymondEvent = { id: 'in-1', topic: 'trigger.api.input', source: 'trigger.cron', time: 0, data: { n: 7 } };

/** Fires the trigger once and returns what it emitted: output data and error messages. */
async function fireOnce(config: Record<string, unknown>) {
  const t = await create(config);
  await t.fire?.(input);
  const events = tc?.events ?? [];
  return {
    outputs: events.filter((e) => e.topic === 'trigger.api.output').map((e) => e.data),
    errors: events.filter((e) => e.topic === 'trigger.api.error').map((e) => String(e.data.error)),
  };
}

describe('http_client', () => {
  it('has an example that validates', () => {
    const example = parse(httpClient.example) as { trigger: unknown[] };
    expect(httpClient.schema.safeParse(example.trigger[0]).success).toBe(true);
  });

  it('emits the JSON object a GET answers, whatever its content-type', async () => {
    answer = json(200, { value: 4, queue: 'linux' }, { 'content-type': 'text/plain' });
    const { outputs, errors } = await fireOnce({});
    expect(errors).toEqual([]);
    expect(outputs).toEqual([{ value: 4, queue: 'linux' }]);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /metrics']);
    expect(seen[0]?.headers.accept).toBe('application/json');
  });

  it('sends the configured headers', async () => {
    await fireOnce({ headers: { Authorization: 'Bearer t0k', 'X-Tenant': 'a' } });
    expect(seen[0]?.headers.authorization).toBe('Bearer t0k');
    expect(seen[0]?.headers['x-tenant']).toBe('a');
  });

  it('POSTs the configured JSON body', async () => {
    answer = json(201, { desired: 2 });
    const { outputs } = await fireOnce({ method: 'POST', body: { query: 'depth', labels: ['a'] } });
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ query: 'depth', labels: ['a'] });
    expect(outputs).toEqual([{ desired: 2 }]);
  });

  it('emits what extract makes of the body, status, headers and input', async () => {
    answer = json(
      200,
      [
        { name: 'a', pending: 3 },
        { name: 'b', pending: 4 },
      ],
      { 'x-region': 'eu' },
    );
    const { outputs, errors } = await fireOnce({
      extract: '{ "value": $sum(pending), "status": $status, "region": $headers."x-region", "n": $input.n }',
    });
    expect(errors).toEqual([]);
    expect(outputs).toEqual([{ value: 7, status: 200, region: 'eu', n: 7 }]);
  });

  const failures: [name: string, answer: Answer, config: Record<string, unknown>, message: RegExp][] = [
    [
      'a non-2xx status, with a body excerpt',
      json(503, { error: 'backend down' }),
      {},
      /trigger\.api: GET http:\/\/127\.0\.0\.1:\d+\/metrics answered 503 Service Unavailable: "\{\\"error\\":\\"backend down\\"\}"/,
    ],
    ['a 404', json(404, 'no such page'), {}, /answered 404 Not Found: "no such page"/],
    ['a body that is not JSON', json(200, '<html>oops</html>'), {}, /body that is not JSON .*: "<html>oops<\/html>"/],
    ['an empty body', json(200, ''), {}, /body that is not JSON/],
    ['an array without extract', json(200, [1, 2]), {}, /answered an array, not a JSON object; use `extract`/],
    ['a number without extract', json(200, '5'), {}, /answered a number, not a JSON object/],
    ['an extract that matches nothing', json(200, { a: 1 }), { extract: 'missing' }, /extract produced nothing/],
    [
      'an extract that yields a number',
      json(200, { a: 1 }),
      { extract: 'a' },
      /extract must produce a JSON object, found number 1/,
    ],
    ['an extract that fails', json(200, { a: 'x' }), { extract: '{ "v": $number(a) }' }, /JSONata evaluation failed/],
    [
      'a value that is not a number',
      json(200, { value: 'many' }),
      {},
      /expected a finite number as value, found "many"/,
    ],
    ['a negative value', json(200, {}), { extract: '{ "value": -1 }' }, /expected a value >= 0, found -1/],
    ['a null value', json(200, { value: null }), {}, /expected a finite number as value, found null/],
  ];
  for (const [name, reply, config, message] of failures) {
    it(`reports ${name} as an error event and emits nothing`, async () => {
      answer = reply;
      const { outputs, errors } = await fireOnce(config);
      expect(outputs).toEqual([]);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
    });
  }

  it('never prints the query string or credentials of the URL', async () => {
    answer = json(401, { message: 'bad key' });
    const t = await create({ url: `http://user:pw-9@127.0.0.1:${new URL(base).port}/metrics?api_key=k-123` });
    await t.fire?.(input);
    const error = String(tc?.events.find((e) => e.topic === 'trigger.api.error')?.data.error);
    expect(error).toContain('/metrics?… answered 401');
    expect(error).not.toContain('k-123');
    expect(error).not.toContain('pw-9');
    expect(seen[0]?.url).toBe('/metrics?api_key=k-123');
    expect(seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from('user:pw-9').toString('base64')}`);
  });

  it('reports a timeout as an error event', async () => {
    answer = () => undefined; // never answers
    const { outputs, errors } = await fireOnce({ timeout: '100ms' });
    expect(outputs).toEqual([]);
    expect(errors).toEqual(['poll failed: poll timed out after 100 ms']);
  });

  it('reports a refused connection as an error event', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { outputs, errors } = await fireOnce({ url: `http://127.0.0.1:${port}/x` });
    expect(outputs).toEqual([]);
    expect(errors[0]).toMatch(/trigger\.api: GET http:\/\/127\.0\.0\.1:\d+\/x failed: fetch failed \(.*ECONNREFUSED/);
  });

  it('polls on its own interval when nothing drives its input, and stops polling when stopped', async () => {
    const clock = new VirtualClock();
    let n = 0;
    answer = (_req, res) => json(200, { value: ++n })(_req, res);
    await create({ interval: '30s' }, { clock, hasInput: false });
    const outputs = () => tc?.events.filter((e) => e.topic === 'trigger.api.output').map((e) => e.data.value);
    await vi.waitFor(() => expect(outputs()).toEqual([1]));
    await clock.advance(30_000);
    await vi.waitFor(() => expect(outputs()).toEqual([1, 2]));
    await trigger?.stop();
    // Stopped means no timer left to fire: exact, where a request count after advancing
    // could miss a request still on its way.
    expect(clock.pending()).toBe(0);
    await clock.advance(60_000);
    expect(seen).toHaveLength(2);
  });

  const badConfigs: [name: string, config: Record<string, unknown>, path: string, message: RegExp][] = [
    ['a body on a GET', { body: { a: 1 } }, 'body', /a GET request has no body/],
    [
      'an extract with a syntax error',
      { extract: '{ "a": x + }' },
      'extract',
      /invalid JSONata expression: .*position 12/,
    ],
    ['a URL that is not one', { url: 'not a url' }, 'url', /URL/i],
    ['an unknown method', { method: 'PUT' }, 'method', /GET|POST/],
  ];
  for (const [name, config, path, message] of badConfigs) {
    it(`rejects ${name} in the config`, () => {
      const result = httpClient.schema.safeParse({ type: 'http_client', id: 'x', url: 'http://h/x', ...config });
      const issue = result.error?.issues.find((i) => i.path.join('.') === path);
      expect(issue?.message).toMatch(message);
    });
  }
});

describe('printableUrl', () => {
  const cases: [string, string][] = [
    ['http://h:1/a/b', 'http://h:1/a/b'],
    ['https://u:p@h/a?token=x#f', 'https://h/a?…'],
    ['nonsense', '(invalid URL)'],
  ];
  for (const [url, printed] of cases) it(`prints ${url} as ${printed}`, () => expect(printableUrl(url)).toBe(printed));
});
