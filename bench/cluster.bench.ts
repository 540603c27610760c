/**
 * Cluster figures, per backend (PostgreSQL on 127.0.0.1:5432, a 3-member etcd this file
 * starts on free loopback ports), with three real `waymond run` processes:
 *
 * - failover: kill -9 of the owner of a scaler whose fleet has drifted → the first apply
 *   by another instance (p50/p99 over CLUSTER_TRIALS trials, default 8; lease_ttl 2s,
 *   resync 1s: the bound is lease_ttl + one resync + one renewal round);
 * - backend load: requests per second the three instances make with 1,000 scalers owned
 *   and nothing changing (PostgreSQL: transactions committed in a database of its own;
 *   etcd: gRPC requests handled, summed over the members).
 *
 * `npm run bench -- cluster` (or `npx tsx bench/cluster.bench.ts`; CLUSTER_PARTS=load for one part).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ownerOf } from '../src/cluster/rendezvous.js';
import { clusterConfig, clusterStatus, clusterUnderTest, type Instance, startTarget } from '../test/cluster/harness.js';
import { waitUntil } from '../test/helpers/daemon.js';
import { canConnect } from '../test/helpers/services.js';
import { etcdInstalled, startEtcdCluster } from '../test/peers/etcd.js';

const TRIALS = Number(process.env.CLUSTER_TRIALS ?? 8);
/** CLUSTER_PARTS=load (or failover) runs one part only. */
const PARTS = (process.env.CLUSTER_PARTS ?? 'failover,load').split(',');
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
    await load(
      'postgres',
      `backend = "postgres"\nurl = "${url}"\nname = "l"`,
      commits,
      'transactions committed in its database (autovacuum included)',
    );
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
} else console.log('postgres: skipped (nothing on 127.0.0.1:5432)');

if (etcdInstalled()) {
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
    await load(
      'etcd',
      `backend = "etcd"\n${endpoints}\nname = "l"`,
      handled,
      'gRPC requests handled by the members (their own peer traffic included)',
    );
  } finally {
    etcd.stop();
  }
} else console.log('etcd: skipped (etcd-server not installed)');
