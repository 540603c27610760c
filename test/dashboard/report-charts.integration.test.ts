/**
 * The `simulate --out` report in a real browser (Debian's Chromium), opened from disk with
 * every network request refused: its inlined uPlot charts draw, one per config, in place
 * of the SVG fallback, and zoom like the dashboard's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/daemon.js';
import { artifactPath, type Browser, ensureDashboardBuilt, launchChromium } from './browser.js';

const FIXTURES = 'test/sim/fixtures';

describe('simulate report charts in Chromium', () => {
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    ensureDashboardBuilt();
    dir = mkdtempSync(join(tmpdir(), 'waymond-report-'));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws one zoomable uPlot chart per config (and one for the HPA default) with no network', async () => {
    const out = join(dir, 'report.html');
    const sim = runCli([
      'simulate',
      '-c',
      `${FIXTURES}/one-per-job.toml`,
      '-c',
      `${FIXTURES}/floor-of-three.toml`,
      '--trace',
      `${FIXTURES}/jobs-small.csv`,
      '--startup',
      '20s',
      '--out',
      out,
    ]);
    expect(sim.stderr).toBe('');
    expect(sim.status).toBe(0);

    const page = await browser.context.newPage();
    const outside: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      outside.push(url);
      return route.abort();
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(out).href);

    const charts = page.locator('[data-report-chart][data-rendered="uplot"]');
    // Two configs and the HPA default's replay, which the report draws beside them.
    await expect.poll(() => charts.count(), { timeout: 10_000, interval: 100 }).toBe(3);
    expect(await page.locator('[data-report-chart] canvas').count()).toBe(3);
    // The SVG fallback gave way to the interactive charts.
    expect(await page.locator('[data-report-chart] svg[role="img"]').count()).toBe(0);
    const legend = await charts.first().locator('.u-legend .u-label').allTextContents();
    expect(legend).toEqual(expect.arrayContaining(['desired', 'ready', 'demand (members needed)']));

    // Drag across the first chart: the x axis zooms in; double-click: back to the whole run.
    const box = await charts.first().locator('.u-over').boundingBox();
    if (!box) throw new Error('the chart has no drawing area');
    const axisText = () => charts.first().getAttribute('data-x-range');
    const before = await axisText();
    expect(before).toMatch(/^[\d.]+\.\.[\d.]+$/);
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await expect.poll(axisText, { timeout: 5_000, interval: 100 }).not.toBe(before);
    await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    await expect.poll(axisText, { timeout: 5_000, interval: 100 }).toBe(before);

    expect(errors).toEqual([]);
    expect(outside).toEqual([]);
    await page.screenshot({ path: artifactPath('simulate-report.png'), fullPage: true });
    await page.close();
  });
});
