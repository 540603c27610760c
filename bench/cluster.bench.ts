/**
 * Cluster figures, per backend (PostgreSQL on 127.0.0.1:5432, a 3-member etcd this file
 * starts on free loopback ports), with three real `waymond run` processes:
 *
 * - failover: kill -9 of the owner of a scaler whose fleet has drifted → the first apply
 *   by another instance (p50/p99 over CLUSTER_TRIALS trials, default 8; lease_ttl 2s,
 *   resync 1s: the bound is lease_ttl + one resync + one renewal round);
 * - backend load: requests per second the three instances make with 1,000 scalers owned
 *   and nothing changing (PostgreSQL: transactions committed in a database of its own;
 *   etcd: gRPC requests handled, summed over the members);
 * - capacity (PostgreSQL backend): how many `http` scalers on a 1 s resync 1, 2 and 3
 *   instances keep, N growing until resyncs fall behind (a scaler's observed interval
 *   between two resyncs over 1.5 s at p95, or an instance at 90 % of a core or more).
 *
 * `npm run bench -- cluster` (or `npx tsx bench/cluster.bench.ts`; CLUSTER_PARTS=load for one
 * part; CLUSTER_CAPACITY_STEPS=500,1000,… and CLUSTER_CAPACITY_INSTANCES=1,2,3 for the
 * capacity part's sizes).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import pg from 'pg';
import { ownerOf } from '../src/cluster/rendezvous.js';
import {
  clusterConfig,
  clusterStatus,
  clusterUnderTest,
  type Instance,
  scalerIds,
  startTarget,
} from '../test/cluster/harness.js';
import { waitUntil } from '../test/helpers/daemon.js';
import { canConnect } from '../test/helpers/services.js';
import { etcdInstalled, startEtcdCluster } from '../test/peers/etcd.js';

const TRIALS = Number(process.env.CLUSTER_TRIALS ?? 8);
/** CLUSTER_PARTS=load (or failover) runs one part only. */
const PARTS = (process.env.CLUSTER_PARTS ?? 'failover,load,capacity').split(',');
const LEASE_TTL_MS = 2000;
const RESYNC_MS = 1000;
const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/test';

const percentile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
};

async function failover(name: string, section: string): Promise<void> {
  const target = await startTarget();
  const cluster = clusterUnderTest(
    clusterConfig({
      cluster: section,
      target: target.url,
      scalers: 30,
      hooks: 0,
      leaseTtl: `${LEASE_TTL_MS}ms`,
      resync: `${RESYNC_MS}ms`,
    }),
  );
  const times: number[] = [];
  try {
    const live = ['a', 'b', 'c'];
    for (const id of live) await cluster.start(id);
    let next = 0;
    const settle = async (from: Instance) =>
      waitUntil(
        async () => {
          const status = await clusterStatus(from).catch(() => undefined);
          return (
            status !== undefined &&
            status.leases.length === 30 &&
            status.leases.every((l) => l.holder === ownerOf(l.key, [...live].sort()))
          );
        },
        'the spread to settle',
        60_000,
      );
    const first = cluster.instances.get('a') as Instance;
    await settle(first);
    for (const id of Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, '0')}`))
      await fetch(`${first.url}/api/fire/scaler.${id}`, {
        method: 'POST',
        body: '{"desired":2}',
        headers: { 'content-type': 'application/json' },
      });
    await waitUntil(() => target.counts.size === 30, 'every scaler applied', 60_000);
    for (let trial = 0; trial < TRIALS; trial++) {
      const victimId = live[trial % live.length] as string;
      const victim = cluster.instances.get(victimId) as Instance;
      const observer = cluster.instances.get(live.find((x) => x !== victimId) as string) as Instance;
      const status = await clusterStatus(observer);
      const scaler = status.leases.find((l) => l.holder === victimId)?.components.find((c) => c.startsWith('scaler.'));
      if (!scaler) throw new Error(`${victimId} owns nothing`);
      const id = scaler.slice('scaler.'.length);
      target.counts.set(id, 0);
      const before = target.applies.length;
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      await victim.exited;
      await waitUntil(() => target.applies.slice(before).some((x) => x.scaler === id), `${id} taken over`, 60_000);
      const firstApply = target.applies.slice(before).find((x) => x.scaler === id);
      times.push((firstApply?.at ?? killedAt) - killedAt);
      // A new instance in the dead one's place (a new id, as a restarted process gets).
      const replacement = `r${next++}`;
      live[live.indexOf(victimId)] = replacement;
      await cluster.start(replacement);
      await settle(observer);
    }
  } finally {
    await cluster.close();
    await target.close();
  }
  console.log(
    `${name}: failover (kill -9 of the owner → first apply by another instance), ${times.length} trials: p50 ${percentile(times, 50)} ms, p99 ${percentile(times, 99)} ms, max ${Math.max(...times)} ms (bound lease_ttl + resync = ${LEASE_TTL_MS + RESYNC_MS} ms)`,
  );
}

/** waymond_cluster_backend_requests_total summed over the running instances. */
async function requestsSent(instances: Instance[]): Promise<number> {
  let sum = 0;
  for (const i of instances) {
    const text = await (await fetch(`${i.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('waymond_cluster_backend_requests_total '));
    sum += Number(line?.split(' ').pop() ?? 0);
  }
  return sum;
}

/**
 * Backend load with 1,000 scalers owned and nothing changing, counted twice: by the
 * instances (every statement or request they send) and by the engine (`count`).
 */
async function load(name: string, section: string, count: () => Promise<number>, what: string): Promise<void> {
  const target = await startTarget();
  const n = 1000;
  const cluster = clusterUnderTest(
    clusterConfig({ cluster: section, target: target.url, scalers: n, hooks: 0, leaseTtl: '15s', resync: '30s' }),
  );
  try {
    for (const id of ['a', 'b', 'c']) await cluster.start(id);
    const a = cluster.instances.get('a') as Instance;
    // Measured once the spread has settled (the first instance took everything, then handed off).
    await waitUntil(
      async () => {
        const status = await clusterStatus(a).catch(() => undefined);
        return (
          status !== undefined &&
          status.leases.length === n &&
          status.leases.every((l) => l.holder === ownerOf(l.key, ['a', 'b', 'c']))
        );
      },
      'the spread to settle',
      180_000,
    );
    const instances = [...cluster.instances.values()];
    const window = 30_000;
    const [sent0, seen0] = [await requestsSent(instances), await count()];
    const t0 = Date.now();
    await waitUntil(() => Date.now() - t0 >= window, 'the measuring window', window + 5000);
    const [sent, seen] = [(await requestsSent(instances)) - sent0, (await count()) - seen0];
    const rate = (x: number) => (x / (window / 1000)).toFixed(1);
    console.log(
      `${name}: backend load, ${n} scalers owned by 3 instances, nothing changing, lease_ttl 15s: ${rate(sent)} requests/s sent by the instances; ${rate(seen)}/s ${what}`,
    );
  } finally {
    await cluster.close();
    await target.close();
  }
}

/**
 * A target for the capacity part: GET /pool/<id> answers a count of 1 (what every scaler is
 * asked for, so nothing is ever applied) and records, per scaler, the interval since its
 * previous observe: each one is a resync.
 */
async function startObserveTarget(): Promise<{
  url: string;
  observed: Map<string, number>;
  intervals: number[];
  measuring: { on: boolean };
  close(): Promise<void>;
}> {
  const last = new Map<string, number>();
  const observed = new Map<string, number>();
  const intervals: number[] = [];
  const measuring = { on: false };
  const server = createServer((req, res) => {
    const [, kind, id] = (req.url ?? '').split('/');
    if (kind === 'pool' && id) {
      const now = performance.now();
      const previous = last.get(id);
      if (measuring.on && previous !== undefined) intervals.push(now - previous);
      last.set(id, now);
      observed.set(id, (observed.get(id) ?? 0) + 1);
    }
    res.setHeader('content-type', 'application/json');
    res.end('{"current":1}');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    observed,
    intervals,
    measuring,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface CapacityStep {
  instances: number;
  scalers: number;
  p50: number;
  p95: number;
  maxCpu: number;
  kept: boolean;
}

/**
 * One size: `k` instances, `n` http scalers on a 1 s resync, every scaler asked (at its
 * owner) for the count it already has, then a 15 s window of resyncs.
 */
async function capacityStep(section: (name: string) => string, k: number, n: number): Promise<CapacityStep> {
  const target = await startObserveTarget();
  const ids = scalerIds(n).map((id) => `c${id}`);
  const lines: string[] = ['[http]', 'port = 0', '', '[cluster]', section(`cap-${k}-${n}-${randomUUID().slice(0, 6)}`)];
  lines.push('lease_ttl = "15s"', 'instance_id = "${INSTANCE}"', '');
  for (const id of ids)
    lines.push(
      '[[scaler]]',
      'type = "http"',
      `id = "${id}"`,
      `url = "${target.url}/apply/${id}"`,
      `observe_url = "${target.url}/pool/${id}"`,
      `resync_interval = "${RESYNC_MS}ms"`,
      '',
    );
  const cluster = clusterUnderTest(lines.join('\n'));
  try {
    const names = ['a', 'b', 'c'].slice(0, k);
    for (const id of names) await cluster.start(id);
    const a = cluster.instances.get('a') as Instance;
    const owners = new Map<string, string>();
    // Polled every 2 s: /api/cluster over thousands of leases is not free for the instance.
    const settleBy = Date.now() + 300_000;
    for (;;) {
      const status = await clusterStatus(a).catch(() => undefined);
      if (status?.leases.length === n && status.leases.every((l) => l.holder === ownerOf(l.key, [...names].sort()))) {
        for (const l of status.leases) owners.set(l.key.replace(/^scaler\./, ''), l.holder);
        break;
      }
      if (Date.now() > settleBy) throw new Error('the spread did not settle in 300 s');
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    // Asked at its owner (no forwarding): a desired count starts the scaler's resyncs.
    const queue = [...ids];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
          const owner = cluster.instances.get(owners.get(id) as string) as Instance;
          await fetch(`${owner.url}/api/fire/scaler.${id}`, {
            method: 'POST',
            body: '{"desired":1}',
            headers: { 'content-type': 'application/json' },
          });
        }
      }),
    );
    await waitUntil(() => ids.every((id) => (target.observed.get(id) ?? 0) >= 3), 'every scaler resyncing', 120_000);
    const instances = [...cluster.instances.values()];
    const pids = instances.map((i) => i.child.pid as number);
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    target.measuring.on = true;
    const window = 15_000;
    await waitUntil(() => performance.now() - t0 >= window, 'the measuring window', window + 5000);
    target.measuring.on = false;
    const elapsed = (performance.now() - t0) / 1000;
    const cpus = pids.map((pid, i) => (cpuSeconds(pid) - (cpu0[i] as number)) / elapsed);
    const p50 = percentile(target.intervals, 50);
    const p95 = percentile(target.intervals, 95);
    const maxCpu = Math.max(...cpus);
    // A scaler never observed in the window fell behind too.
    const kept = p95 <= 1.5 * RESYNC_MS && maxCpu < 0.9 && target.intervals.length >= n * (window / RESYNC_MS) * 0.5;
    return { instances: k, scalers: n, p50, p95, maxCpu, kept };
  } finally {
    await cluster.close();
    await target.close();
  }
}

/** For 1, 2 and 3 instances: grow N until resyncs fall behind; the last N that kept up is the figure. */
async function capacity(section: (name: string) => string): Promise<void> {
  const steps = (process.env.CLUSTER_CAPACITY_STEPS ?? '250,500,1000,2000,4000,8000').split(',').map(Number);
  const counts = (process.env.CLUSTER_CAPACITY_INSTANCES ?? '1,2,3').split(',').map(Number);
  let from = 0;
  for (const k of counts) {
    let keptUpTo: number | undefined;
    for (const n of steps.slice(from)) {
      const step = await capacityStep(section, k, n).catch((error: Error) => {
        console.log(`postgres capacity: ${k} instance(s), ${n} http scalers: ${error.message}`);
        return { instances: k, scalers: n, p50: Number.NaN, p95: Number.NaN, maxCpu: Number.NaN, kept: false };
      });
      console.log(
        `postgres capacity: ${k} instance(s), ${n} http scalers, resync 1s: interval p50 ${step.p50.toFixed(0)} ms, p95 ${step.p95.toFixed(0)} ms, busiest instance ${(step.maxCpu * 100).toFixed(0)} % of a core: ${step.kept ? 'kept up' : 'fell behind'}`,
      );
      if (!step.kept) break;
      keptUpTo = n;
      from = steps.indexOf(n);
    }
    console.log(
      `postgres capacity: ${k} instance(s) keep ${keptUpTo === undefined ? `fewer than ${steps[from]}` : `${keptUpTo}${keptUpTo === steps.at(-1) ? ' or more' : ''}`} http scalers on a 1 s resync (load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')})`,
    );
  }
}

console.log('Figures taken on the shared 2-core machine while other sessions ran their tests: a loaded machine.');

if (await canConnect(5432)) {
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  const db = `waymond_bench_${randomUUID().slice(0, 8)}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = `postgres://postgres@127.0.0.1:5432/${db}`;
  try {
    if (PARTS.includes('failover')) await failover('postgres', `backend = "postgres"\nurl = "${url}"\nname = "f"`);
    const commits = async () => {
      const r = await admin.query<{ n: string }>(
        'SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = $1',
        [db],
      );
      await admin.query('SELECT pg_stat_clear_snapshot()');
      return Number(r.rows[0]?.n ?? 0);
    };
    if (PARTS.includes('load'))
      await load(
        'postgres',
        `backend = "postgres"\nurl = "${url}"\nname = "l"`,
        commits,
        'transactions committed in its database (autovacuum included)',
      );
    if (PARTS.includes('capacity')) await capacity((name) => `backend = "postgres"\nurl = "${url}"\nname = "${name}"`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
} else console.log('postgres: skipped (nothing on 127.0.0.1:5432)');

if ((PARTS.includes('failover') || PARTS.includes('load')) && etcdInstalled()) {
  const etcd = await startEtcdCluster();
  try {
    const endpoints = `endpoints = [${etcd.endpoints.map((e) => `"${e}"`).join(', ')}]`;
    if (PARTS.includes('failover')) await failover('etcd', `backend = "etcd"\n${endpoints}\nname = "f"`);
    const handled = async () => {
      let sum = 0;
      for (const e of etcd.endpoints) {
        const text = await (await fetch(`${e}/metrics`)).text();
        for (const line of text.split('\n'))
          if (line.startsWith('grpc_server_handled_total{')) sum += Number(line.split(' ').pop());
      }
      return sum;
    };
    if (PARTS.includes('load'))
      await load(
        'etcd',
        `backend = "etcd"\n${endpoints}\nname = "l"`,
        handled,
        'gRPC requests handled by the members (their own peer traffic included)',
      );
  } finally {
    etcd.stop();
  }
} else if (!etcdInstalled()) console.log('etcd: skipped (etcd-server not installed)');
