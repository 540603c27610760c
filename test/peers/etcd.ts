/**
 * A real 3-member etcd cluster on loopback ports for one test file, through
 * etcd-cluster.sh beside this file (Debian's etcd-server). Ports are probed free; the
 * members' data directory and processes are removed by `stop()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./etcd-cluster.sh', import.meta.url));

export interface EtcdCluster {
  endpoints: string[];
  /** kill -9 of member n (1..3). */
  kill(n: number): void;
  /** Starts member n again on its data; resolves once it answers. */
  restart(n: number): void;
  /** The member (1..3) that leads now. */
  leader(): number;
  stop(): void;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 2000) * 20;
    const ports = [1, 2, 3, 11, 12, 13].map((n) => base + n);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free ports for an etcd cluster');
}

export function etcdInstalled(): boolean {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startEtcdCluster(): Promise<EtcdCluster> {
  const base = await freeBase();
  const dir = mkdtempSync(join(tmpdir(), 'waymond-etcd-'));
  const env = { ...process.env, DIR: dir, PORT: String(base) };
  const run = (...args: string[]) =>
    execFileSync('bash', [SCRIPT, ...args], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
  run('start');
  return {
    endpoints: [1, 2, 3].map((n) => `http://127.0.0.1:${base + n}`),
    kill: (n) => void run('kill', String(n)),
    restart: (n) => void run('restart', String(n)),
    leader: () => Number(run('leader').trim()),
    stop: () => void run('stop'),
  };
}
