import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/bus.js';
import { settle, VirtualClock } from '../../src/core/clock.js';
import { Reconciler, type ReconcilerSettings } from '../../src/core/reconciler.js';
import type { Observation, WaymondEvent } from '../../src/core/types.js';
import { Metrics } from '../../src/server/metrics.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { GatedTarget } from '../helpers/gated-target.js';

const logger = pino({ level: 'silent' });
const stores: SqliteStore[] = [];

function setup(settings: Partial<ReconcilerSettings> = {}, options: { dryRun?: boolean; store?: SqliteStore } = {}) {
  const clock = new VirtualClock();
  const bus = new EventBus(clock, logger);
  const store = options.store ?? new SqliteStore(':memory:');
  stores.push(store);
  const target = new GatedTarget();
  const events: WaymondEvent[] = [];
  bus.subscribeAll((e) => events.push(e));
  const reconciler = new Reconciler({
    address: 'scaler.t',
    scaler: target,
    settings: { min: 0, max: 10, resync_interval: 30_000, retry_initial: 1000, retry_max: 60_000, ...settings },
    clock,
    bus,
    store,
    logger,
    random: () => 0.5,
    dryRun: options.dryRun,
  });
  const input = (data: Record<string, unknown>) =>
    reconciler.handleInput(bus.emit('scaler.t.input', 'connector.c', data));
  return { clock, bus, store, target, events, reconciler, input };
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

describe('Reconciler', () => {
  it('applies a desired count and records the decision', async () => {
    const { target, store, reconciler } = setup();
    const result = await reconciler.reconcileNow(3, {}, 'e1', 'queue 9 / 3 per agent = 3');
    expect(result).toMatchObject({ outcome: 'ok', observed: 0, desired: 3, action: 'scale_up +3 (0 -> 3)' });
    expect(target.count).toBe(3);
    const [decision] = await store.listDecisions({ scaler: 'scaler.t' });
    expect(decision).toMatchObject({
      scaler: 'scaler.t',
      sourceEvent: 'e1',
      observed: 0,
      desired: 3,
      outcome: 'ok',
      reason: 'queue 9 / 3 per agent = 3',
    });
  });

  it('latest wins: requests arriving during an apply coalesce into the newest one', async () => {
    const { target, reconciler, clock } = setup();
    target.hold();
    reconciler.request(1, {});
    await settle();
    for (const n of [2, 3, 4, 5, 7]) reconciler.request(n, {});
    target.release();
    await clock.advance(10);
    await reconciler.idle();
    expect(target.applies.map((p) => p.desired)).toEqual([1, 7]);
    expect(target.count).toBe(7);
  });

  it('never runs two applies on the same target at once', async () => {
    const { target, reconciler } = setup();
    target.hold();
    const first = reconciler.reconcileNow(2, {});
    const second = reconciler.reconcileNow(4, {});
    await settle();
    expect(target.concurrent).toBe(1);
    target.release();
    await Promise.all([first, second]);
    expect(target.maxConcurrent).toBe(1);
    expect(target.count).toBe(4);
  });

  it('clamps to max and to min, saying so in the reason', async () => {
    const { target, reconciler } = setup({ min: 2, max: 5 });
    const high = await reconciler.reconcileNow(50, {}, null, 'asked 50');
    expect(high.desired).toBe(5);
    expect(high.reason).toBe('asked 50, capped by max 5');
    const low = await reconciler.reconcileNow(0, {}, null, 'asked 0');
    expect(low.desired).toBe(2);
    expect(low.reason).toBe('asked 0, raised to min 2');
    expect(target.count).toBe(2);
  });

  it.each([
    ['negative', { desired: -1 }, 'invalid desired: expected an integer >= 0, found -1'],
    ['fractional', { desired: 2.5 }, 'invalid desired: expected an integer >= 0, found 2.5'],
    ['NaN', { desired: Number.NaN }, 'invalid desired: expected an integer >= 0, found NaN'],
    ['a string', { desired: '5' }, 'invalid desired: expected an integer >= 0, found string "5"'],
    ['missing', { queue: 'a' }, 'missing desired count: expected "desired" (an integer >= 0) in the event data'],
    [
      'a bad desired_count',
      { desired_count: null },
      'invalid desired_count: expected an integer >= 0, found object null',
    ],
  ])('rejects %s desired with an error event and leaves the target alone', async (_name, data, message) => {
    const { target, reconciler, events, input, store } = setup();
    await reconciler.reconcileNow(3, {});
    input(data);
    await reconciler.idle();
    expect(target.applies).toHaveLength(1);
    expect(target.count).toBe(3);
    const error = events.find((e) => e.topic === 'scaler.t.error');
    expect(error?.data.error).toBe(message);
    expect((await store.listDecisions({ limit: 1 }))[0]).toMatchObject({ outcome: 'rejected', error: message });
  });

  it("reads the original's desired_count, and a static count when the event has none", async () => {
    const { target, reconciler, input } = setup({ count: 2 });
    input({ desired_count: 4 });
    await reconciler.idle();
    expect(target.count).toBe(4);
    input({ time: 'tick' });
    await reconciler.idle();
    expect(target.count).toBe(2);
  });

  it('retries a failed apply with exponential backoff, then succeeds', async () => {
    const { target, reconciler, clock, events } = setup({ retry_initial: 1000, retry_max: 8000 });
    target.failNext = 3;
    const first = await reconciler.reconcileNow(3, {});
    expect(first.outcome).toBe('error');
    expect(first.error).toBe('target API answered 503');
    // random() = 0.5: delays are 0.75 of 1s, 2s, 4s.
    await clock.advance(749);
    expect(target.applies).toHaveLength(0);
    await clock.advance(1);
    await clock.advance(1500);
    await clock.advance(3000);
    await reconciler.idle();
    expect(target.count).toBe(3);
    expect(events.filter((e) => e.topic === 'scaler.t.error')).toHaveLength(3);
  });

  it("a new request does not wait out an earlier failure's backoff", async () => {
    const { target, reconciler } = setup({ retry_initial: 60_000 });
    target.failNext = 1;
    await reconciler.reconcileNow(3, {});
    const result = await reconciler.reconcileNow(4, {});
    expect(result.outcome).toBe('ok');
    expect(target.count).toBe(4);
  });

  it('resync re-applies the last desired count so drift heals, without recording no-op resyncs', async () => {
    const { target, reconciler, clock, store } = setup({ resync_interval: 30_000 });
    await reconciler.reconcileNow(3, {});
    reconciler.start();
    await clock.advance(30_000);
    expect(await store.listDecisions({})).toHaveLength(1);
    target.count = 1; // a member crashed
    await clock.advance(30_000);
    await reconciler.idle();
    expect(target.count).toBe(3);
    const latest = (await store.listDecisions({ limit: 1 }))[0];
    expect(latest).toMatchObject({ action: 'scale_up +2 (1 -> 3)', reason: 'resync of desired 3' });
    await reconciler.stop();
  });

  it('re-asserts the saved desired count after a restart', async () => {
    const store = new SqliteStore(':memory:');
    const first = setup({}, { store });
    await first.reconciler.reconcileNow(4, {});
    const second = setup({}, { store });
    second.reconciler.start();
    await second.reconciler.idle();
    expect(second.target.count).toBe(4);
    await second.reconciler.stop();
  });

  it('dry run decides and records but never applies', async () => {
    const { target, reconciler, store } = setup({}, { dryRun: true });
    const result = await reconciler.reconcileNow(5, {});
    expect(result.outcome).toBe('dry_run');
    expect(target.applies).toHaveLength(0);
    expect((await store.listDecisions({}))[0]).toMatchObject({ outcome: 'dry_run', desired: 5 });
  });

  it('publishes every reconcile on <address>.result', async () => {
    const { reconciler, events } = setup();
    await reconciler.reconcileNow(2, {});
    const result = events.find((e) => e.topic === 'scaler.t.result');
    expect(result?.data).toMatchObject({ scaler: 'scaler.t', outcome: 'ok', desired: 2 });
  });

  it('gives each target key its own lane', async () => {
    const { clock, bus } = setup();
    const counts = new Map<string, number>();
    const store = new SqliteStore(':memory:');
    stores.push(store);
    const reconciler = new Reconciler({
      address: 'scaler.asg',
      scaler: {
        targetKey: (data) => String(data.asg_name),
        observe: async (data) => ({ count: counts.get(String(data.asg_name)) ?? 0 }),
        apply: async (plan) => {
          counts.set(String(plan.data.asg_name), plan.desired);
        },
      },
      settings: { min: 0, max: 10, resync_interval: 30_000, retry_initial: 1000, retry_max: 60_000 },
      clock,
      bus,
      store,
      logger,
    });
    reconciler.request(2, { asg_name: 'a' });
    reconciler.request(5, { asg_name: 'b' });
    await reconciler.idle();
    expect(Object.fromEntries(counts)).toEqual({ a: 2, b: 5 });
    // Each lane is a target of its own; the scaler's one number is their sum.
    expect(reconciler.targets().map((t) => [t.target, t.desired, t.observed?.count])).toEqual([
      ['a', 2, 2],
      ['b', 5, 5],
    ]);
    expect([reconciler.lastObserved('a')?.count, reconciler.lastObserved()?.count, reconciler.lastDesired()]).toEqual([
      2, 7, 7,
    ]);
    expect(reconciler.targetOf({ asg_name: 'b' })).toBe('b');
    expect((await store.listDecisions({ scaler: 'scaler.asg' })).map((d) => d.target)).toEqual(['b', 'a']);
    // A rejected input is filed under the target its data names, and touches nothing.
    reconciler.handleInput(bus.emit('scaler.asg.input', 'connector.c', { desired: -1, asg_name: 'a' }));
    expect((await store.listDecisions({ scaler: 'scaler.asg', limit: 1 }))[0]).toMatchObject({
      target: 'a',
      outcome: 'rejected',
    });
    expect(Object.fromEntries(counts)).toEqual({ a: 2, b: 5 });
  });
});

describe('Reconciler notes and repeated resyncs', () => {
  it('appends what the target reports to the reason, and stores a repeating resync once', async () => {
    const clock = new VirtualClock();
    const bus = new EventBus(clock, logger);
    const store = new SqliteStore(':memory:');
    stores.push(store);
    let count = 0;
    const reconciler = new Reconciler({
      address: 'scaler.capped',
      // A target that never goes above 5 whatever is asked (like an ASG's MaxSize).
      scaler: {
        observe: async () => ({ count }),
        apply: async (plan) => {
          count = Math.min(plan.desired, 5);
          return plan.desired > 5 ? { note: "moved to the group's MaxSize 5" } : undefined;
        },
      },
      settings: { min: 0, max: 10, resync_interval: 1000, retry_initial: 1000, retry_max: 60_000 },
      clock,
      bus,
      store,
      logger,
    });
    const result = await reconciler.reconcileNow(8, {}, null, 'asked 8');
    expect(result.reason).toBe("asked 8; moved to the group's MaxSize 5");
    reconciler.start();
    await clock.advance(5000);
    await reconciler.stop();
    const reasons = (await store.listDecisions({ scaler: 'scaler.capped' })).map((d) => d.reason);
    expect(reasons).toEqual([
      "resync of desired 8; moved to the group's MaxSize 5",
      "asked 8; moved to the group's MaxSize 5",
    ]);
  });
});

/** Counts observes, to tell a resync that ran quietly from one that never ran. */
class CountingTarget extends GatedTarget {
  observes = 0;
  override async observe(): Promise<Observation> {
    this.observes++;
    return super.observe();
  }
}

describe('Quiet resyncs', () => {
  it('resyncs of an unchanged count that find nothing to do write nothing to SQLite and change no metric', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-quiet-resync-'));
    const path = join(dir, 'state.db');
    const store = new SqliteStore(path);
    await store.open();
    // A second connection: its data_version moves whenever the store commits anything.
    const watcher = new DatabaseSync(path);
    const dataVersion = () => (watcher.prepare('PRAGMA data_version').get() as { data_version: number }).data_version;
    try {
      const clock = new VirtualClock();
      const bus = new EventBus(clock, logger);
      const metrics = new Metrics();
      const target = new CountingTarget();
      const reconciler = new Reconciler({
        address: 'scaler.quiet',
        scaler: target,
        settings: { min: 0, max: 10, resync_interval: 1000, retry_initial: 1000, retry_max: 60_000 },
        clock,
        bus,
        store,
        logger,
        metrics,
        random: () => 0.5,
      });
      const results: WaymondEvent[] = [];
      bus.subscribe('scaler.quiet.result', 'test', (e) => {
        results.push(e);
      });
      reconciler.start();
      await reconciler.reconcileNow(3, { queue: 'builds' }, 'e1', 'queue 9 / 3 per agent');
      await store.flush();
      const before = {
        version: dataVersion(),
        wal: statSync(`${path}-wal`).size,
        rows: (await store.listDecisions({ limit: 10_000 })).length,
        metrics: await metrics.text(),
        observes: target.observes,
        results: results.length,
      };
      expect(before.rows).toBe(1);
      expect(before.metrics).toContain('waymond_scaler_desired_replicas{scaler="scaler.quiet"} 3');

      for (let i = 0; i < 50; i++) await clock.advance(1000);
      await reconciler.idle();
      await store.flush(); // anything queued would be written now

      expect(target.observes - before.observes).toBe(50);
      expect(dataVersion()).toBe(before.version);
      expect(statSync(`${path}-wal`).size).toBe(before.wal);
      expect(await store.listDecisions({ limit: 10_000 })).toHaveLength(before.rows);
      expect(await metrics.text()).toBe(before.metrics);
      expect(results).toHaveLength(before.results);

      // The same measures see a resync that does something: drift healed, stored, counted.
      target.count = 1;
      await clock.advance(1000);
      await reconciler.idle();
      await store.flush();
      expect(target.count).toBe(3);
      expect(dataVersion()).not.toBe(before.version);
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(before.wal);
      expect((await store.listDecisions({ limit: 1 }))[0]).toMatchObject({
        reason: 'resync of desired 3',
        observed: 1,
      });
      const after = await metrics.text();
      expect(after).toContain('waymond_scaler_reconciles_total{scaler="scaler.quiet",outcome="ok"} 2');
      expect(after).toContain('waymond_reconcile_duration_seconds_count 2');
      await reconciler.stop();
    } finally {
      watcher.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a restart re-asserting the saved count does not write it back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-quiet-restart-'));
    const path = join(dir, 'state.db');
    const first = new SqliteStore(path);
    await first.open();
    const clock = new VirtualClock();
    const bus = new EventBus(clock, logger);
    const target = new CountingTarget();
    const options = {
      address: 'scaler.quiet',
      scaler: target,
      settings: { min: 0, max: 10, resync_interval: 1000, retry_initial: 1000, retry_max: 60_000 },
      clock,
      bus,
      logger,
    };
    try {
      await new Reconciler({ ...options, store: first }).reconcileNow(2, {});
      await first.close();
      const second = new SqliteStore(path);
      await second.open();
      const watcher = new DatabaseSync(path);
      const version = () => (watcher.prepare('PRAGMA data_version').get() as { data_version: number }).data_version;
      try {
        const before = version();
        const metrics = new Metrics();
        const reconciler = new Reconciler({ ...options, store: second, metrics });
        reconciler.start();
        await reconciler.idle();
        await clock.advance(5000);
        await reconciler.idle();
        await second.flush();
        expect(target.observes).toBeGreaterThanOrEqual(6);
        expect(reconciler.lastDesired()).toBe(2);
        expect(version()).toBe(before);
        // Quiet, but the restarted daemon's /metrics still says what it holds.
        const text = await metrics.text();
        expect(text).toContain('waymond_scaler_desired_replicas{scaler="scaler.quiet"} 2');
        expect(text).toContain('waymond_scaler_current_replicas{scaler="scaler.quiet"} 2');
        await reconciler.stop();
      } finally {
        watcher.close();
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
