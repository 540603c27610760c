import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { parse as parseToml } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/core/types.js';
import { postgres as definition } from '../../src/triggers/postgres.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const DSN = process.env.WAYMOND_TEST_PG_DSN ?? 'postgres://postgres@127.0.0.1:5432/test';
const available = await requireService('PostgreSQL at 127.0.0.1:5432', () => canConnect(5432));

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('postgres trigger config', () => {
  const base = { type: 'postgres', id: 'pg', query: 'SELECT 1' };

  it('the example validates', () => {
    const parsed = parseToml(definition.example) as { trigger: unknown[] };
    expect(definition.schema.safeParse(parsed.trigger[0]).success).toBe(true);
  });

  it('needs exactly one of dsn and dsn_env', () => {
    const neither = definition.schema.safeParse(base);
    expect(neither.error?.issues[0]?.message).toMatch(/exactly one of `dsn_env`.*and `dsn`/);
    const both = definition.schema.safeParse({ ...base, dsn: DSN, dsn_env: 'PG_DSN' });
    expect(both.success).toBe(false);
  });

  it('refuses a password written in the config', () => {
    const result = definition.schema.safeParse({ ...base, dsn: 'postgres://u:hunter2@db/x' });
    expect(result.error?.issues[0]?.message).toMatch(/carries a password.*dsn_env/);
    expect(JSON.stringify(result.error?.issues)).not.toContain('hunter2');
  });

  it('refuses two statements, but not a ";" inside a string or a trailing one', () => {
    const two = definition.schema.safeParse({ ...base, dsn: DSN, query: 'SELECT 1; DROP TABLE jobs' });
    expect(two.error?.issues[0]?.message).toMatch(/found several separated by ";"/);
    const quoted = definition.schema.parse({ ...base, dsn: DSN, query: "SELECT count(*) FROM t WHERE s = 'a;b';" });
    expect(quoted.query).toBe("SELECT count(*) FROM t WHERE s = 'a;b'");
  });

  it('wants statement_timeout shorter than the poll timeout', () => {
    const result = definition.schema.safeParse({ ...base, dsn: DSN, statement_timeout: '10s', timeout: '10s' });
    expect(result.error?.issues[0]?.path).toEqual(['statement_timeout']);
  });

  it('names a missing dsn_env variable, at creation', () => {
    const config = definition.schema.parse({ ...base, dsn_env: `WAYMOND_UNSET_${randomUUID().slice(0, 8)}` });
    const t = testContext('trigger', 'pg');
    expect(() => definition.create(config, t.ctx)).toThrow(
      /trigger\.pg: environment variable WAYMOND_UNSET_\w+ \(dsn_env\) is not set/,
    );
    t.close();
  });
});

describe.skipIf(!available)('postgres trigger (real PostgreSQL)', () => {
  let admin: pg.Client;
  const tables: string[] = [];
  const running: { trigger: Trigger; t: TestContext }[] = [];

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: DSN });
    await admin.connect();
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
    await admin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, name text NOT NULL, state text NOT NULL)`);
    for (const [i, state] of states.entries()) {
      await admin.query(`INSERT INTO ${table} (name, state) VALUES ($1, $2)`, [`job-${i}`, state]);
    }
    return table;
  }

  /** Starts the trigger driven through its input, so each `fire` is exactly one poll. */
  async function pollOnce(
    config: Record<string, unknown>,
    id = 'pg',
    adjust?: (parsed: ReturnType<typeof definition.schema.parse>) => void,
  ) {
    const t = testContext('trigger', id, { hasInput: true });
    const parsed = definition.schema.parse({ type: 'postgres', id, dsn: DSN, ...config });
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
    expect(first?.topic).toBe('trigger.pg.output');
    // count(*) is a bigint, which pg hands back as the string "3".
    expect(first?.data).toEqual({ value: 3, column: 'pending' });
    await admin.query(`UPDATE ${table} SET state = 'running' WHERE state = 'pending'`);
    const [second] = await poll();
    expect(second?.data.value).toBe(0);
  });

  it('reads numeric and float results', async () => {
    const { poll } = await pollOnce({ query: 'SELECT 2.5::numeric / 2' });
    const [event] = await poll();
    expect(event?.data.value).toBe(1.25);
  });

  it('a text result is an error event naming the column and value', async () => {
    const table = await jobsTable(['pending']);
    const { poll } = await pollOnce({ query: `SELECT name FROM ${table}` });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.pg.error']);
    expect(events[0]?.data.error).toBe(
      `poll failed: column "name" is text 'job-0', expected a number; cast it to a number in the query`,
    );
  });

  it('several rows are an error event, not the first row', async () => {
    const table = await jobsTable(['pending', 'pending', 'done']);
    const { poll } = await pollOnce({ query: `SELECT id FROM ${table}` });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.pg.error']);
    expect(String(events[0]?.data.error)).toContain('query returned 3 rows, expected exactly one');
  });

  it('NULL (max over no rows) is an error event, not a zero', async () => {
    const table = await jobsTable([]);
    const { poll } = await pollOnce({ query: `SELECT max(id) FROM ${table}` });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.pg.error']);
    expect(String(events[0]?.data.error)).toMatch(/column "max" is NULL/);
  });

  it('a second statement that got past the config check would still be refused by the server', async () => {
    // Defence in depth: skip the config check to see what the server does with two statements.
    const { poll } = await pollOnce({ query: 'SELECT 1' }, 'pg', (config) => {
      config.query = 'SELECT 1; SELECT 2';
    });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.pg.error']);
    expect(String(events[0]?.data.error)).toMatch(/cannot insert multiple commands into a prepared statement/);
  });

  it('a statement over statement_timeout is cancelled and reported', async () => {
    const { poll } = await pollOnce({ query: 'SELECT 1 FROM pg_sleep(5)', statement_timeout: '300ms' });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.pg.error']);
    expect(String(events[0]?.data.error)).toMatch(/canceling statement due to statement timeout/);
  });

  it('a server that is down is an error event, and the password stays out of it', async () => {
    const port = await closedPort();
    const env = `WAYMOND_TEST_PG_${randomUUID().slice(0, 8).toUpperCase()}`;
    process.env[env] = `postgres://postgres:s3cret-pw@127.0.0.1:${port}/test`;
    try {
      const { poll } = await pollOnce({ dsn: undefined, dsn_env: env, query: 'SELECT 1' });
      const events = await poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.pg.error']);
      expect(String(events[0]?.data.error)).toMatch(/postgres query failed: .*ECONNREFUSED/);
      expect(JSON.stringify(events)).not.toContain('s3cret-pw');
    } finally {
      delete process.env[env];
    }
  });

  it('reuses one connection across polls and closes it on stop', async () => {
    const id = `pg_${randomUUID().slice(0, 8)}`;
    const { poll, trigger } = await pollOnce({ query: 'SELECT pg_backend_pid()' }, id);
    const [a] = await poll();
    const [b] = await poll();
    expect(a?.data.value).toBe(b?.data.value);
    const open = () =>
      admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
        `waymond trigger.${id}`,
      ]);
    expect((await open()).rows[0].n).toBe(1);
    await trigger.stop();
    // The backend may take a moment to leave pg_stat_activity after the client hung up.
    let n = 1;
    for (let i = 0; i < 50 && n > 0; i++) {
      n = (await open()).rows[0].n;
      if (n > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(n).toBe(0);
  });

  it('recovers after the server kills its connection, without crashing', async () => {
    const { poll } = await pollOnce({ query: 'SELECT pg_backend_pid()' });
    const [a] = await poll();
    await admin.query('SELECT pg_terminate_backend($1)', [a?.data.value]);
    // The killed connection may cost one error event; the poll after it must reconnect.
    const outputs = [...(await poll()), ...(await poll())].filter((e) => e.topic === 'trigger.pg.output');
    expect(outputs.length).toBeGreaterThan(0);
    expect(outputs.at(-1)?.data.value).not.toBe(a?.data.value);
  });
});
