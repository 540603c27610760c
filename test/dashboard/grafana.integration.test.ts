/**
 * contrib/grafana/waymond.json against a running daemon: every metric its queries name is
 * exported, and a real Prometheus scraping the daemon answers each panel query with data.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, ROOT, startDaemon, waitUntil } from '../helpers/daemon.js';
import { freePort, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

const DASHBOARD_FILE = join(ROOT, 'contrib', 'grafana', 'waymond.json');
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Every waymond_* name anywhere in the file (panel queries and template variables). */
function metricNames(): string[] {
  const text = readFileSync(DASHBOARD_FILE, 'utf8');
  return [...new Set(text.match(/\bwaymond_[a-z0-9_]+/g) ?? [])].sort();
}

/** Grafana's variables as a scrape of one daemon would resolve them. */
function resolve(expr: string): string {
  return expr.replaceAll('$scaler', '.*').replaceAll('$__rate_interval', '30s');
}

describe('Grafana dashboard', () => {
  let dir: string;
  let daemon: Daemon;
  let prometheus: RunningPrometheus | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waymond-grafana-'));
    const config = join(dir, 'w.toml');
    // Something for every series: a trigger value, a policy recommendation, decisions,
    // reconciles with durations, and errors (nothing listens on the polled port).
    writeFileSync(
      config,
      `
[[trigger]]
type = "http_endpoint"
id = "queue"

[[trigger]]
type = "prometheus"
id = "broken"
url = "http://127.0.0.1:${await freePort()}"
query = "up"
interval = "1s"
timeout = "1s"

[[connect]]
type = "policy"
id = "per_three"
from = "trigger.queue"
to = "scaler.pool"
strategy = "per_replica"
per_replica = 3
max = 20

[[connect]]
type = "direct"
id = "broken_to_spare"
from = "trigger.broken"
to = "scaler.spare"

[[scaler]]
type = "noop"
id = "pool"
max = 20

[[scaler]]
type = "noop"
id = "spare"
max = 2
`,
    );
    daemon = await startDaemon(['-c', config, '--state', join(dir, 'state.db')]);
    const hook = await fetch(`${daemon.url}/hooks/queue`, { method: 'POST', body: '{"value":10}' });
    expect(hook.status).toBeLessThan(300);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has panels with queries', () => {
    expect(queries.length).toBeGreaterThan(5);
    expect(metricNames()).toContain('waymond_trigger_value');
  });

  it('names only metrics the daemon exports', async () => {
    let text = '';
    // Labelled series appear once something sets them: the decision and the first error.
    await waitUntil(async () => {
      text = await (await fetch(`${daemon.url}/metrics`)).text();
      return text.includes('waymond_decisions_total{') && text.includes('waymond_component_errors_total{');
    }, 'the decision and the error in /metrics');
    const missing = metricNames().filter((name) => !new RegExp(`^${name}[{ ]`, 'm').test(text));
    expect(missing).toEqual([]);
  });

  it('gets data for every panel query from a real Prometheus scraping the daemon', async () => {
    prometheus = await startPrometheus({ targets: [new URL(daemon.url).host], scrapeInterval: '1s' });
    const url = prometheus.url;
    const empty = new Set(queries.map((q) => q.expr));
    // rate() needs two scrapes inside its window: poll until every query has an answer.
    await waitUntil(
      async () => {
        for (const expr of [...empty]) {
          const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(resolve(expr))}`);
          const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
          if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
          if ((body.data?.result.length ?? 0) > 0) empty.delete(expr);
        }
        return empty.size === 0;
      },
      'every query to return data',
      45_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; still empty: ${[...empty].join(' | ')}`);
    });
  });
});
