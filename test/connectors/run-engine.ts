/**
 * Runs a config through the real engine for connector tests: config text → loadConfigText
 * with the default registry → the daemon's assembly (src/daemon.ts) on a clock of the test's choosing, no HTTP server,
 * state in memory. Records every event on the bus.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import { type Clock, settle, VirtualClock } from '../../src/core/clock.js';
import type { ComponentFactory, Engine } from '../../src/core/engine.js';
import type { WaymondEvent } from '../../src/core/types.js';
import { createDaemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../src/registry.js';
import type { Metrics } from '../../src/server/metrics.js';

export interface RunningEngine {
  engine: Engine;
  /** The Prometheus metrics the engine reports to. */
  metrics: Metrics;
  clock: Clock;
  events: WaymondEvent[];
  /** Data of the events on `topic`, oldest first. */
  on(topic: string): Record<string, unknown>[];
  /** Lets every async hand-off (bus → connector → reconciler → scaler) finish. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/** The config's issues as printed by `waymond validate`, or [] when it loads. */
export function configMessages(text: string): string[] {
  const result = loadConfigText(text, '/etc/waymond/w.toml', defaultRegistry(), {}, 'w.toml');
  return (result.ok ? result.config.warnings : result.issues).map(formatIssue);
}

/** Triggers created but never started: the test feeds their outputs itself. */
const withoutTriggers: ComponentFactory = (c, ctx) =>
  c.kind === 'trigger' ? { start() {}, stop() {} } : c.definition.create(c.config, ctx);

export async function runEngine(
  text: string,
  options: { clock?: Clock; file?: string; startTriggers?: boolean } = {},
): Promise<RunningEngine> {
  // A real directory: scalers that run commands (exec, process) use it as their cwd.
  const file = options.file ?? join(mkdtempSync(join(tmpdir(), 'waymond-engine-')), 'w.toml');
  const loaded = loadConfigText(text, file, defaultRegistry(), {}, 'w.toml');
  if (!loaded.ok) throw new Error(loaded.issues.map(formatIssue).join('\n'));
  const clock = options.clock ?? new VirtualClock();
  const { engine, metrics } = createDaemon(loaded.config, {
    logger: pino({ level: process.env.WAYMOND_TEST_LOG ?? 'silent' }),
    clock,
    http: false,
    statePath: ':memory:',
    ...(options.startTriggers === false ? { create: withoutTriggers } : {}),
    shutdownGraceMs: 5000,
  });
  const events: WaymondEvent[] = [];
  engine.bus.subscribeAll((e) => events.push(e));
  await engine.start();
  const settleAll = async () => {
    // A reconcile chain (policy → cascade → tiers) takes several turns; settle until quiet.
    for (let i = 0; i < 10; i++) await settle();
  };
  await settleAll();
  return {
    engine,
    metrics,
    clock,
    events,
    on: (topic) => events.filter((e) => e.topic === topic).map((e) => e.data),
    settle: settleAll,
    stop: () => engine.stop(),
  };
}
