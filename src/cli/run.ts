import type { Logger } from 'pino';
import { formatIssue } from '../config/issues.js';
import { type LoadedConfig, loadConfigFile } from '../config/load.js';
import { buildGraph } from '../core/graph.js';
import { stableJson } from '../core/reload-diff.js';
import { createDaemon, type Daemon } from '../daemon.js';
import { defaultRegistry } from '../registry.js';
import { isLoopbackHost } from '../server/guard.js';
import { createLogger } from './logger.js';
import { printIssues } from './report.js';

export interface RunOptions {
  config: string;
  httpHost?: string;
  /** Overrides [http] token_env (the container image passes WAYMOND_TOKEN). */
  tokenEnv?: string;
  httpPort?: string;
  state?: string;
  dryRun?: boolean;
  logLevel: string;
}

export async function runCommand(options: RunOptions): Promise<number> {
  const logger: Logger = createLogger(options.logLevel);
  const loaded = loadConfigFile(options.config, defaultRegistry());
  if (!loaded.ok) {
    printIssues(loaded.issues);
    return 1;
  }
  printIssues(loaded.config.warnings);
  const http = loaded.config.http;
  const port = options.httpPort === undefined ? http.port : Number(options.httpPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`error: --http-port: expected a port number, found "${options.httpPort}"\n`);
    return 1;
  }
  const host = options.httpHost ?? http.host;
  const tokenEnv = options.tokenEnv ?? http.token_env;
  const token = tokenEnv ? process.env[tokenEnv] : undefined;
  if (tokenEnv && !token) {
    const named = options.tokenEnv ? '--token-env' : '[http] token_env';
    process.stderr.write(
      `error: ${options.config}: ${named} names ${tokenEnv}, which is not set or empty: set it to the admin token\n`,
    );
    return 1;
  }
  if (!isLoopbackHost(host) && !token) {
    process.stderr.write(
      `error: ${options.config}: the HTTP listener on ${host} is reachable from other machines and its API would need no credentials: set [http] token_env = "WAYMOND_TOKEN" (and that variable), or listen on 127.0.0.1\n`,
    );
    return 1;
  }
  const store = loaded.config.store;
  if (options.state !== undefined && (store.url !== undefined || store.dsn_env !== undefined)) {
    // Given, --state would win and quietly put this instance on a SQLite file of its own.
    process.stderr.write(
      `error: ${options.config}: --state names a SQLite file, but [store] ${store.url !== undefined ? 'url' : 'dsn_env'} keeps the state in PostgreSQL: drop --state, or remove [store] ${store.url !== undefined ? 'url' : 'dsn_env'}\n`,
    );
    return 1;
  }
  let daemon: Daemon;
  try {
    daemon = createDaemon(loaded.config, {
      logger,
      statePath: options.state,
      dryRun: options.dryRun,
      http: { host, port, ...(token ? { token } : {}) },
      processMetrics: true,
    });
  } catch (error) {
    // The state is locked by another daemon, or cannot be opened: nothing was touched.
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const { engine } = daemon;
  engine.setReloadSource(() => reloadFrom(options.config, loaded.config));

  let firstSignalAt: number | undefined;
  const done = new Promise<number>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      // A terminal's Ctrl-C reaches both a wrapper (npm, tsx) and us, and the wrapper
      // relays it: signals within a second of the first are the same request.
      if (firstSignalAt !== undefined) {
        if (Date.now() - firstSignalAt < 1000) return;
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      firstSignalAt = Date.now();
      logger.info({ signal }, 'shutting down');
      daemon.stop().then(
        () => resolve(0),
        (error) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
    // `systemctl reload` (ExecReload=kill -HUP): re-read the config; never the default (exit).
    process.on('SIGHUP', () => {
      logger.info({ signal: 'SIGHUP' }, 'reloading the config');
      engine.reloadConfig().catch((error) => logger.error({ err: errorText(error) }, 'reload failed'));
    });
  });

  try {
    await engine.start();
  } catch (error) {
    logger.fatal({ err: errorText(error) }, 'could not start');
    await daemon.stop().catch(() => undefined);
    return 1;
  }
  return done;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The config file read again for a reload: every error when it is invalid; else its graph,
 * and the daemon sections that changed but are not applied live (the listener and the
 * store are opened once, at start).
 */
export function reloadFrom(file: string, started: LoadedConfig) {
  const loaded = loadConfigFile(file, defaultRegistry());
  if (!loaded.ok) return { ok: false as const, errors: loaded.issues.map(formatIssue) };
  const notApplied = (['http', 'store'] as const)
    .filter((section) => stableJson(loaded.config[section]) !== stableJson(started[section]))
    .map((section) => `[${section}]`);
  return { ok: true as const, graph: buildGraph(loaded.config.components), notApplied };
}
