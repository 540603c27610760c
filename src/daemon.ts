/**
 * Assembly at the edge: the daemon's store (SQLite, or PostgreSQL with `[store] url`), its metrics (Prometheus), its HTTP
 * server (fastify) and the checked component graph, handed to the core's Engine. `waymond
 * run` uses it; so do tests and benchmarks that want the daemon as a person runs it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { createClusterOwnership } from './cluster/index.js';
import type { LoadedConfig } from './config/load.js';
import type { Clock } from './core/clock.js';
import type { RunningServer } from './core/engine.js';
import { type ComponentFactory, Engine } from './core/engine.js';
import { buildGraph } from './core/graph.js';
import type { Store } from './core/store.js';
import { mountCluster } from './server/cluster.js';
import { createHooksServer, createHttpServer, type HttpServer, type ListenOptions } from './server/http.js';
import { Metrics } from './server/metrics.js';
import { PostgresStore } from './store/postgres.js';
import { SqliteStore } from './store/sqlite.js';
import { acquireStateLock, type StateLock } from './store/state-lock.js';

export interface DaemonOptions {
  logger: Logger;
  clock?: Clock;
  /** SQLite file; default `[store] path`, else `<config dir>/.waymond/state.db`. ":memory:" for tests. Given, it wins over `[store] url`. */
  statePath?: string;
  /** Another store instead of SQLite (the simulator's in-memory one). */
  store?: Store;
  dryRun?: boolean;
  /** Overrides the config's [http] host, port and token (its TLS files still apply); `false` runs without an HTTP server. */
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
  const metrics = new Metrics({ processMetrics: options.processMetrics });
  const server = options.store === undefined && options.statePath === undefined ? serverUrlOf(config.store) : undefined;
  const statePath = options.statePath ?? config.store.path ?? join(configDir, '.waymond', 'state.db');
  const stateDir = server !== undefined || statePath === ':memory:' ? join(configDir, '.waymond') : dirname(statePath);
  // The state lock is SQLite's: a server store is shared by design ([cluster] decides who applies).
  const lock: StateLock | undefined =
    options.store === undefined && server === undefined && statePath !== ':memory:'
      ? acquireStateLock(statePath)
      : undefined;
  const onWriteError = (message: string, count: number) => options.logger.error({ failed_writes: count }, message);
  const onWriteFailure = () => metrics.storeErrors.inc();
  let store: Store;
  try {
    store =
      options.store ??
      (server !== undefined
        ? new PostgresStore({
            url: server,
            ...(config.store.schema !== undefined ? { schema: config.store.schema } : {}),
            retention: config.store.retention,
            onWriteError,
            onWriteFailure,
            onRecovered: (message) => options.logger.warn(message),
          })
        : new SqliteStore(statePath, {
            retention: config.store.retention,
            retentionBytes: config.store.retention_bytes,
            onWriteError,
            onWriteFailure,
            onRecovered: (message) => options.logger.error(message),
          }));
  } catch (error) {
    lock?.release();
    throw error;
  }
  let listen: ListenOptions | undefined;
  let hooks: ListenOptions | undefined;
  try {
    // Certificates are read now, so a missing one is a named error before anything starts.
    listen =
      options.http === false
        ? undefined
        : { ...tlsOf(config.http, 'http', configDir), ...(options.http ?? listenOf(config.http)) };
    hooks =
      listen && config.hooks
        ? { host: config.hooks.host, port: config.hooks.port, ...tlsOf(config.hooks, 'hooks', configDir) }
        : undefined;
  } catch (error) {
    lock?.release();
    void store.close();
    throw error;
  }
  // [cluster]: scalers apply only under their lease (src/cluster, docs/ha.md).
  const cluster = config.cluster
    ? createClusterOwnership(config.cluster, () => serverUrlOf(config.store), options.logger, metrics.registry)
    : undefined;
  if (listen && cluster) listen.mount = (app) => mountCluster(app, cluster);
  const serve = (e: Engine, routes: Parameters<typeof createHttpServer>[1]): Promise<RunningServer> =>
    serveAll(e, routes, listen as ListenOptions, hooks, metrics, options.logger);
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
    ...(listen ? { serve } : {}),
    ...(cluster ? { ownership: cluster } : {}),
  });
  cluster?.attach(engine);
  return {
    engine,
    metrics,
    async stop() {
      try {
        await engine.stop();
        // After the engine: no apply is in flight any more when the leases are released.
        await cluster?.close();
      } finally {
        lock?.release();
      }
    },
  };
}

/** The PostgreSQL URL of `[store]` (`url`, or the variable `dsn_env` names), or undefined for SQLite. */
export function serverUrlOf(store: LoadedConfig['store'], env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (store.url !== undefined) return store.url;
  if (store.dsn_env === undefined) return undefined;
  const value = env[store.dsn_env];
  if (value === undefined || value.trim() === '')
    throw new Error(
      `[store] dsn_env: environment variable ${store.dsn_env} is not set (it should hold the PostgreSQL URL)`,
    );
  return value;
}

/** The [http] section as the server takes it: the token read from the variable it names. */
export function listenOf(http: LoadedConfig['http'], env: NodeJS.ProcessEnv = process.env): ListenOptions {
  const token = http.token_env ? env[http.token_env] : undefined;
  return { host: http.host, port: http.port, ...(token ? { token } : {}) };
}

/** The HTTPS material of a listener's section, read now; a file that cannot be read names its field. */
export function tlsOf(
  section: { tls_cert_file?: string; tls_key_file?: string },
  name: 'http' | 'hooks',
  configDir: string,
): Pick<ListenOptions, 'tls'> {
  if (section.tls_cert_file === undefined || section.tls_key_file === undefined) return {};
  const read = (field: 'tls_cert_file' | 'tls_key_file', file: string): Buffer => {
    const path = resolve(configDir, file);
    try {
      return readFileSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new Error(`[${name}] ${field}: cannot read ${path} (${code})`);
    }
  };
  return {
    tls: { cert: read('tls_cert_file', section.tls_cert_file), key: read('tls_key_file', section.tls_key_file) },
  };
}

/**
 * The admin listener, and the public hooks listener when [hooks] is set (then the admin
 * one serves no hooks). Both are bound here, before the engine creates any component; if
 * the second cannot bind, the first is closed again.
 */
async function serveAll(
  engine: Engine,
  routes: Parameters<typeof createHttpServer>[1],
  listen: ListenOptions,
  hooks: ListenOptions | undefined,
  metrics: Metrics,
  logger: Logger,
): Promise<RunningServer> {
  const admin = await createHttpServer(engine, routes, { ...listen, serveHooks: hooks === undefined }, metrics);
  let public_: HttpServer | undefined;
  if (hooks) {
    try {
      public_ = await createHooksServer(routes, hooks);
    } catch (error) {
      await admin.close();
      throw new Error(`[hooks] listener on ${hooks.host}:${hooks.port}: ${(error as Error).message}`);
    }
    logger.info({ url: public_.url }, 'webhooks listening');
  }
  return {
    url: admin.url,
    close: async () => {
      await public_?.close();
      await admin.close();
    },
  };
}
