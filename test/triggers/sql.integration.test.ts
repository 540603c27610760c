/**
 * One suite for the SQL trigger, run against each dialect's real server: PostgreSQL and
 * MariaDB. A dialect case says only what differs: how to reach the server as an admin,
 * its SQL for a decimal, a slow statement and the session id, and the words its server
 * uses to refuse. Everything else (one number or an error event, never a zero; the
 * password out of messages; one connection, closed on stop, recovered after a kill) is
 * asserted the same way for both. Closing on stop is checked server-side by the trigger
 * conformance suite (test/conformance/trigger-conformance.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { parse as parseToml } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/core/types.js';
import { mysql } from '../../src/triggers/sql/mysql.js';
import { postgres } from '../../src/triggers/sql/postgres.js';
import type { SqlConfig } from '../../src/triggers/sql/trigger.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Admin {
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  end(): Promise<void>;
}

interface DialectCase {
  definition: typeof postgres;
  name: 'postgres' | 'mysql';
  dsn: string;
  available: boolean;
  admin(): Promise<Admin>;
  createTable(table: string): string;
  insert(table: string): string;
  /** A query whose one value is a decimal 1.25 (pg and mysql2 both hand these back as strings). */
  decimal: string;
  /** A query that runs for 5 s. */
  slow: string;
  /** How the server words a statement stopped by statement_timeout. */
  slowRefused: RegExp;
  /** How the server refuses a second statement that got past the config check. */
  twoStatementsRefused: RegExp;
  /** A query whose value is this session's server-side id. */
  sessionId: string;
  kill(admin: Admin, id: number): Promise<void>;
  /** A DSN with a password for a server that is down. */
  downDsn(port: number, password: string): string;
}

const PG_DSN = process.env.WAYMOND_TEST_PG_DSN ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_DSN = process.env.WAYMOND_TEST_MYSQL_DSN ?? 'mysql://root@127.0.0.1:3306/test';

const dialects: DialectCase[] = [
  {
    definition: postgres,
    name: 'postgres',
    dsn: PG_DSN,
    available: await requireService('PostgreSQL at 127.0.0.1:5432', () => canConnect(5432)),
    async admin() {
      const client = new pg.Client({ connectionString: PG_DSN });
      await client.connect();
      return {
        query: async (sql, params) => (await client.query(sql, params)).rows,
        end: () => client.end(),
      };
    },
    createTable: (table) => `CREATE TABLE ${table} (id serial PRIMARY KEY, name text NOT NULL, state text NOT NULL)`,
    insert: (table) => `INSERT INTO ${table} (name, state) VALUES ($1, $2)`,
    decimal: 'SELECT 2.5::numeric / 2',
    slow: 'SELECT 1 FROM pg_sleep(5)',
    slowRefused: /canceling statement due to statement timeout/,
    twoStatementsRefused: /cannot insert multiple commands into a prepared statement/,
    sessionId: 'SELECT pg_backend_pid()',
    kill: async (admin, id) => {
      await admin.query('SELECT pg_terminate_backend($1)', [id]);
    },
    downDsn: (port, password) => `postgres://postgres:${password}@127.0.0.1:${port}/test`,
  },
  {
    definition: mysql,
    name: 'mysql',
    dsn: MYSQL_DSN,
    available: await requireService('MariaDB/MySQL at 127.0.0.1:3306', () => canConnect(3306)),
    async admin() {
      const connection = await mysql2.createConnection({ uri: MYSQL_DSN });
      return {
        query: async (sql, params) => (await connection.query(sql, params))[0] as Record<string, unknown>[],
        end: () => connection.end(),
      };
    },
    createTable: (table) =>
      `CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL, state VARCHAR(20) NOT NULL)`,
    insert: (table) => `INSERT INTO ${table} (name, state) VALUES (?, ?)`,
    decimal: 'SELECT CAST(2.5 AS DECIMAL(4,2)) / 2',
    slow: 'SELECT SLEEP(5) + 1',
    slowRefused: /max_statement_time exceeded|maximum statement execution time exceeded/,
    twoStatementsRefused: /mysql query failed: .*SQL syntax/,
    sessionId: 'SELECT CONNECTION_ID()',
    kill: async (admin, id) => {
      await admin.query(`KILL CONNECTION ${id}`);
    },
    downDsn: (port, password) => `mysql://root:${password}@127.0.0.1:${port}/test`,
  },
];

describe.each(dialects)('$name trigger config', ({ definition, name, dsn }) => {
  const base = { type: name, id: 'db', query: 'SELECT 1' };

  it('the example validates', () => {
    const parsed = parseToml(definition.example) as { trigger: unknown[] };
    expect(definition.schema.safeParse(parsed.trigger[0]).success).toBe(true);
  });

  it('needs exactly one of dsn and dsn_env', () => {
    const neither = definition.schema.safeParse(base);
    expect(neither.error?.issues[0]?.message).toMatch(/exactly one of `dsn_env`.*and `dsn`/);
    expect(definition.schema.safeParse({ ...base, dsn, dsn_env: 'DB_DSN' }).success).toBe(false);
  });

  it('refuses a password written in the config', () => {
    const result = definition.schema.safeParse({ ...base, dsn: `${name}://u:hunter2@db/x` });
    expect(result.error?.issues[0]?.message).toMatch(/carries a password.*dsn_env/);
    expect(JSON.stringify(result.error?.issues)).not.toContain('hunter2');
  });

  it('refuses two statements, but not a ";" inside a string, a comment or a trailing one', () => {
    const two = definition.schema.safeParse({ ...base, dsn, query: 'SELECT 1;\nUPDATE jobs SET state = 1' });
    expect(two.error?.issues[0]?.message).toMatch(/found several separated by ";"/);
    const quoted = definition.schema.parse({ ...base, dsn, query: "SELECT count(*) FROM t WHERE s = 'a;b';" });
    expect(quoted.query).toBe("SELECT count(*) FROM t WHERE s = 'a;b'");
    expect(definition.schema.safeParse({ ...base, dsn, query: 'SELECT 1 -- no; really\n' }).success).toBe(true);
  });

  it('wants statement_timeout shorter than the poll timeout', () => {
    const result = definition.schema.safeParse({ ...base, dsn, statement_timeout: '10s', timeout: '10s' });
    expect(result.error?.issues[0]?.path).toEqual(['statement_timeout']);
  });

  it('names a missing dsn_env variable, at creation', () => {
    const config = definition.schema.parse({ ...base, dsn_env: `WAYMOND_UNSET_${randomUUID().slice(0, 8)}` });
    const t = testContext('trigger', 'db');
    expect(() => definition.create(config, t.ctx)).toThrow(
      /trigger\.db: environment variable WAYMOND_UNSET_\w+ \(dsn_env\) is not set/,
    );
    t.close();
  });
});

describe('mysql trigger config (MySQL quoting)', () => {
  it('a ";" inside backticks or after # is not a second statement', () => {
    const base = { type: 'mysql', id: 'db', dsn: MYSQL_DSN };
    expect(mysql.schema.safeParse({ ...base, query: 'SELECT count(*) FROM `a;b`' }).success).toBe(true);
    expect(mysql.schema.safeParse({ ...base, query: 'SELECT 1 # no; really\n' }).success).toBe(true);
  });
});

for (const dialect of dialects) {
  describe.skipIf(!dialect.available)(`${dialect.name} trigger (real server)`, () => {
    const { definition, name } = dialect;
    let admin: Admin;
    const tables: string[] = [];
    const running: { trigger: Trigger; t: TestContext }[] = [];

    beforeAll(async () => {
      admin = await dialect.admin();
    });
    afterEach(async () => {
      for (const { trigger, t } of running.splice(0)) {
        await trigger.stop();
        t.close();
      }
      for (const table of tables.splice(0)) await admin.query(`DROP TABLE IF EXISTS ${table}`);
    });
    afterAll(async () => {
      await admin?.end();
    });

    async function jobsTable(states: string[]): Promise<string> {
      const table = `waymond_jobs_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      tables.push(table);
      await admin.query(dialect.createTable(table));
      for (const [i, state] of states.entries()) await admin.query(dialect.insert(table), [`job-${i}`, state]);
      return table;
    }

    /** Starts the trigger driven through its input, so each `fire` is exactly one poll. */
    async function pollOnce(config: Record<string, unknown>, id = 'db', adjust?: (parsed: SqlConfig) => void) {
      const t = testContext('trigger', id, { hasInput: true });
      const parsed = definition.schema.parse({ type: name, id, dsn: dialect.dsn, ...config });
      adjust?.(parsed);
      const trigger = await definition.create(parsed, t.ctx);
      running.push({ trigger, t });
      await trigger.start();
      const poll = async () => {
        const before = t.events.length;
        await trigger.fire?.({ id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} });
        return t.events.slice(before);
      };
      return { t, trigger, poll };
    }

    it('emits the count of pending jobs, and follows the table', async () => {
      const table = await jobsTable(['pending', 'pending', 'running', 'pending', 'done']);
      const { poll } = await pollOnce({ query: `SELECT count(*) AS pending FROM ${table} WHERE state = 'pending'` });
      const [first] = await poll();
      expect(first?.topic).toBe('trigger.db.output');
      // count(*) is a bigint, which both drivers may hand back as the string "3".
      expect(first?.data).toEqual({ value: 3, column: 'pending' });
      await admin.query(`UPDATE ${table} SET state = 'running' WHERE state = 'pending'`);
      const [second] = await poll();
      expect(second?.data.value).toBe(0);
    });

    it('reads decimal results, which the driver hands back as strings', async () => {
      const [event] = await (await pollOnce({ query: dialect.decimal })).poll();
      expect(event?.topic).toBe('trigger.db.output');
      expect(event?.data.value).toBe(1.25);
    });

    it('a text result is an error event naming the column and value', async () => {
      const table = await jobsTable(['pending']);
      const events = await (await pollOnce({ query: `SELECT name FROM ${table}` })).poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.db.error']);
      expect(events[0]?.data.error).toBe(
        `poll failed: column "name" is text 'job-0', expected a number; cast it to a number in the query`,
      );
    });

    it('several rows are an error event, not the first row', async () => {
      const table = await jobsTable(['pending', 'pending', 'done']);
      const events = await (await pollOnce({ query: `SELECT id FROM ${table}` })).poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.db.error']);
      expect(String(events[0]?.data.error)).toContain('query returned 3 rows, expected exactly one');
    });

    it('NULL (max over no rows) is an error event, not a zero', async () => {
      const table = await jobsTable([]);
      const events = await (await pollOnce({ query: `SELECT max(id) AS newest FROM ${table}` })).poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.db.error']);
      expect(String(events[0]?.data.error)).toMatch(/column "newest" is NULL/);
    });

    it('a second statement that got past the config check would still be refused by the server', async () => {
      // Defence in depth: skip the config check to see what the server does with two statements.
      const { poll } = await pollOnce({ query: 'SELECT 1' }, 'db', (config) => {
        config.query = 'SELECT 1; SELECT 2';
      });
      const events = await poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.db.error']);
      expect(String(events[0]?.data.error)).toMatch(dialect.twoStatementsRefused);
    });

    it('a statement over statement_timeout is stopped by the server and reported', async () => {
      const events = await (await pollOnce({ query: dialect.slow, statement_timeout: '300ms' })).poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.db.error']);
      expect(String(events[0]?.data.error)).toMatch(dialect.slowRefused);
    });

    it('a server that is down is an error event, and the password stays out of it', async () => {
      const port = await closedPort();
      const env = `WAYMOND_TEST_DSN_${randomUUID().slice(0, 8).toUpperCase()}`;
      process.env[env] = dialect.downDsn(port, 's3cret-pw');
      try {
        const events = await (await pollOnce({ dsn: undefined, dsn_env: env, query: 'SELECT 1' })).poll();
        expect(events.map((e) => e.topic)).toEqual(['trigger.db.error']);
        expect(String(events[0]?.data.error)).toMatch(new RegExp(`${name} query failed: .*ECONNREFUSED`));
        expect(JSON.stringify(events)).not.toContain('s3cret-pw');
      } finally {
        delete process.env[env];
      }
    });

    it('reuses one connection across polls, and recovers after the server kills it', async () => {
      const { poll } = await pollOnce({ query: dialect.sessionId });
      const [a] = await poll();
      const [b] = await poll();
      expect(a?.data.value).toBe(b?.data.value);
      await dialect.kill(admin, Number(a?.data.value));
      // The killed connection may cost one error event; the poll after it must reconnect.
      const outputs = [...(await poll()), ...(await poll())].filter((e) => e.topic === 'trigger.db.output');
      expect(outputs.length).toBeGreaterThan(0);
      expect(outputs.at(-1)?.data.value).not.toBe(a?.data.value);
    });
  });
}
