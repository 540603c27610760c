/**
 * The dashboard in a real browser (Debian's Chromium) against a real daemon running a
 * fleet of worker processes: the graph, live updates from a webhook, a failing trigger.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, ROOT, startDaemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/prometheus.js';
import { artifactPath, type Browser, ensureDashboardBuilt, launchChromium } from './browser.js';

const POLL = { timeout: 20_000, interval: 100 };
const WORKER = join(ROOT, 'examples', 'workers', 'worker.mjs');

function fleetConfig(closedPort: number): string {
  return `
[[trigger]]
type = "http_endpoint"
id = "set_workers"

[[trigger]]
type = "prometheus"
id = "queue_depth"
url = "http://127.0.0.1:${closedPort}"
query = "sum(queue_depth)"
interval = "1s"
timeout = "1s"

[[connect]]
type = "direct"
id = "webhook_sets_count"
from = "trigger.set_workers"
to = "scaler.workers"

[[connect]]
type = "direct"
id = "depth_to_spare"
from = "trigger.queue_depth"
to = "scaler.spare"

[[scaler]]
type = "process"
id = "workers"
command = "node"
args = [${JSON.stringify(WORKER)}]
max = 5
stop_timeout = "5s"
resync_interval = "2s"
on_shutdown = "stop"

[[scaler]]
type = "noop"
id = "spare"
max = 3
`;
}

const ADDRESSES = [
  'trigger.set_workers',
  'trigger.queue_depth',
  'connector.webhook_sets_count',
  'connector.depth_to_spare',
  'scaler.workers',
  'scaler.spare',
];

describe('dashboard in Chromium', () => {
  let dir: string;
  let daemon: Daemon;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    ensureDashboardBuilt();
    dir = mkdtempSync(join(tmpdir(), 'waymond-dashboard-'));
    const config = join(dir, 'fleet.toml');
    // Nothing listens there: every poll of queue_depth fails.
    writeFileSync(config, fleetConfig(await freePort()));
    daemon = await startDaemon(['-c', config, '--state', join(dir, 'state.db')]);
    browser = await launchChromium();
    page = await browser.context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws every component of the config with its edges', async () => {
    await page.goto(`${daemon.url}/dashboard`);
    for (const address of ADDRESSES) await page.locator(`[data-address="${address}"]`).waitFor();
    // One edge per connection: trigger -> connector and connector -> scaler, twice.
    await expect.poll(() => page.locator('.edges path').count(), POLL).toBe(4);
    await page.screenshot({ path: artifactPath('dashboard-graph.png'), fullPage: true });
    // A scaler's node opens its own view.
    await page.click('[data-address="scaler.workers"]');
    await page.locator('[data-scaler="scaler.workers"] [data-testid="chart"]').waitFor();
  });

  it('turns a failing trigger red with the reason from its error events', async () => {
    await page.goto(`${daemon.url}/dashboard#/graph`);
    const node = page.locator('[data-address="trigger.queue_depth"][data-health="failing"]');
    await node.waitFor();
    expect(await node.locator('.reason').textContent()).toMatch(/poll failed/);
    expect(await page.locator('[data-address="trigger.set_workers"]').getAttribute('data-health')).not.toBe('failing');
    await page.screenshot({ path: artifactPath('dashboard-failing.png'), fullPage: true });
  });

  it('shows a webhook request on the chart and in the decisions without a reload', async () => {
    await page.goto(`${daemon.url}/dashboard#/scaler/scaler.workers`);
    await page.locator('[data-testid="live"]', { hasText: 'live' }).waitFor();
    const chart = page.locator('[data-testid="chart"]');
    await chart.waitFor();
    // A marker on window: it would be gone after a reload.
    await page.evaluate('window.sameDocument = true');

    const hook = await fetch(`${daemon.url}/hooks/set_workers`, { method: 'POST', body: '{"desired":3}' });
    expect(hook.status).toBeLessThan(300);

    await expect.poll(() => chart.getAttribute('data-last-desired'), POLL).toBe('3');
    expect(Number(await page.locator('[data-testid="chart"]').getAttribute('data-requested-points'))).toBeGreaterThan(
      0,
    );
    const row = page.locator('[data-testid="decision"]', { hasText: '→ 3' }).first();
    await row.waitFor();
    expect(await row.locator('.outcome').textContent()).toBe('ok');
    // The workers start: the current count follows without a reload.
    await page.locator('[data-testid="observed"]', { hasText: '3' }).waitFor({ timeout: 30_000 });

    // And back down: the chart follows the second request too.
    await fetch(`${daemon.url}/hooks/set_workers`, { method: 'POST', body: '{"desired":1}' });
    await expect.poll(() => chart.getAttribute('data-last-desired'), POLL).toBe('1');
    await page.locator('[data-testid="decision"]', { hasText: '→ 1' }).first().waitFor();
    expect(await page.evaluate('window.sameDocument')).toBe(true);
    await page.screenshot({ path: artifactPath('dashboard-scaler.png'), fullPage: true });
  });

  it('lists decisions newest first and filters them by outcome and text', async () => {
    await page.goto(`${daemon.url}/dashboard#/decisions`);
    const rows = page.locator('[data-testid="decision"]');
    await rows.first().waitFor();
    const all = await rows.count();
    expect(all).toBeGreaterThan(0);
    await page.fill('input[name="text"]', 'no such reason anywhere');
    await expect.poll(() => rows.count(), POLL).toBe(0);
    await page.fill('input[name="text"]', '');
    await page.selectOption('select[name="outcome"]', 'ok');
    await expect.poll(() => rows.count(), POLL).toBeGreaterThan(0);
    const outcomes = await rows.locator('.outcome').allTextContents();
    expect(new Set(outcomes)).toEqual(new Set(['ok']));
    await page.selectOption('select[name="outcome"]', '');
    await page.screenshot({ path: artifactPath('dashboard-decisions.png'), fullPage: true });
  });
});
