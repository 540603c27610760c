import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { Trigger } from '../../src/core/types.js';
import {
  CPU_WINDOW_MS,
  cpuBusyFraction,
  system as definition,
  memoryUsedFraction,
  parseLoadavg,
  parseMeminfo,
  parseProcStat,
} from '../../src/triggers/system.js';
import { type TestContext, testContext } from '../helpers/context.js';

// stat-1, stat-2, loadavg and meminfo are copies of this project's CI box's /proc (2 CPUs,
// busy: no idle tick in the second between stat-1 and stat-2). stat-3 is stat-2 plus known
// ticks over both CPUs: user +50, system +10, idle +130, iowait +10, so 60 of 200 busy.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/system');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

describe('system /proc parsing', () => {
  it('loadavg: the three load averages', () => {
    expect(parseLoadavg(fixture('loadavg'))).toEqual({ load1: 6.93, load5: 4.94, load15: 2.4 });
  });

  it('stat: idle counts iowait, total leaves out guest time (already in user)', () => {
    // cpu  95873 0 9337 135178 1251 0 475 1196 0 0
    expect(parseProcStat(fixture('stat-1'))).toEqual({ idle: 135178 + 1251, total: 243310, cpuCount: 2 });
    const withGuest = 'cpu  100 0 0 100 0 0 0 0 50 50\ncpu0 100 0 0 100 0 0 0 0 50 50\n';
    expect(parseProcStat(withGuest).total).toBe(200);
  });

  it('cpu: busy fraction between two samples', () => {
    const [s1, s2, s3] = ['stat-1', 'stat-2', 'stat-3'].map((name) => parseProcStat(fixture(name)));
    expect(cpuBusyFraction(s1!, s2!)).toBe(1);
    expect(cpuBusyFraction(s2!, s3!)).toBeCloseTo(0.3, 10);
    expect(() => cpuBusyFraction(s2!, s2!)).toThrow(/no CPU time passed/);
  });

  it('meminfo: used fraction from MemAvailable, not MemFree', () => {
    const info = parseMeminfo(fixture('meminfo'));
    expect(info).toEqual({ totalBytes: 24683652 * 1024, availableBytes: 23410504 * 1024 });
    expect(memoryUsedFraction(info)).toBeCloseTo(1 - 23410504 / 24683652, 12);
  });

  it.each([
    ['loadavg that is not numbers', () => parseLoadavg('abc'), /unexpected loadavg format/],
    ['stat without its cpu line', () => parseProcStat('cpu0 1 2 3 4\n'), /no aggregate "cpu" line/],
    ['meminfo of an old kernel', () => parseMeminfo('MemTotal: 100 kB\nMemFree: 50 kB\n'), /no MemAvailable/],
    ['meminfo without MemTotal', () => parseMeminfo('MemAvailable: 50 kB\n'), /no MemTotal/],
  ])('refuses %s', (_name, parse, message) => {
    expect(parse).toThrow(message);
  });

  it('the example validates', () => {
    const parsed = parseToml(definition.example) as { trigger: unknown[] };
    expect(definition.schema.safeParse(parsed.trigger[0]).success).toBe(true);
  });
});

describe('system trigger', () => {
  const running: { trigger: Trigger; t: TestContext; dir?: string }[] = [];
  afterEach(async () => {
    for (const { trigger, t, dir } of running.splice(0)) {
      await trigger.stop();
      t.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  async function start(config: Record<string, unknown>, options: { clock?: VirtualClock; dir?: string } = {}) {
    const t = testContext('trigger', 'host', { clock: options.clock });
    const parsed = definition.schema.parse({ type: 'system', id: 'host', ...config });
    const trigger = await definition.create(parsed, t.ctx);
    running.push({ trigger, t, dir: options.dir });
    await trigger.start();
    return t;
  }

  it('the first poll measures CPU over one window; later polls since the previous one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-proc-'));
    for (const name of ['loadavg', 'meminfo']) copyFileSync(join(FIXTURES, name), join(dir, name));
    copyFileSync(join(FIXTURES, 'stat-1'), join(dir, 'stat'));
    const clock = new VirtualClock();
    // The first poll reads stat synchronously at start, then waits on the clock.
    const t = await start({ metric: 'cpu', proc_path: dir, interval: '5s' }, { clock, dir });
    expect(t.events).toEqual([]);
    copyFileSync(join(FIXTURES, 'stat-2'), join(dir, 'stat'));
    await clock.advance(CPU_WINDOW_MS);
    expect(t.events.map((e) => e.topic)).toEqual(['trigger.host.output']);
    expect(t.events[0]?.data).toMatchObject({
      value: 1,
      metric: 'cpu',
      cpu: 1,
      cpu_window_ms: CPU_WINDOW_MS,
      cpu_count: 2,
      load1: 6.93,
      load5: 4.94,
      load15: 2.4,
      memory_total_bytes: 24683652 * 1024,
    });
    copyFileSync(join(FIXTURES, 'stat-3'), join(dir, 'stat'));
    await clock.advance(5000 - CPU_WINDOW_MS);
    expect(t.events.map((e) => e.topic)).toEqual(['trigger.host.output', 'trigger.host.output']);
    expect(t.events[1]?.data.value).toBeCloseTo(0.3, 10);
    expect(t.events[1]?.data.cpu_window_ms).toBe(5000 - CPU_WINDOW_MS);
  });

  it('metric picks the value; the other figures stay as details', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-proc-'));
    for (const name of ['loadavg', 'meminfo']) copyFileSync(join(FIXTURES, name), join(dir, name));
    copyFileSync(join(FIXTURES, 'stat-2'), join(dir, 'stat'));
    const clock = new VirtualClock();
    const t = await start({ metric: 'load5', proc_path: dir }, { clock, dir });
    copyFileSync(join(FIXTURES, 'stat-3'), join(dir, 'stat'));
    await clock.advance(CPU_WINDOW_MS);
    expect(t.events[0]?.data).toMatchObject({ value: 4.94, metric: 'load5', load1: 6.93 });
    expect(t.events[0]?.data.cpu).toBeCloseTo(0.3, 10);
  });

  it('without /proc, every poll is an error event naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-noproc-'));
    const clock = new VirtualClock();
    const t = await start({ metric: 'memory', proc_path: dir }, { clock, dir });
    await clock.advance(0);
    expect(t.events.map((e) => e.topic)).toEqual(['trigger.host.error']);
    expect(String(t.events[0]?.data.error)).toContain(`cannot read ${join(dir, 'stat')}`);
  });

  it.skipIf(process.platform !== 'linux')('reads the real /proc of this host', async () => {
    const t = testContext('trigger', 'host', { hasInput: true });
    const trigger = await definition.create(
      definition.schema.parse({ type: 'system', id: 'host', metric: 'memory' }),
      t.ctx,
    );
    running.push({ trigger, t });
    await trigger.start();
    await trigger.fire?.({ id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} });
    expect(t.events.map((e) => e.topic)).toEqual(['trigger.host.output']);
    const data = t.events[0]?.data as Record<string, number>;
    expect(data.value).toBe(data.memory);
    for (const key of ['cpu', 'memory']) {
      expect(data[key]).toBeGreaterThanOrEqual(0);
      expect(data[key]).toBeLessThanOrEqual(1);
    }
    expect(data.memory).toBeGreaterThan(0);
    expect(data.cpu_count).toBe(cpus().length);
    expect(data.memory_available_bytes).toBeLessThan(data.memory_total_bytes as number);
  });
});
