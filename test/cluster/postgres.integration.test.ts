/**
 * Ownership and failover on PostgreSQL (the local server): three real CLI instances, one
 * config, lease rows in the test database under a cluster name of this run's own.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/daemon.js';
import { canConnect, requireService } from '../helpers/services.js';
import { fire, type Instance, readyz } from './harness.js';
import { allAt, ownershipTests, useOwnershipCluster } from './ownership.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const available = await requireService('PostgreSQL on 127.0.0.1:5432', () => canConnect(5432));
const NAME = `t-${randomUUID().slice(0, 8)}`;

describe.skipIf(!available)('cluster on postgres', () => {
  const f = useOwnershipCluster(() => `backend = "postgres"\nurl = "${URL}"\nname = "${NAME}"`);
  ownershipTests(f);

  it('instances whose backend connections are terminated reconnect and carry on', async () => {
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    try {
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ANY($1)',
        [[...f.instances.keys()].map((id) => `waymond-${id}`)],
      );
      expect(killed.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    const a = f.instances.get('a') as Instance;
    for (const id of f.ids) await fire(a, id, 6);
    await allAt(f.target, f.ids, 6, 'every scaler at 6 after the connections were cut');
    await waitUntil(async () => (await readyz(a)).status === 200, 'a ready again');
  });

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    for (const table of ['waymond_cluster_members', 'waymond_cluster_leases', 'waymond_cluster_applies'])
      await admin.query(`DELETE FROM ${table} WHERE cluster = $1`, [NAME]).catch(() => undefined);
    await admin.end();
  });
});
