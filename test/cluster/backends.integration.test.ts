/**
 * The lease backend contract, one suite run against both real engines: tokens grow with
 * every change of holder, a fence with an old token writes nothing, a live lease cannot be
 * taken, forwarded events wait for their instance and a dead instance's are rerouted.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForwardedEvent, LeaseBackend } from '../../src/cluster/backend.js';
import { EtcdBackend } from '../../src/cluster/etcd.js';
import { PostgresBackend } from '../../src/cluster/postgres.js';
import { waitUntil } from '../helpers/daemon.js';
import { canConnect, requireService } from '../helpers/services.js';
import { type EtcdCluster, etcdInstalled, startEtcdCluster } from '../peers/etcd.js';

const TTL = 1000;
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const pgUp = await requireService('PostgreSQL on 127.0.0.1:5432', () => canConnect(5432));
const etcdUp = await requireService('etcd (apt-get install etcd-server etcd-client)', async () => etcdInstalled());

type Make = (instanceId: string) => LeaseBackend;

function contract(make: () => Make): void {
  const open: LeaseBackend[] = [];
  const join = async (id: string): Promise<LeaseBackend> => {
    const backend = make()(id);
    open.push(backend);
    await backend.join({ id, since: Date.now() });
    return backend;
  };
  afterAll(async () => {
    for (const b of open) await b.close().catch(() => undefined);
  });

  it('a held lease cannot be taken; once it expires the next holder gets a greater token, and the old token fences nothing', async () => {
    const [a, b] = [await join('a'), await join('b')];
    const key = `group-${randomUUID()}`;
    const first = await a.acquire(key);
    expect(first).not.toBeNull();
    expect(await b.acquire(key)).toBeNull();
    expect(await a.fence(first!, 'scaler.x', { target: '', desired: 3, data: {} })).toBe(true);
    // a stops renewing (as a paused instance does); b keeps its own session alive.
    let second: Awaited<ReturnType<LeaseBackend['acquire']>> = null;
    await waitUntil(
      async () => {
        await b.heartbeat([]);
        second = await b.acquire(key);
        return second !== null;
      },
      'the lease to expire and b to take it',
      15_000,
    );
    expect(BigInt(second!.token)).toBeGreaterThan(BigInt(first!.token));
    expect(await a.fence(first!, 'scaler.x', { target: '', desired: 9, data: {} })).toBe(false);
    expect(await b.fence(second!, 'scaler.x', { target: '', desired: 4, data: {} })).toBe(true);
    const applied = await b.applied('scaler.x');
    expect(applied.map((r) => [r.desired, r.instance])).toEqual([[4, 'b']]);
  });

  it('heartbeat keeps a lease: it outlives several TTLs while renewed', async () => {
    const a = await join('c');
    const b = await join('d');
    const key = `group-${randomUUID()}`;
    const lease = await a.acquire(key);
    expect(lease).not.toBeNull();
    const until = Date.now() + 3 * TTL;
    while (Date.now() < until) {
      expect([...(await a.heartbeat([lease!]))]).toEqual([key]);
      expect(await b.acquire(key)).toBeNull();
      await new Promise((r) => setTimeout(r, TTL / 4));
    }
    expect(await a.fence(lease!, 'scaler.y', { target: 't', desired: 1, data: { k: 1 } })).toBe(true);
    expect((await a.applied('scaler.y'))[0]).toMatchObject({ target: 't', desired: 1, data: { k: 1 } });
  });

  it('forwarded events reach their instance; those of an instance that is gone are rerouted once', async () => {
    const receiver = await join('e');
    const sender = await join('f');
    const got: ForwardedEvent[] = [];
    receiver.onForward((e) => got.push(e));
    const event = (n: number): ForwardedEvent => ({
      topic: 'scaler.z.input',
      source: 'api',
      data: { desired: n },
      from: 'f',
      hops: 1,
    });
    await sender.forward('e', event(1));
    await waitUntil(() => got.length === 1, 'the event at e');
    expect(got[0]?.data).toEqual({ desired: 1 });
    await sender.forward('gone', event(2));
    const rerouted = await sender.reroute(['e', 'f']);
    expect(rerouted.map((e) => e.data)).toEqual([{ desired: 2 }]);
    expect(await receiver.reroute(['e', 'f'])).toEqual([]);
  });
}

describe.skipIf(!pgUp)('lease backend: postgres', () => {
  const cluster = `b-${randomUUID().slice(0, 8)}`;
  contract(
    () => (id) =>
      new PostgresBackend({ url: PG_URL, cluster, instanceId: id, leaseTtlMs: TTL, onError: () => undefined }),
  );
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    for (const t of ['members', 'leases', 'applies', 'inbox'])
      await admin.query(`DELETE FROM waymond_cluster_${t} WHERE cluster = $1`, [cluster]).catch(() => undefined);
    await admin.end();
  });
});

describe.skipIf(!etcdUp)('lease backend: etcd', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcdCluster();
  });
  // After hooks run last-registered first: the backends close before etcd stops.
  afterAll(() => etcd?.stop());
  contract(
    () => (id) =>
      new EtcdBackend({
        endpoints: etcd.endpoints,
        cluster: 'b',
        instanceId: id,
        leaseTtlMs: TTL,
        onError: () => undefined,
      }),
  );
});
