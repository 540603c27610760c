import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { parse as parseToml } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/core/types.js';
import { combineSamples, prometheus as definition, samplesOf } from '../../src/triggers/prometheus.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { findPrometheus, freePort, type RunningPrometheus, startPrometheus, waitFor } from '../helpers/prometheus.js';
import { requireService } from '../helpers/services.js';

const available = await requireService('a prometheus binary (Debian package "prometheus")', async () =>
  Boolean(findPrometheus()),
);

// Test-only credentials. The hash is bcrypt (cost 4, cheap on purpose) of PASSWORD, made with
// python3 -c "import crypt; print(crypt.crypt('waymond-test-pw', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))"
const USER = 'waymond';
const PASSWORD = 'waymond-test-pw';
const PASSWORD_HASH = '$2b$04$8WHyXtoSc.jpUm4ikDg2eOWMAeAuQqUkHS327853zhHGSq09wL.rO';
const PASSWORD_ENV = `WAYMOND_TEST_PROM_PW_${randomUUID().slice(0, 8).toUpperCase()}`;

const METRICS = [
  '# TYPE test_queue_depth gauge',
  'test_queue_depth{queue="a"} 7',
  'test_queue_depth{queue="b"} 5',
  '# TYPE test_broken_gauge gauge',
  'test_broken_gauge NaN',
  '',
].join('\n');

describe('prometheus trigger config and result rules', () => {
  it('the example validates', () => {
    const parsed = parseToml(definition.example) as { trigger: unknown[] };
    expect(definition.schema.safeParse(parsed.trigger[0]).success).toBe(true);
  });

  it('refuses credentials in the URL, and half-configured basic auth', () => {
    const base = { type: 'prometheus', id: 'p', query: 'up' };
    const inUrl = definition.schema.safeParse({ ...base, url: 'http://u:pw@prom:9090' });
    expect(inUrl.error?.issues[0]?.message).toMatch(/credentials in the URL/);
    const half = definition.schema.safeParse({ ...base, url: 'http://prom:9090', username: 'u' });
    expect(half.error?.issues[0]?.message).toMatch(/needs both `username` and `password_env`/);
  });

  it('names an unset secret variable at creation, without a value to leak', () => {
    const config = definition.schema.parse({
      type: 'prometheus',
      id: 'p',
      url: 'http://prom:9090',
      query: 'up',
      bearer_token_env: `WAYMOND_UNSET_${randomUUID().slice(0, 8).toUpperCase()}`,
    });
    const t = testContext('trigger', 'p');
    expect(() => definition.create(config, t.ctx)).toThrow(
      /^trigger\.p: environment variable WAYMOND_UNSET_\w+ \(bearer_token_env\) is not set$/,
    );
    t.close();
  });

  it('a sample without a [time, value] pair (native histogram) is refused', () => {
    expect(() => samplesOf({ resultType: 'vector', result: [{ metric: {}, histogram: [1, {}] }] })).toThrow(
      /native histogram/,
    );
    expect(() => samplesOf({ resultType: 'matrix', result: [] })).toThrow(/range vector/);
  });

  it('aggregates as configured', () => {
    const samples = [1, 4, 7].map((value) => ({ labels: {}, value }));
    expect(combineSamples(samples, { aggregate: 'avg', empty_as_zero: false })).toBe(4);
    expect(combineSamples(samples, { aggregate: 'min', empty_as_zero: false })).toBe(1);
  });
});

describe.skipIf(!available)('prometheus trigger (real Prometheus)', () => {
  let exporter: Server;
  let prom: RunningPrometheus;
  const running: { trigger: Trigger; t: TestContext }[] = [];

  beforeAll(async () => {
    process.env[PASSWORD_ENV] = PASSWORD;
    exporter = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(METRICS);
    });
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    const { port } = exporter.address() as { port: number };
    prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], basicAuthUsers: { [USER]: PASSWORD_HASH } });
    const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    // Ready is not enough: wait for the first scrape to land.
    await waitFor(async () => {
      const response = await fetch(`${prom.url}/api/v1/query?query=count(test_queue_depth)`, {
        headers: { authorization: auth },
      });
      const body = (await response.json()) as { data?: { result?: { value: [number, string] }[] } };
      return body.data?.result?.[0]?.value[1] === '2';
    }, 60_000);
  });
  afterEach(async () => {
    for (const { trigger, t } of running.splice(0)) {
      await trigger.stop();
      t.close();
    }
  });
  afterAll(async () => {
    await prom?.stop();
    await new Promise((resolve) => exporter?.close(resolve));
    delete process.env[PASSWORD_ENV];
  });

  /** Starts the trigger driven through its input, so each `fire` is exactly one poll. */
  async function pollOnce(config: Record<string, unknown>) {
    const t = testContext('trigger', 'prom', { hasInput: true });
    const parsed = definition.schema.parse({
      type: 'prometheus',
      id: 'prom',
      url: prom.url,
      username: USER,
      password_env: PASSWORD_ENV,
      ...config,
    });
    const trigger = await definition.create(parsed, t.ctx);
    running.push({ trigger, t });
    await trigger.start();
    const before = t.events.length;
    await trigger.fire?.({ id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} });
    return t.events.slice(before);
  }

  const errorOf = (events: { topic: string; data: Record<string, unknown> }[]) => {
    expect(events.map((e) => e.topic)).toEqual(['trigger.prom.error']);
    return String(events[0]?.data.error);
  };

  it('one sample is the value, with its labels', async () => {
    const [event] = await pollOnce({ query: 'test_queue_depth{queue="a"}' });
    expect(event?.topic).toBe('trigger.prom.output');
    expect(event?.data).toMatchObject({ value: 7, result_type: 'vector', sample_count: 1 });
    expect(event?.data.labels).toMatchObject({ __name__: 'test_queue_depth', queue: 'a' });
  });

  it('a scalar result is the value', async () => {
    const [event] = await pollOnce({ query: 'scalar(sum(test_queue_depth))' });
    expect(event?.data).toMatchObject({ value: 12, result_type: 'scalar' });
  });

  it('aggregate = "sum" / "max" combine several samples', async () => {
    const [sum] = await pollOnce({ query: 'test_queue_depth', aggregate: 'sum' });
    expect(sum?.data).toMatchObject({ value: 12, sample_count: 2 });
    const [max] = await pollOnce({ query: 'test_queue_depth', aggregate: 'max' });
    expect(max?.data.value).toBe(7);
  });

  it('several samples without aggregate are an error event naming them', async () => {
    const message = errorOf(await pollOnce({ query: 'test_queue_depth' }));
    expect(message).toMatch(/query returned 2 samples \(.*queue="a".*queue="b".*\); aggregate them/);
  });

  it('an empty vector is an error event by default, 0 only with empty_as_zero', async () => {
    const query = 'test_queue_depth{queue="nope"}';
    expect(errorOf(await pollOnce({ query }))).toMatch(/no samples \(empty vector\)/);
    const [event] = await pollOnce({ query, empty_as_zero: true });
    expect(event?.topic).toBe('trigger.prom.output');
    expect(event?.data).toMatchObject({ value: 0, sample_count: 0 });
  });

  it('NaN is an error event, even inside an aggregate', async () => {
    expect(errorOf(await pollOnce({ query: 'test_broken_gauge' }))).toMatch(/is NaN, expected a finite number/);
    const mixed = '{__name__=~"test_queue_depth|test_broken_gauge"}';
    expect(errorOf(await pollOnce({ query: mixed, aggregate: 'sum' }))).toMatch(/NaN/);
  });

  it('a PromQL syntax error is an error event carrying Prometheus message', async () => {
    expect(errorOf(await pollOnce({ query: 'sum(test_queue_depth' }))).toMatch(/HTTP 400: bad_data: .*parse error/);
  });

  it('a wrong password is an error event, and the password stays out of it', async () => {
    const env = `${PASSWORD_ENV}_WRONG`;
    process.env[env] = 'not-the-password';
    try {
      const events = await pollOnce({ query: 'up', password_env: env });
      expect(errorOf(events)).toMatch(/HTTP 401/);
      expect(JSON.stringify(events)).not.toContain('not-the-password');
    } finally {
      delete process.env[env];
    }
  });

  it('an unreachable Prometheus is an error event', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    expect(errorOf(await pollOnce({ url, query: 'up' }))).toMatch(
      /GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query failed: .*ECONNREFUSED/,
    );
  });

  it('bearer_token_env sends the token (through a token-checking proxy in front of Prometheus)', async () => {
    // Prometheus itself only does basic auth; bearer tokens are what a proxy in front of it
    // (oauth2-proxy, a cloud gateway) checks, so the test puts one there.
    const token = `tok-${randomUUID()}`;
    const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    const proxy = createServer(async (req, res) => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401).end('missing or wrong bearer token');
        return;
      }
      const upstream = await fetch(`${prom.url}${req.url}`, { headers: { authorization: auth } });
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/`;
    const env = `${PASSWORD_ENV}_TOKEN`;
    try {
      process.env[env] = token;
      const base = { url, query: 'sum(test_queue_depth)', username: undefined, password_env: undefined };
      const [event] = await pollOnce({ ...base, bearer_token_env: env });
      expect(event?.data.value).toBe(12);
      process.env[env] = 'wrong-token';
      const events = await pollOnce({ ...base, bearer_token_env: env });
      expect(errorOf(events)).toMatch(/HTTP 401/);
      expect(JSON.stringify(events)).not.toContain('wrong-token');
    } finally {
      delete process.env[env];
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
