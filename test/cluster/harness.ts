/**
 * Three real `waymond run` processes on one config, scaling `http` scalers whose target is a
 * local HTTP server that records every apply with the `X-Instance` header naming the instance
 * that sent it: the tests see exactly who applied what, and when.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, waitUntil } from '../helpers/daemon.js';

export interface Apply {
  scaler: string;
  desired: number;
  instance: string;
  /** The X-Waymond-Fence header: the token of the lease the apply was fenced with. */
  fence: string;
  at: number;
}

/** The fleets: one count per scaler; POST /apply/<id> sets it, GET /pool/<id> reads it. */
export interface Poll {
  poller: string;
  instance: string;
  at: number;
}

export interface Target {
  url: string;
  applies: Apply[];
  /** GET /poll/<id>: each poll of an `http_client` trigger, with the instance that made it. */
  polls: Poll[];
  counts: Map<string, number>;
  close(): Promise<void>;
}

export async function startTarget(): Promise<Target> {
  const applies: Apply[] = [];
  const polls: Poll[] = [];
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const [, kind, id] = (req.url ?? '').split('/');
    if (req.method === 'GET' && kind === 'poll' && id) {
      polls.push({ poller: id, instance: String(req.headers['x-instance'] ?? '?'), at: Date.now() });
      res.setHeader('content-type', 'application/json');
      res.end('{"desired":1}');
      return;
    }
    if (req.method === 'GET' && kind === 'pool' && id) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ current: counts.get(id) ?? 0 }));
      return;
    }
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      if (req.method === 'POST' && kind === 'apply' && id) {
        const { desired } = JSON.parse(body) as { desired: number };
        const instance = String(req.headers['x-instance'] ?? '?');
        const fence = String(req.headers['x-waymond-fence'] ?? '');
        applies.push({ scaler: id, desired, instance, fence, at: Date.now() });
        counts.set(id, desired);
        res.end('{}');
        return;
      }
      res.statusCode = 404;
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    applies,
    polls,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const scalerIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `s${String(i).padStart(2, '0')}`);

/** The shared config: `n` http scalers; the first `hooks` of them fed by a webhook each. */
export function clusterConfig(o: {
  cluster: string;
  target: string;
  scalers: number;
  hooks: number;
  leaseTtl: string;
  resync: string;
  /** `http_client` triggers polling GET /poll/p<i> every 300 ms, each feeding a noop scaler. */
  pollers?: number;
}): string {
  const lines = [
    '[http]',
    'port = 0',
    '',
    '[cluster]',
    o.cluster.trim(),
    `lease_ttl = "${o.leaseTtl}"`,
    'instance_id = "${INSTANCE}"',
    '',
  ];
  scalerIds(o.scalers).forEach((id, i) => {
    lines.push(
      '[[scaler]]',
      'type = "http"',
      `id = "${id}"`,
      `url = "${o.target}/apply/${id}"`,
      `observe_url = "${o.target}/pool/${id}"`,
      'headers = { "X-Instance" = "${INSTANCE}" }',
      `resync_interval = "${o.resync}"`,
      'retry_initial = "200ms"',
      'retry_max = "1s"',
      '',
    );
    if (i < o.hooks) {
      lines.push(
        '[[trigger]]',
        'type = "http_endpoint"',
        `id = "hook_${id}"`,
        '',
        '[[connect]]',
        'type = "direct"',
        `id = "to_${id}"`,
        `from = "trigger.hook_${id}"`,
        `to = "scaler.${id}"`,
        '',
      );
    }
  });
  for (let i = 0; i < (o.pollers ?? 0); i++) {
    lines.push(
      '[[trigger]]',
      'type = "http_client"',
      `id = "poll_p${i}"`,
      `url = "${o.target}/poll/p${i}"`,
      'interval = "300ms"',
      'headers = { "X-Instance" = "${INSTANCE}" }',
      '',
      '[[connect]]',
      'type = "direct"',
      `id = "poll_to_p${i}"`,
      `from = "trigger.poll_p${i}"`,
      `to = "scaler.polled_p${i}"`,
      '',
      '[[scaler]]',
      'type = "noop"',
      `id = "polled_p${i}"`,
      '',
    );
  }
  return lines.join('\n');
}

export interface Instance {
  id: string;
  child: ChildProcess;
  url: string;
  logs: string[];
  exited: Promise<number | null>;
}

export interface ClusterUnderTest {
  dir: string;
  config: string;
  instances: Map<string, Instance>;
  start(id: string): Promise<Instance>;
  /** Every instance still running is stopped (SIGCONT first, SIGKILL after 10 s), then the dir removed. */
  close(): Promise<void>;
}

/**
 * `sqliteState: false` leaves out `--state` (which would put the instance on a SQLite file of
 * its own), so a config's `[store] url` is used.
 */
export function clusterUnderTest(configText: string, options: { sqliteState?: boolean } = {}): ClusterUnderTest {
  const dir = mkdtempSync(join(tmpdir(), 'waymond-cluster-'));
  const config = join(dir, 'waymond.toml');
  writeFileSync(config, configText);
  const instances = new Map<string, Instance>();
  return {
    dir,
    config,
    instances,
    async start(id) {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'run',
          '-c',
          config,
          ...(options.sqliteState === false ? [] : ['--state', join(dir, `${id}.db`)]),
        ],
        {
          cwd: ROOT,
          env: { ...process.env, WAYMOND_LOG_FORMAT: 'json', INSTANCE: id, LOG_LEVEL: 'info' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const logs: string[] = [];
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      let buffer = '';
      let url: string | undefined;
      child.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          logs.push(line);
          try {
            const entry = JSON.parse(line) as { msg?: string; url?: string };
            if (entry.msg === 'waymond started' && entry.url) url = entry.url;
          } catch {
            // not JSON
          }
        }
      });
      child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
      let gone = false;
      void exited.then(() => {
        gone = true;
      });
      await waitUntil(() => url !== undefined || gone, `${id} to start`, 30_000);
      if (!url) throw new Error(`${id} exited before it started:\n${logs.join('\n')}`);
      const instance = { id, child, url, logs, exited };
      instances.set(id, instance);
      return instance;
    },
    async close() {
      // WAYMOND_TEST_LOGS=dir keeps each instance's log there (to read a failure).
      const keep = process.env.WAYMOND_TEST_LOGS;
      if (keep) {
        mkdirSync(keep, { recursive: true });
        for (const i of instances.values()) writeFileSync(join(keep, `${i.id}.log`), i.logs.join('\n'));
      }
      await Promise.all(
        [...instances.values()].map(async (i) => {
          if (i.child.exitCode !== null || i.child.signalCode !== null) return;
          i.child.kill('SIGCONT');
          i.child.kill('SIGTERM');
          const timer = setTimeout(() => i.child.kill('SIGKILL'), 10_000);
          await i.exited;
          clearTimeout(timer);
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ClusterStatus {
  instance: string;
  healthy: boolean;
  members: { id: string; owns: string[] }[];
  leases: { key: string; holder: string; token: string; expiresInMs: number | null; components: string[] }[];
}

export async function clusterStatus(instance: Instance): Promise<ClusterStatus> {
  const response = await fetch(`${instance.url}/api/cluster`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`${instance.id} /api/cluster answered ${response.status}`);
  return (await response.json()) as ClusterStatus;
}

/** Which instance holds each scaler's lease, by the backend, as one instance sees it. */
export async function ownersOf(instance: Instance): Promise<Map<string, string>> {
  const status = await clusterStatus(instance);
  const owners = new Map<string, string>();
  for (const lease of status.leases)
    for (const c of lease.components) if (c.startsWith('scaler.')) owners.set(c.slice('scaler.'.length), lease.holder);
  return owners;
}

export async function fire(instance: Instance, scaler: string, desired: number): Promise<void> {
  const response = await fetch(`${instance.url}/api/fire/scaler.${scaler}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ desired }),
  });
  if (response.status !== 202) throw new Error(`fire at ${instance.id} answered ${response.status}`);
}

export async function readyz(instance: Instance): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${instance.url}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.json() };
}

/**
 * Per scaler, the instances that applied it in order, with consecutive repeats merged: a
 * scaler applied by A, then (after A died) by B is [A, B]; [A, B, A] would mean two
 * appliers overlapped (or the lease went back, which these tests never cause).
 */
export function applierRuns(applies: readonly Apply[], scaler: string): string[] {
  const runs: string[] = [];
  for (const a of applies) if (a.scaler === scaler && runs[runs.length - 1] !== a.instance) runs.push(a.instance);
  return runs;
}

/**
 * The scalers whose applies reached the target with a fencing token lower than one seen
 * before (or none): what a target that refuses stale tokens would have refused.
 */
export function staleFences(applies: readonly Apply[]): string[] {
  const highest = new Map<string, bigint>();
  const stale: string[] = [];
  for (const a of applies) {
    if (!/^\d+$/.test(a.fence)) {
      stale.push(`${a.scaler}: no token from ${a.instance}`);
      continue;
    }
    const token = BigInt(a.fence);
    if (token < (highest.get(a.scaler) ?? 0n))
      stale.push(`${a.scaler}: ${token} from ${a.instance} after ${highest.get(a.scaler)}`);
    else highest.set(a.scaler, token);
  }
  return stale;
}
