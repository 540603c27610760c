/**
 * The dashboard in a real browser (Debian's Chromium) against a daemon whose API needs the
 * admin token (`[http] token_env`): the page is open but asks for the token, the API
 * refuses without it, and once it is entered the graph loads and the tap keeps it live.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, startDaemon } from '../helpers/daemon.js';
import { artifactPath, type Browser, ensureDashboardBuilt, launchChromium } from './browser.js';

const POLL = { timeout: 20_000, interval: 100 };
// Random each run: nothing here may depend on a token known in advance.
const TOKEN = `dash-${Math.random().toString(36).slice(2)}-${Date.now()}`;

const CONFIG = `
[http]
token_env = "DASHBOARD_TEST_TOKEN"

[[trigger]]
type = "http_endpoint"
id = "set_spare"

[[connect]]
type = "direct"
id = "webhook_sets_spare"
from = "trigger.set_spare"
to = "scaler.spare"

[[scaler]]
type = "noop"
id = "spare"
max = 5
`;

const ADDRESSES = ['trigger.set_spare', 'connector.webhook_sets_spare', 'scaler.spare'];

describe('dashboard behind the admin token, in Chromium', () => {
  let dir: string;
  let daemon: Daemon;
  let browser: Browser;
  let page: Page;
  /** Authorization headers of every /api request the page sent, by path. */
  const sent: { path: string; authorization: string | undefined }[] = [];

  beforeAll(async () => {
    ensureDashboardBuilt();
    dir = mkdtempSync(join(tmpdir(), 'waymond-dashboard-token-'));
    const config = join(dir, 'token.toml');
    writeFileSync(config, CONFIG);
    daemon = await startDaemon(['-c', config, '--state', join(dir, 'state.db')], { DASHBOARD_TEST_TOKEN: TOKEN });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path.startsWith('/api/')) sent.push({ path, authorization: request.headers().authorization });
    });
  });

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page without the token but refuses the API it reads', async () => {
    const pageResponse = await fetch(`${daemon.url}/dashboard`);
    expect(pageResponse.status).toBe(200);
    expect(await pageResponse.text()).toContain('<div id="app">');
    for (const path of ['/api/graph', '/api/components', '/api/decisions', '/api/tap']) {
      const bare = await fetch(`${daemon.url}${path}`);
      expect(bare.status, path).toBe(401);
      await bare.body?.cancel();
      const wrong = await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status, path).toBe(401);
      await wrong.body?.cancel();
    }
    const right = await fetch(`${daemon.url}/api/graph`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    await right.body?.cancel();
  });

  it('asks for the token, says so when it is wrong, and loads the graph with the right one', async () => {
    await page.goto(`${daemon.url}/dashboard`);
    const prompt = page.locator('form.token');
    await prompt.waitFor();
    // Nothing of the config leaked into the page before the token.
    expect(await page.locator('[data-address]').count()).toBe(0);
    await page.screenshot({ path: artifactPath('dashboard-token-prompt.png'), fullPage: true });

    await page.fill('input[name="token"]', 'not-the-token');
    await page.click('form.token button[type="submit"]');
    await page.locator('[data-testid="token-refused"]').waitFor(POLL);
    expect(await page.locator('[data-address]').count()).toBe(0);

    await page.fill('input[name="token"]', TOKEN);
    await page.click('form.token button[type="submit"]');
    for (const address of ADDRESSES) await page.locator(`[data-address="${address}"]`).waitFor(POLL);
    await expect.poll(() => prompt.count(), POLL).toBe(0);
    await expect.poll(() => page.locator('.edges path').count(), POLL).toBe(2);
    // The tap (a streamed fetch, not EventSource, so it can carry the header) connects.
    await page.locator('[data-testid="live"]', { hasText: 'live' }).waitFor(POLL);
    const tap = sent.filter((r) => r.path === '/api/tap');
    expect(tap.length).toBeGreaterThan(0);
    expect(tap.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
    // The token is never in a URL the page requested.
    expect(sent.some((r) => r.path.includes(TOKEN))).toBe(false);
    await page.screenshot({ path: artifactPath('dashboard-token-graph.png'), fullPage: true });
  });

  it('keeps the view live with the token: a webhook shows on the chart and in the decisions', async () => {
    await page.goto(`${daemon.url}/dashboard#/scaler/scaler.spare`);
    // The token survives a navigation in the same tab (session storage): no second prompt.
    await page.locator('[data-testid="live"]', { hasText: 'live' }).waitFor(POLL);
    expect(await page.locator('form.token').count()).toBe(0);
    const chart = page.locator('[data-testid="chart"]');
    await chart.waitFor(POLL);
    await page.evaluate('window.sameDocument = true');

    const hook = await fetch(`${daemon.url}/hooks/set_spare`, { method: 'POST', body: '{"desired":4}' });
    expect(hook.status).toBeLessThan(300);

    await expect.poll(() => chart.getAttribute('data-last-desired'), POLL).toBe('4');
    const row = page.locator('[data-testid="decision"]', { hasText: '→ 4' }).first();
    await row.waitFor(POLL);
    expect(await row.locator('.outcome').textContent()).toBe('ok');
    await page.locator('[data-testid="observed"]', { hasText: '4' }).waitFor(POLL);
    expect(await page.evaluate('window.sameDocument')).toBe(true);
    // Every /api request the page made carried the token.
    expect(sent.filter((r) => r.authorization === `Bearer ${TOKEN}`).length).toBeGreaterThan(0);
    const after = sent.slice(sent.findIndex((r) => r.authorization === `Bearer ${TOKEN}`));
    expect(after.filter((r) => r.authorization !== `Bearer ${TOKEN}`)).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-token-scaler.png'), fullPage: true });
  });

  it('asks again, without a reload, when the daemon comes back with another token', async () => {
    await page.goto(`${daemon.url}/dashboard#/graph`);
    await page.locator('[data-testid="live"]', { hasText: 'live' }).waitFor(POLL);
    await page.evaluate('window.sameDocument = true');
    const port = new URL(daemon.url).port;
    await daemon.stop();
    const next = `${TOKEN}-rotated`;
    // The same port (the last --http-port wins): the page's tap reconnects to the new daemon.
    daemon = await startDaemon(['-c', join(dir, 'token.toml'), '--state', join(dir, 'state.db'), '--http-port', port], {
      DASHBOARD_TEST_TOKEN: next,
    });
    await page.locator('[data-testid="token-refused"]').waitFor(POLL);
    expect(await page.evaluate('window.sameDocument')).toBe(true);
    await page.fill('input[name="token"]', next);
    await page.click('form.token button[type="submit"]');
    await page.locator('[data-address="scaler.spare"]').waitFor(POLL);
    await page.locator('[data-testid="live"]', { hasText: 'live' }).waitFor(POLL);
    expect(sent.at(-1)?.authorization).toBe(`Bearer ${next}`);
  });
});
