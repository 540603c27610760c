/**
 * Assembly at the edge: the daemon's store (SQLite), its metrics (Prometheus), its HTTP
 * server (fastify) and the checked component graph, handed to the core's Engine. `waymond
 * run` uses it; so do tests and benchmarks that want the daemon as a person runs it.
 */
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/load.js';
import type { Clock } from './core/clock.js';
import { type ComponentFactory, Engine } from './core/engine.js';
import { buildGraph } from './core/graph.js';
import type { Store } from './core/store.js';
import { createHttpServer, type ListenOptions } from './server/http.js';
import { Metrics } from './server/metrics.js';
import { SqliteStore } from './store/sqlite.js';
import { acquireStateLock, type StateLock } from './store/state-lock.js';

export interface DaemonOptions {
  logger: Logger;
  clock?: Clock;
  /** SQLite file; default `[store] path`, else `<config dir>/.waymond/state.db`. ":memory:" for tests. */
  statePath?: string;
  /** Another store instead of SQLite (the simulator's in-memory one). */
  store?: Store;
  dryRun?: boolean;
  /** Overrides the config's [http] section; `false` runs without an HTTP server. */
  http?: ListenOptions | false;
  shutdownGraceMs?: number;
  /** Node's process metrics (CPU, memory, event loop) on /metrics beside waymond's. */
  processMetrics?: boolean;
  create?: ComponentFactory;
}

export interface Daemon {
  engine: Engine;
  /** The Prometheus metrics the engine reports to (served on /metrics). */
  metrics: Metrics;
  /** The graceful shutdown: stops the engine, then lets go of the state file's lock. */
  stop(): Promise<void>;
}

/**
 * Builds the daemon for a loaded config; `engine.start()` starts it. On a state file it
 * first takes the state lock, so a second daemon on the same state throws StateInUseError
 * (naming the holder's pid) before it opens the store or creates any component.
 */
export function createDaemon(config: LoadedConfig, options: DaemonOptions): Daemon {
  const configDir = dirname(config.file);
  const statePath = options.statePath ?? config.store.path ?? join(configDir, '.waymond', 'state.db');
  const stateDir = statePath === ':memory:' ? join(configDir, '.waymond') : dirname(statePath);
  const lock: StateLock | undefined =
    options.store === undefined && statePath !== ':memory:' ? acquireStateLock(statePath) : undefined;
  const metrics = new Metrics({ processMetrics: options.processMetrics });
  let store: Store;
  try {
    store =
      options.store ??
      new SqliteStore(statePath, {
        retention: config.store.retention,
        onWriteError: (message, count) => options.logger.error({ failed_writes: count }, message),
        onWriteFailure: () => metrics.storeErrors.inc(),
        onRecovered: (message) => options.logger.error(message),
      });
  } catch (error) {
    lock?.release();
    throw error;
  }
  const listen = options.http === false ? undefined : (options.http ?? listenOf(config.http));
  const engine = new Engine(buildGraph(config.components), {
    logger: options.logger,
    store,
    metrics,
    configDir,
    stateDir,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.dryRun !== undefined ? { dryRun: options.dryRun } : {}),
    ...(options.shutdownGraceMs !== undefined ? { shutdownGraceMs: options.shutdownGraceMs } : {}),
    ...(options.create ? { create: options.create } : {}),
    ...(listen ? { serve: (e, routes) => createHttpServer(e, routes, listen, metrics) } : {}),
  });
  return {
    engine,
    metrics,
    async stop() {
      try {
        await engine.stop();
      } finally {
        lock?.release();
      }
    },
  };
}

/** The [http] section as the server takes it: the token read from the variable it names. */
export function listenOf(http: LoadedConfig['http'], env: NodeJS.ProcessEnv = process.env): ListenOptions {
  const token = http.token_env ? env[http.token_env] : undefined;
  return { host: http.host, port: http.port, ...(token ? { token } : {}) };
}
