/**
 * Runs a real Prometheus for integration tests: finds the binary (Debian's `prometheus`
 * package, or PROMETHEUS_BIN), starts it on a free loopback port with a throwaway TSDB
 * directory, and stops exactly the process it started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export function findPrometheus(): string | undefined {
  const candidates = [
    process.env.PROMETHEUS_BIN,
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'prometheus')),
    '/usr/bin/prometheus',
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next place
    }
  }
  return undefined;
}

/** A loopback port that was free a moment ago (bound to port 0, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PrometheusOptions {
  /** host:port targets scraped at /metrics. */
  targets: string[];
  scrapeInterval?: string;
  /** Users for HTTP basic auth on Prometheus' own API: name → bcrypt hash. */
  basicAuthUsers?: Record<string, string>;
}

export interface RunningPrometheus {
  url: string;
  pid: number;
  /** Prometheus' stdout and stderr so far, for a failing test's message. */
  log(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const binary = findPrometheus();
  if (!binary) throw new Error('no prometheus binary (apt-get install prometheus, or set PROMETHEUS_BIN)');
  const dir = mkdtempSync(join(tmpdir(), 'waymond-prometheus-'));
  const interval = options.scrapeInterval ?? '1s';
  const targets = options.targets.map((t) => JSON.stringify(t)).join(', ');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: ${interval}\n  evaluation_interval: ${interval}\n` +
      `scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [${targets}]\n`,
  );
  const args = [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${await freePort()}`,
  ];
  if (options.basicAuthUsers) {
    const users = Object.entries(options.basicAuthUsers).map(([name, hash]) => `  ${name}: ${JSON.stringify(hash)}\n`);
    writeFileSync(join(dir, 'web.yml'), `basic_auth_users:\n${users.join('')}`);
    args.push(`--web.config.file=${join(dir, 'web.yml')}`);
  }
  const address = (args[2] as string).split('=')[1] as string;
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error(`could not start ${binary}`);
  const pid = child.pid;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      const killer = setTimeout(() => child.exitCode === null && process.kill(pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const running: RunningPrometheus = { url: `http://${address}`, pid, log: () => output, stop };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
      const response = await fetch(`${running.url}/-/ready`).catch(() => undefined);
      // 401 means it is up and guarding its API with the basic auth we asked for.
      return response !== undefined && (response.ok || response.status === 401);
    }, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return running;
}

/** Retries `check` every 100 ms until it returns true; rethrows what it throws. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting after ${timeoutMs} ms`);
}
