/**
 * The Store contract against the real PostgreSQL at 127.0.0.1:5432 (trust auth, user
 * postgres, db test), each test on a schema of its own, dropped after. Outages are real
 * network cuts: the store talks to the server through a TCP forwarder the test stops.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore, redactUrl } from '../../src/store/postgres.js';
import { canConnect, requireService } from '../helpers/services.js';
import { decisionAt, storeContract } from './store-contract.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const URL_ = 'postgres://postgres@127.0.0.1:5432/test';
const available = await requireService('PostgreSQL at 127.0.0.1:5432', () => canConnect(5432));

const admin = new pg.Pool({ connectionString: URL_, max: 1 });
afterAll(() => admin.end());

function uniqueSchema(): string {
  return `waymond_test_${process.pid}_${randomBytes(4).toString('hex')}`;
}

async function dropSchema(schema: string): Promise<void> {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

describe.skipIf(!available)('PostgreSQL store', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy(5432);
    return () => proxy.close();
  });

  storeContract({
    name: 'PostgreSQL',
    async place() {
      const schema = uniqueSchema();
      const url = `postgres://postgres@127.0.0.1:${proxy.port}/test`;
      return {
        store: (options) => new PostgresStore({ url, schema, ...options }),
        remove: () => dropSchema(schema),
        async outage(during) {
          await proxy.down();
          try {
            await during();
          } finally {
            await proxy.up();
          }
        },
      };
    },
  });

  it('migrations: two instances starting at once on a new schema both open, and version 1 is applied once', async () => {
    const schema = uniqueSchema();
    const stores = [0, 1, 2].map(() => new PostgresStore({ url: URL_, schema }));
    try {
      await Promise.all(stores.map((s) => s.open()));
      const { rows } = await admin.query(`SELECT version FROM "${schema}".waymond_schema_migrations`);
      expect(rows).toEqual([{ version: 1 }]);
      // Opening again applies nothing and keeps what is there.
      stores[0]?.setState('scaler.a', 'desired', { n: 1 });
      await stores[0]?.close();
      const again = new PostgresStore({ url: URL_, schema });
      await again.open();
      expect(again.getState('scaler.a', 'desired')).toEqual({ n: 1 });
      await again.close();
    } finally {
      for (const s of stores) await s.close();
      await dropSchema(schema);
    }
  });

  it("a reconcile's decision and desired count are one transaction", async () => {
    const schema = uniqueSchema();
    const store = new PostgresStore({ url: URL_, schema });
    try {
      await store.open();
      store.recordDecision(decisionAt(1, { action: 'scale_up +3 (0 -> 3)', observed: 0 }));
      store.setState('scaler.a', 'desired', { '': { desired: 3, data: {} } });
      await store.flush();
      const { rows } = await admin.query(
        `SELECT xmin::text AS tx FROM "${schema}".decisions UNION ALL SELECT xmin::text FROM "${schema}".component_state`,
      );
      expect(rows).toHaveLength(2);
      expect(new Set(rows.map((r) => r.tx)).size).toBe(1);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('reconnects after the server drops its connections (as a restart does)', async () => {
    const schema = uniqueSchema();
    let failures = 0;
    const store = new PostgresStore({ url: URL_, schema, onWriteFailure: () => failures++ });
    try {
      await store.open();
      store.recordDecision(decisionAt(1, { reason: 'before' }));
      await store.flush();
      // This store's connections only (other tests' stores run on the same server).
      const { rows } = await admin.query(
        'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
        [`waymond store ${schema}`],
      );
      expect(rows.length).toBeGreaterThan(0);
      store.recordDecision(decisionAt(2, { reason: 'after', observed: 9, action: 'none (9)', desired: 9 }));
      await store.flush();
      if (failures > 0) await store.flush(); // a batch on a killed connection is kept and written on the next attempt
      expect((await store.listDecisions({})).map((d) => d.reason)).toEqual(['after', 'before']);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('a server that cannot be reached at start is a named error without the password', async () => {
    const closed = await startTcpProxy(5432);
    await closed.down();
    const url = `postgres://waymond:s3cret-pass@127.0.0.1:${closed.port}/test`;
    const store = new PostgresStore({ url, schema: uniqueSchema() });
    const error = await store.open().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(
      new RegExp(
        `^\\[store\\] postgres://waymond:\\*\\*\\*@127\\.0\\.0\\.1:${closed.port}/test: cannot be used: .*ECONNREFUSED`,
      ),
    );
    expect(error?.message).not.toContain('s3cret-pass');
    await store.close();
  });

  it('redactUrl removes the password, also from key/value DSNs', () => {
    const url = 'postgres://u:p%40ss@h/db';
    expect(redactUrl(`failed for ${url}: auth p@ss`, url)).toBe('failed for postgres://u:***@h/db: auth ***');
    expect(redactUrl('password=hunter2 host=x', 'host=x password=hunter2')).toBe('password=*** host=x');
  });

  it('a bad schema name is refused before anything connects', () => {
    expect(() => new PostgresStore({ url: URL_, schema: 'Bad; DROP' })).toThrow(
      '[store] schema: expected a lower-case identifier (a-z, 0-9, _), found "Bad; DROP"',
    );
  });
});
