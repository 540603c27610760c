/**
 * Ownership and failover on etcd: a 3-member etcd cluster started for this file on free
 * loopback ports, three real CLI instances, the same ownership tests as on PostgreSQL, and
 * etcd's own failures: the leader killed, quorum lost and regained.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/daemon.js';
import { requireService } from '../helpers/services.js';
import { type EtcdCluster, etcdInstalled, startEtcdCluster } from '../peers/etcd.js';
import { fire, type Instance, readyz } from './harness.js';
import { allAt, LEASE_TTL_MS, ownershipTests, useOwnershipCluster } from './ownership.js';

const available = await requireService('etcd (apt-get install etcd-server etcd-client)', async () => etcdInstalled());

describe.skipIf(!available)('cluster on etcd', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcdCluster();
  });
  // Hooks: beforeAll run in order, afterAll last-registered first (the instances stop before etcd).
  afterAll(() => etcd?.stop());
  const f = useOwnershipCluster(
    () => `backend = "etcd"\nendpoints = [${etcd.endpoints.map((e) => `"${e}"`).join(', ')}]\nname = "t"`,
  );

  ownershipTests(f);

  it('kill -9 of the etcd leader: work continues after the election', async () => {
    const a = f.instances.get('a') as Instance;
    const leader = etcd.leader();
    etcd.kill(leader);
    try {
      for (const id of f.ids) await fire(a, id, 7);
      await allAt(f.target, f.ids, 7, 'every scaler at 7 after the leader died');
    } finally {
      etcd.restart(leader);
    }
  });

  it('2 of 3 etcd members stopped: no applies at all and the counts held; one back: work resumes', async () => {
    const a = f.instances.get('a') as Instance;
    const [m1, m2] = [1, 2];
    etcd.kill(m1);
    etcd.kill(m2);
    const lostAt = Date.now();
    try {
      // Every instance notices it cannot prove a lease (and says so on /readyz).
      await waitUntil(async () => (await readyz(a)).status === 503, 'a not ready without quorum');
      // Drift the fleets and ask for new counts: nobody may act on either.
      for (const id of f.ids) f.target.counts.set(id, 1);
      for (const id of f.ids) await fire(a, id, 8).catch(() => undefined);
      // Past a whole lease and a resync on every instance, still nothing.
      await waitUntil(() => Date.now() - lostAt > 2 * LEASE_TTL_MS + 1000, 'a lease and a resync without quorum');
      expect(f.target.applies.filter((x) => x.at > lostAt + LEASE_TTL_MS)).toEqual([]);
      expect(f.ids.every((id) => f.target.counts.get(id) === 1)).toBe(true);
    } finally {
      etcd.restart(m1);
    }
    await waitUntil(async () => (await readyz(a)).status === 200, 'a ready again with quorum', 30_000);
    // The resyncs heal the drift with the last fenced count (7), or apply the 8 asked for
    // during the outage when its forwarding retry outlived it; new counts flow again.
    await waitUntil(
      () => f.ids.every((id) => [7, 8].includes(f.target.counts.get(id) ?? -1)),
      'every scaler healed once quorum is back',
      30_000,
    );
    for (const id of f.ids) await fire(a, id, 9);
    await allAt(f.target, f.ids, 9, 'every scaler at 9');
    etcd.restart(m2);
  });
});
