/**
 * Builds a real ComponentContext (real EventBus, real SqliteStore in memory, a clock of the
 * test's choosing) so a component can be exercised on its own. Nothing here is a mock: it
 * is the same wiring the engine uses, minus the engine.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { EventBus } from '../../src/core/bus.js';
import { type Clock, RealClock } from '../../src/core/clock.js';
import { createComponentContext } from '../../src/core/context.js';
import type {
  ComponentContext,
  ComponentKind,
  RouteHandler,
  ScalerHandle,
  WaymondEvent,
} from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/sqlite.js';

export interface TestContext {
  ctx: ComponentContext;
  bus: EventBus;
  store: SqliteStore;
  clock: Clock;
  /** Every event seen on the bus, in order. */
  events: WaymondEvent[];
  /** Routes the component mounted, by "METHOD path". */
  routes: Map<string, RouteHandler>;
  abort: AbortController;
  scalers: Map<string, ScalerHandle>;
  close(): void;
}

export function testContext(
  kind: ComponentKind,
  id: string,
  options: { clock?: Clock; hasInput?: boolean; dryRun?: boolean; stateDir?: string; configDir?: string } = {},
): TestContext {
  const clock = options.clock ?? new RealClock();
  const logger = pino({ level: process.env.WAYMOND_TEST_LOG ?? 'silent' });
  const bus = new EventBus(clock, logger);
  const store = new SqliteStore(':memory:');
  const events: WaymondEvent[] = [];
  bus.subscribeAll((e) => events.push(e));
  const routes = new Map<string, RouteHandler>();
  const abort = new AbortController();
  const scalers = new Map<string, ScalerHandle>();
  const ctx = createComponentContext(
    kind,
    id,
    {
      clock,
      bus,
      store,
      logger,
      http: { route: (method, path, handler) => routes.set(`${method} ${path}`, handler) },
      scalers: { get: (address) => scalers.get(address) },
      signal: abort.signal,
      stateDir: options.stateDir ?? mkdtempSync(join(tmpdir(), 'waymond-test-')),
      configDir: options.configDir ?? process.cwd(),
      dryRun: options.dryRun ?? false,
    },
    { hasInput: options.hasInput ?? false },
  );
  return {
    ctx,
    bus,
    store,
    clock,
    events,
    routes,
    abort,
    scalers,
    close() {
      abort.abort();
      store.close();
    },
  };
}
