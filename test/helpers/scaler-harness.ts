/**
 * Runs one scaler behind the real Reconciler, bus and SQLite store, as the engine does
 * (including the engine's busy-aware scale-in wrapper), for scaler integration tests
 * that go beyond the conformance suite. `restart()` is a restart of waymond: same store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { EventBus } from '../../src/core/bus.js';
import { type Clock, RealClock } from '../../src/core/clock.js';
import { createComponentContext } from '../../src/core/context.js';
import type { Reconciler, ReconcilerSettings } from '../../src/core/reconciler.js';
import type { ComponentDefinition, Scaler, WaymondEvent } from '../../src/core/types.js';
import { wireScaler } from '../../src/core/wire-scaler.js';
import { SqliteStore } from '../../src/store/sqlite.js';

export interface Harness {
  id: string;
  dir: string;
  scaler: Scaler;
  reconciler: Reconciler;
  events: WaymondEvent[];
  /** A restart of waymond (same store); `dryRun` starts the new one with --dry-run. */
  restart(options?: { dryRun?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(
  definition: ComponentDefinition,
  id: string,
  raw: Record<string, unknown>,
  options: { dryRun?: boolean; clock?: Clock } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), `waymond-${definition.type}-`));
  const store = new SqliteStore(join(dir, 'state.db'));
  const clock = options.clock ?? new RealClock();
  const logger = pino({ level: process.env.WAYMOND_TEST_LOG ?? 'silent' });
  const events: WaymondEvent[] = [];
  const config = definition.schema.parse({
    type: definition.type,
    id,
    resync_interval: '1s',
    retry_initial: '100ms',
    retry_max: '500ms',
    ...raw,
  }) as Record<string, unknown>;
  const boot = async (dryRun: boolean) => {
    const bus = new EventBus(clock, logger);
    bus.subscribeAll((e) => events.push(e));
    const services = {
      clock,
      bus,
      store,
      logger,
      http: { route: () => undefined },
      scalers: { get: () => undefined },
      signal: new AbortController().signal,
      stateDir: dir,
      configDir: dir,
      dryRun,
    };
    const ctx = createComponentContext('scaler', id, services, { hasInput: true });
    const raw = (await definition.create(config, ctx)) as Scaler;
    const { scaler, reconciler } = wireScaler({
      address: ctx.address,
      scaler: raw,
      settings: config as unknown as ReconcilerSettings,
      clock,
      bus,
      store,
      logger,
      dryRun,
    });
    return { scaler, reconciler };
  };
  const harness: Harness = {
    id,
    dir,
    events,
    ...(await boot(options.dryRun ?? false)),
    async restart(again = {}) {
      await harness.reconciler.stop(5000);
      await harness.scaler.close?.();
      Object.assign(harness, await boot(again.dryRun ?? false));
    },
    async close() {
      await harness.reconciler.stop(5000);
      await harness.scaler.stopAll?.();
      await harness.scaler.close?.();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

export async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
