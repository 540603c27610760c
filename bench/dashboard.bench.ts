/**
 * The dashboard with 10,000 noop scalers, in Debian's Chromium: time from navigation to the
 * first page of the graph, and from typing a search to the one matching scaler alone on
 * screen; the size of what the page loads. Figures, not asserts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfigText } from '../src/config/load.js';
import { createDaemon } from '../src/daemon.js';
import { defaultRegistry } from '../src/registry.js';
import { ensureDashboardBuilt, launchChromium } from '../test/dashboard/browser.js';

const SCALERS = 10_000;
const RUNS = 3;

function config(): string {
  const parts = [
    '[[trigger]]\ntype = "http_endpoint"\nid = "set"\n',
    '[[connect]]\ntype = "direct"\nid = "pass"\nfrom = "trigger.set"\nto = "scaler.s00000"\n',
  ];
  for (let i = 0; i < SCALERS; i++)
    parts.push(`[[scaler]]\ntype = "noop"\nid = "s${String(i).padStart(5, '0')}"\nmax = 10\nresync_interval = "60s"\n`);
  return parts.join('\n');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  ensureDashboardBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'waymond-bench-dashboard-'));
  const loaded = loadConfigText(config(), join(dir, 'w.toml'), defaultRegistry(), {}, 'w.toml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues.slice(0, 3)));
  const { engine } = createDaemon(loaded.config, {
    logger: pino({ level: 'silent' }),
    http: { host: '127.0.0.1', port: 0 },
    statePath: ':memory:',
  });
  await engine.start();
  const browser = await launchChromium();
  try {
    const url = engine.url as string;
    const components = await (await fetch(`${url}/api/components`)).text();
    const graph = await (await fetch(`${url}/api/graph`)).text();
    console.log(
      `${SCALERS} noop scalers: /api/components ${(components.length / 1024).toFixed(0)} KiB, /api/graph ${(graph.length / 1024).toFixed(0)} KiB (uncompressed)`,
    );
    const loads: number[] = [];
    const filters: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const page = await browser.context.newPage();
      const started = performance.now();
      await page.goto(`${url}/dashboard`);
      await page.locator('[data-address="scaler.s00049"]').waitFor({ timeout: 60_000 });
      loads.push(performance.now() - started);
      const shown = await page.locator('.column[data-kind="scaler"] [data-address]').count();
      if (shown > 50) throw new Error(`rendered ${shown} scaler cards: paging is broken`);
      const typed = performance.now();
      await page.fill('input.search', 's07777');
      await page.locator('[data-address="scaler.s07777"]').waitFor({ timeout: 60_000 });
      await page.waitForFunction(() => {
        const d = (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document;
        return d.querySelectorAll('.column[data-kind="scaler"] [data-address]').length === 1;
      });
      filters.push(performance.now() - typed);
      await page.close();
    }
    console.log(
      `page load to the first 50 scalers: median ${median(loads).toFixed(0)} ms (${loads.map((x) => x.toFixed(0)).join(', ')})`,
    );
    console.log(
      `search "s07777" to one scaler shown: median ${median(filters).toFixed(0)} ms (${filters.map((x) => x.toFixed(0)).join(', ')})`,
    );
  } finally {
    await browser.close();
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
