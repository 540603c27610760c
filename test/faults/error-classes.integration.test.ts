/**
 * Transient or permanent (src/core/errors.ts), end to end: a scaler behind the real
 * reconciler against the local Nomad API (403 Permission denied, 404 job not found, 503),
 * and a polling trigger against a local HTTP server, on the virtual clock; then the real
 * daemon, whose /readyz and /api/components name a scaler failing with a 403.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import { classifyError, httpError, PermanentError } from '../../src/core/errors.js';
import type { Reconciler } from '../../src/core/reconciler.js';
import type { Trigger } from '../../src/core/types.js';
import { wireScaler } from '../../src/core/wire-scaler.js';
import { nomad } from '../../src/scalers/nomad.js';
import { httpClient } from '../../src/triggers/http-client.js';
import { PERMANENT_RETRY_MS } from '../../src/triggers/poller.js';
import { type NomadApi, startNomadApi } from '../fixtures/nomad-api.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { startDaemon, waitUntil } from '../helpers/daemon.js';

const TOKEN_ENV = 'WAYMOND_TEST_NOMAD_TOKEN_FAULTS';
const TOKEN = '7a1b2c3d-0000-4000-8000-00000000fa17';
const RESYNC_MS = 10_000;

describe('classifyError', () => {
  it('reads HTTP statuses, AWS SDK errors, Kubernetes codes, errno and causes', () => {
    expect(classifyError(httpError('x', 403))).toBe('permanent');
    expect(classifyError(httpError('x', 401))).toBe('permanent');
    expect(classifyError(httpError('x', 404))).toBe('permanent');
    expect(classifyError(httpError('x', 400))).toBe('permanent');
    expect(classifyError(httpError('x', 422))).toBe('permanent');
    expect(classifyError(httpError('x', 429))).toBe('transient');
    expect(classifyError(httpError('x', 503))).toBe('transient');
    expect(classifyError(httpError('x', 500))).toBe('transient');
    expect(classifyError(httpError('x', 409))).toBe('transient');
    // AWS: ValidationError is a 400; Throttling is a 400 too, and transient.
    const aws = (name: string, status: number) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    expect(classifyError(new Error('wrapped', { cause: aws('ValidationError', 400) }))).toBe('permanent');
    expect(classifyError(new Error('wrapped', { cause: aws('Throttling', 400) }))).toBe('transient');
    expect(classifyError(new Error('wrapped', { cause: aws('ServiceUnavailable', 503) }))).toBe('transient');
    expect(classifyError(new Error('wrapped', { cause: aws('AccessDenied', 403) }))).toBe('permanent');
    // Kubernetes: KubeApiError carries the code.
    expect(classifyError(Object.assign(new Error('k'), { code: 404 }))).toBe('permanent');
    expect(classifyError(Object.assign(new Error('k'), { code: 500 }))).toBe('transient');
    // errno: the network is transient; a command that does not exist is permanent.
    const errno = (code: string, syscall = 'connect') => Object.assign(new Error(code), { code, syscall });
    expect(classifyError(new Error('fetch failed', { cause: errno('ECONNREFUSED') }))).toBe('transient');
    expect(classifyError(errno('ENOTFOUND', 'getaddrinfo'))).toBe('transient');
    expect(classifyError(errno('ENOENT', 'spawn agent'))).toBe('permanent');
    expect(classifyError(errno('ENOENT', 'open'))).toBe('transient');
    expect(classifyError(new PermanentError('group not found'))).toBe('permanent');
    expect(classifyError(new Error('anything else'))).toBe('transient');
    // A cause cycle is not followed forever.
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(classifyError(a)).toBe('transient');
  });
});

describe('a scaler failing permanently is asked again once per resync interval', () => {
  let api: NomadApi | undefined;
  let t: TestContext | undefined;
  let reconciler: Reconciler | undefined;
  const clock = new VirtualClock(0);

  afterEach(async () => {
    await reconciler?.stop(1000);
    t?.close();
    delete process.env[TOKEN_ENV];
    await api?.close();
    reconciler = undefined;
    t = undefined;
    api = undefined;
  });

  async function boot(job = 'agents') {
    api = await startNomadApi();
    api.token = TOKEN;
    api.addJob({ id: 'agents', namespace: 'ci', groups: { workers: { count: 1, running: 1, healthy: 1 } } });
    t = testContext('scaler', 'nomad', { clock });
    const parsed = nomad.schema.parse({
      type: 'nomad',
      id: 'nomad',
      address: api.address,
      job,
      group: 'workers',
      namespace: 'ci',
      token_env: TOKEN_ENV,
      resync_interval: `${RESYNC_MS}ms`,
      retry_initial: '100ms',
      retry_max: '400ms',
    });
    const scaler = await nomad.create(parsed, t.ctx);
    reconciler = wireScaler({
      address: 'scaler.nomad',
      scaler,
      settings: parsed,
      clock,
      bus: t.bus,
      store: t.store,
      logger: pino({ level: 'silent' }),
    }).reconciler;
    reconciler.start();
    return { api, reconciler };
  }

  /** Moves the virtual clock and waits for whatever run it started (real HTTP in between). */
  async function advance(ms: number): Promise<void> {
    await clock.advance(ms);
    await reconciler?.idle();
  }

  it('403: failing with the reason, one request per resync, new requests wait; a fixed token clears it', async () => {
    process.env[TOKEN_ENV] = 'not-the-token';
    const { api, reconciler } = await boot();
    const result = await reconciler.reconcileNow(3, {});
    expect(result.outcome).toBe('error');
    expect(reconciler.failing()).toEqual([
      { target: '', reason: expect.stringContaining('answered 403: Permission denied'), since: expect.any(Number) },
    ]);
    const asked = api.requests.length;
    // Well past the transient backoff (100-400 ms): not asked again.
    await advance(RESYNC_MS / 2);
    expect(api.requests.length).toBe(asked);
    // A new request while failing does not hit the API at once either (latest wins).
    reconciler.request(5, {});
    await reconciler.idle();
    expect(api.requests.length).toBe(asked);
    // Once per resync interval: one more request (with the latest count).
    await advance(RESYNC_MS / 2);
    expect(api.requests.length).toBe(asked + 1);
    await advance(RESYNC_MS);
    expect(api.requests.length).toBe(asked + 2);
    expect(reconciler.failing()).toHaveLength(1);
    // Recovery: the next retry succeeds and clears failing; the latest request (5) is applied.
    process.env[TOKEN_ENV] = TOKEN;
    await advance(RESYNC_MS);
    expect(reconciler.failing()).toEqual([]);
    expect(api.job('agents', 'ci')?.groups.workers?.count).toBe(5);
  });

  it('404: a job that does not exist is failing, not retried in a loop', async () => {
    process.env[TOKEN_ENV] = TOKEN;
    const { api, reconciler } = await boot('no-such-job');
    await reconciler.reconcileNow(2, {});
    expect(reconciler.failing()[0]?.reason).toContain('answered 404');
    const asked = api.requests.length;
    await advance(RESYNC_MS - 1);
    expect(api.requests.length).toBe(asked);
    await advance(1);
    expect(api.requests.length).toBe(asked + 1);
  });

  it('503: transient, retried with the backoff and never failing; recovery applies the count', async () => {
    process.env[TOKEN_ENV] = TOKEN;
    const { api, reconciler } = await boot();
    api.failWith = { status: 503, body: 'rpc error: No cluster leader' };
    const result = await reconciler.reconcileNow(4, {});
    expect(result.error).toContain('answered 503');
    expect(reconciler.failing()).toEqual([]);
    const asked = api.requests.length;
    // Backoff 100 ms doubling to 400 ms, equal jitter: at least 3 retries in 1.5 s.
    for (let i = 0; i < 15; i++) await advance(100);
    expect(api.requests.length).toBeGreaterThanOrEqual(asked + 3);
    expect(reconciler.failing()).toEqual([]);
    api.failWith = undefined;
    for (let i = 0; i < 5; i++) await advance(100);
    expect(api.job('agents', 'ci')?.groups.workers?.count).toBe(4);
  });
});

describe('a polling trigger failing permanently', () => {
  let server: Server | undefined;
  let trigger: Trigger | undefined;
  let t: TestContext | undefined;

  afterEach(async () => {
    await trigger?.stop();
    t?.close();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    trigger = undefined;
  });

  it('a 403 is its /readyz problem and polls once per PERMANENT_RETRY_MS; a 503 polls on its interval; recovery clears it', async () => {
    let status = 403;
    let hits = 0;
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{"value":3}' : '{"message":"no"}');
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const clock = new VirtualClock(0);
    t = testContext('trigger', 'queue', { clock });
    const config = httpClient.schema.parse({
      type: 'http_client',
      id: 'queue',
      url: `http://127.0.0.1:${port}/q`,
      interval: '1s',
    });
    trigger = await httpClient.create(config, t.ctx);
    const polled = async (n: number) => waitUntil(() => hits >= n, `${n} polls`);
    await trigger.start();
    await polled(1);
    await waitUntil(() => trigger?.problem?.() !== undefined, 'a problem');
    expect(trigger.problem?.()).toContain('answered 403');
    for (let i = 0; i < 10; i++) await clock.advance(1000);
    expect(hits).toBe(1);
    await clock.advance(PERMANENT_RETRY_MS - 10_000);
    await polled(2);
    status = 503;
    await clock.advance(PERMANENT_RETRY_MS);
    await polled(3);
    await waitUntil(() => trigger?.problem?.() === undefined, 'a 503 is no problem');
    await clock.advance(1000);
    await polled(4);
    status = 200;
    await clock.advance(1000);
    await polled(5);
    await waitUntil(() => t?.events.some((e) => e.topic === 'trigger.queue.output') ?? false, 'an output');
    expect(trigger.problem?.()).toBeUndefined();
  });
});

describe('the daemon names a scaler failing with a 403', () => {
  it('/readyz answers 503 naming it, /api/components shows failing', async () => {
    const api = await startNomadApi();
    api.token = TOKEN;
    api.addJob({ id: 'agents', namespace: 'ci', groups: { workers: { count: 0, running: 0, healthy: 0 } } });
    const dir = mkdtempSync(join(tmpdir(), 'waymond-failing-'));
    const config = join(dir, 'waymond.toml');
    writeFileSync(
      config,
      `[store]
path = "${join(dir, 'state.db')}"

[[scaler]]
type = "nomad"
id = "agents"
address = "${api.address}"
job = "agents"
group = "workers"
namespace = "ci"
token_env = "${TOKEN_ENV}"
resync_interval = "1s"
`,
    );
    const daemon = await startDaemon(['--config', config], { [TOKEN_ENV]: 'wrong' });
    try {
      const fired = await fetch(`${daemon.url}/api/fire/scaler.agents`, { method: 'POST', body: '{"desired":2}' });
      expect(fired.status).toBe(202);
      let ready: { status: number; body: { failing?: { address: string; reason: string }[] } } = {
        status: 0,
        body: {},
      };
      await waitUntil(async () => {
        const r = await fetch(`${daemon.url}/readyz`);
        ready = { status: r.status, body: (await r.json()) as typeof ready.body };
        return ready.status === 503 && (ready.body.failing?.length ?? 0) > 0;
      }, '/readyz 503');
      expect(ready.body.failing?.[0]?.address).toBe('scaler.agents');
      expect(ready.body.failing?.[0]?.reason).toContain('403: Permission denied');
      const components = (await (await fetch(`${daemon.url}/api/components`)).json()) as {
        components: { address: string; health?: string; reason?: string }[];
      };
      const agents = components.components.find((c) => c.address === 'scaler.agents');
      expect(agents?.health).toBe('failing');
      expect(agents?.reason).toContain('403');
    } finally {
      await daemon.stop();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
