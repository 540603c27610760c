/**
 * The dashboard's own endpoints on a real engine and HTTP server: the graph with health,
 * a scaler's series, the page and its assets (and what is refused).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import type { Engine } from '../../src/core/engine.js';
import { createDaemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../src/registry.js';
import { actionKind, eventValue, healthOf, mountDashboard, upstream } from '../../src/server/dashboard.js';
import type { Metrics } from '../../src/server/metrics.js';
import { waitUntil } from '../helpers/daemon.js';

const CONFIG = `
[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "pass"
from = "trigger.set"
to = "scaler.fleet"

[[scaler]]
type = "noop"
id = "fleet"
max = 10

[[trigger]]
type = "http_endpoint"
id = "queue"

[[connect]]
type = "policy"
id = "per_three"
from = "trigger.queue"
to = "scaler.pool"
strategy = "per_replica"
per_replica = 3
max = 20

[[scaler]]
type = "noop"
id = "pool"
max = 20
`;

describe('dashboard endpoints', () => {
  let dir: string;
  let engine: Engine;
  let metrics: Metrics;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waymond-dashboard-api-'));
    const loaded = loadConfigText(CONFIG, join(dir, 'w.toml'), defaultRegistry(), {}, 'w.toml');
    if (!loaded.ok) throw new Error(loaded.issues.map(formatIssue).join('\n'));
    ({ engine, metrics } = createDaemon(loaded.config, {
      logger: pino({ level: 'silent' }),
      http: { host: '127.0.0.1', port: 0 },
      statePath: ':memory:',
    }));
    await engine.start();
    url = engine.url as string;
  });

  afterAll(async () => {
    await engine?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives the graph with edges, and health that follows the events', async () => {
    const before = (await (await fetch(`${url}/api/graph`)).json()) as {
      nodes: { address: string; health: { state: string } }[];
      edges: { from: string; to: string }[];
    };
    expect(before.nodes.map((n) => n.address).sort()).toEqual([
      'connector.pass',
      'connector.per_three',
      'scaler.fleet',
      'scaler.pool',
      'trigger.queue',
      'trigger.set',
    ]);
    expect(before.edges).toEqual([
      { from: 'trigger.set', to: 'connector.pass' },
      { from: 'connector.pass', to: 'scaler.fleet' },
      { from: 'trigger.queue', to: 'connector.per_three' },
      { from: 'connector.per_three', to: 'scaler.pool' },
    ]);
    expect(before.nodes.find((n) => n.address === 'trigger.set')?.health.state).toBe('idle');

    await fetch(`${url}/hooks/set`, { method: 'POST', body: '{"desired":4}' });
    await waitUntil(async () => {
      const graph = (await (await fetch(`${url}/api/graph`)).json()) as typeof before;
      const fleet = graph.nodes.filter((n) => !/queue|per_three|pool/.test(n.address));
      return fleet.every((n) => n.health.state === 'ok');
    }, 'the webhook, its connector and its scaler ok after a request');
  });

  it("gives a scaler's decisions with the value and the request that drove them", async () => {
    await fetch(`${url}/hooks/set`, { method: 'POST', body: '{"desired":6}' });
    let series: {
      decisions: { desired: number }[];
      requested: { value: number; source: string }[];
      signals: Record<string, { value: number }[]>;
    } = { decisions: [], requested: [], signals: {} };
    await waitUntil(async () => {
      series = (await (await fetch(`${url}/api/series?scaler=fleet`)).json()) as typeof series;
      return series.decisions.at(-1)?.desired === 6;
    }, 'the decision for 6');
    expect(series.requested.map((p) => p.value)).toEqual([4, 6]);
    expect(series.requested[0]?.source).toBe('connector.pass');
    expect(series.signals['trigger.set']?.map((p) => p.value)).toEqual([4, 6]);

    const future = (await (await fetch(`${url}/api/series?scaler=fleet&since=${Date.now() + 60_000}`)).json()) as {
      decisions: unknown[];
    };
    expect(future.decisions).toEqual([]);
  });

  it('exports the signals: trigger values, policy recommendations, decisions by action', async () => {
    await fetch(`${url}/hooks/queue`, { method: 'POST', body: '{"value":10}' });
    let text = '';
    await waitUntil(async () => {
      text = await (await fetch(`${url}/metrics`)).text();
      return /waymond_decisions_total\{scaler="scaler.pool",action="scale_up"\} 1/.test(text);
    }, 'the pool decision counted');
    expect(text).toMatch(/waymond_trigger_value\{trigger="trigger.queue"\} 10\n/);
    // 10 queued at 3 per replica: 4.
    expect(text).toMatch(/waymond_policy_recommendation\{connector="connector.per_three"\} 4\n/);
    expect(text).not.toMatch(/waymond_policy_recommendation\{connector="connector.pass"/);
  });

  it('names the field when a series query is wrong', async () => {
    const unknown = await fetch(`${url}/api/series?scaler=nope`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/scaler: no scaler at "nope"/);
    const since = await fetch(`${url}/api/series?scaler=fleet&since=yesterday`);
    expect(since.status).toBe(400);
    expect(((await since.json()) as { error: string }).error).toMatch(/^since:/);
  });

  it('serves no file outside the assets folder', async () => {
    // dist/web/assets/../../../package.json is the checkout's package.json: it exists.
    for (const path of [
      '/dashboard/assets/..%2F..%2F..%2Fpackage.json',
      '/dashboard/assets/%2E%2E/%2E%2E/%2E%2E/package.json',
    ]) {
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(404);
    }
  });

  it('says how to build the page when it is not built', async () => {
    const app = Fastify();
    mountDashboard(app, engine, { registry: metrics.registry, assetsDir: join(dir, 'no-such-build') });
    const response = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(response.statusCode).toBe(503);
    expect(response.body).toMatch(/npm run build:web/);
    await app.close();
  });
});

describe('dashboard rules', () => {
  it('reads the number an event carries', () => {
    expect(eventValue({ value: 3, desired: 9 })).toBe(3);
    expect(eventValue({ desired: '7' })).toBe(7);
    expect(eventValue({ time: '2026-01-01T00:00:00Z' })).toBeUndefined();
    expect(eventValue({ value: Number.NaN })).toBeUndefined();
  });

  it('is failing only while the last error is newer than the last success', () => {
    expect(healthOf(undefined).state).toBe('idle');
    expect(healthOf({ lastOk: 10, lastError: { time: 20, message: 'down' }, points: [] })).toEqual({
      state: 'failing',
      reason: 'down',
      since: 20,
    });
    expect(healthOf({ lastOk: 30, lastError: { time: 20, message: 'down' }, points: [] }).state).toBe('ok');
    expect(healthOf({ dryRunAt: 5, points: [] }).state).toBe('dry_run');
  });

  it('labels decisions by the kind of action only', () => {
    expect(actionKind('scale_up +3 (0 -> 3)')).toBe('scale_up');
    expect(actionKind('none')).toBe('none');
    expect(actionKind(undefined)).toBe('other');
  });

  it('walks edges backwards to the triggers upstream', () => {
    const edges: [string, string][] = [
      ['trigger.a', 'connector.c'],
      ['trigger.b', 'connector.c'],
      ['connector.c', 'scaler.s'],
      ['trigger.z', 'connector.y'],
    ];
    expect(upstream('scaler.s', edges).sort()).toEqual(['connector.c', 'trigger.a', 'trigger.b']);
  });
});
