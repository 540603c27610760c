import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import mysql2 from 'mysql2/promise';
import { parse as parseToml } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/core/types.js';
import { mysql as definition } from '../../src/triggers/mysql.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const DSN = process.env.WAYMOND_TEST_MYSQL_DSN ?? 'mysql://root@127.0.0.1:3306/test';
const available = await requireService('MariaDB/MySQL at 127.0.0.1:3306', () => canConnect(3306));

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('mysql trigger config', () => {
  const base = { type: 'mysql', id: 'my', query: 'SELECT 1' };

  it('the example validates', () => {
    const parsed = parseToml(definition.example) as { trigger: unknown[] };
    expect(definition.schema.safeParse(parsed.trigger[0]).success).toBe(true);
  });

  it('refuses two statements, honouring quotes and comments', () => {
    const two = definition.schema.safeParse({ ...base, dsn: DSN, query: 'SELECT 1;\nUPDATE jobs SET state = 1' });
    expect(two.error?.issues[0]?.message).toMatch(/found several separated by ";"/);
    const commented = definition.schema.safeParse({ ...base, dsn: DSN, query: 'SELECT 1 -- no; really\n' });
    expect(commented.success).toBe(true);
    const backticks = definition.schema.safeParse({ ...base, dsn: DSN, query: 'SELECT count(*) FROM `a;b`' });
    expect(backticks.success).toBe(true);
  });
});

describe.skipIf(!available)('mysql trigger (real MariaDB)', () => {
  let admin: mysql2.Connection;
  const tables: string[] = [];
  const running: { trigger: Trigger; t: TestContext }[] = [];

  beforeAll(async () => {
    admin = await mysql2.createConnection({ uri: DSN });
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
    await admin.query(
      `CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL, state VARCHAR(20) NOT NULL)`,
    );
    for (const [i, state] of states.entries()) {
      await admin.query(`INSERT INTO ${table} (name, state) VALUES (?, ?)`, [`job-${i}`, state]);
    }
    return table;
  }

  /** Starts the trigger driven through its input, so each `fire` is exactly one poll. */
  async function pollOnce(
    config: Record<string, unknown>,
    id = 'my',
    adjust?: (parsed: ReturnType<typeof definition.schema.parse>) => void,
  ) {
    const t = testContext('trigger', id, { hasInput: true });
    const parsed = definition.schema.parse({ type: 'mysql', id, dsn: DSN, ...config });
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
    const table = await jobsTable(['pending', 'running', 'pending', 'done']);
    const { poll } = await pollOnce({ query: `SELECT count(*) AS pending FROM ${table} WHERE state = 'pending'` });
    const [first] = await poll();
    expect(first?.topic).toBe('trigger.my.output');
    expect(first?.data).toEqual({ value: 2, column: 'pending' });
    await admin.query(`INSERT INTO ${table} (name, state) VALUES ('late', 'pending')`);
    const [second] = await poll();
    expect(second?.data.value).toBe(3);
  });

  it('reads DECIMAL results, which mysql2 hands back as strings', async () => {
    const table = await jobsTable(['pending', 'pending', 'pending']);
    const { poll } = await pollOnce({ query: `SELECT sum(id) / 2 FROM ${table}` });
    const [event] = await poll();
    expect(event?.topic).toBe('trigger.my.output');
    expect(event?.data.value).toBe(3);
  });

  it('a text result is an error event naming the column and value', async () => {
    const table = await jobsTable(['pending']);
    const { poll } = await pollOnce({ query: `SELECT name FROM ${table}` });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.my.error']);
    expect(String(events[0]?.data.error)).toContain(`column "name" is text 'job-0', expected a number`);
  });

  it('several rows are an error event, not the first row', async () => {
    const table = await jobsTable(['pending', 'pending', 'done']);
    const { poll } = await pollOnce({ query: `SELECT id FROM ${table}` });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.my.error']);
    expect(String(events[0]?.data.error)).toContain('query returned 3 rows, expected exactly one');
  });

  it('NULL is an error event, not a zero', async () => {
    const table = await jobsTable([]);
    const { poll } = await pollOnce({ query: `SELECT max(id) AS newest FROM ${table}` });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.my.error']);
    expect(String(events[0]?.data.error)).toMatch(/column "newest" is NULL/);
  });

  it('a second statement that got past the config check would still be refused (multipleStatements off)', async () => {
    // Defence in depth: skip the config check to see what the server does with two statements.
    const { poll } = await pollOnce({ query: 'SELECT 1' }, 'my', (config) => {
      config.query = 'SELECT 1; SELECT 2';
    });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.my.error']);
    expect(String(events[0]?.data.error)).toMatch(/mysql query failed: .*SQL syntax/);
  });

  it('a statement over statement_timeout is stopped by the server and reported', async () => {
    const { poll } = await pollOnce({ query: 'SELECT SLEEP(5) + 1', statement_timeout: '300ms' });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.my.error']);
    expect(String(events[0]?.data.error)).toMatch(
      /max_statement_time exceeded|maximum statement execution time exceeded/,
    );
  });

  it('a server that is down is an error event, and the password stays out of it', async () => {
    const port = await closedPort();
    const env = `WAYMOND_TEST_MYSQL_${randomUUID().slice(0, 8).toUpperCase()}`;
    process.env[env] = `mysql://root:s3cret-pw@127.0.0.1:${port}/test`;
    try {
      const { poll } = await pollOnce({ dsn: undefined, dsn_env: env, query: 'SELECT 1' });
      const events = await poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.my.error']);
      expect(String(events[0]?.data.error)).toMatch(/mysql query failed: .*ECONNREFUSED/);
      expect(JSON.stringify(events)).not.toContain('s3cret-pw');
    } finally {
      delete process.env[env];
    }
  });

  it('reuses one connection across polls, and recovers after the server kills it', async () => {
    const { poll } = await pollOnce({ query: 'SELECT CONNECTION_ID()' });
    const [a] = await poll();
    const [b] = await poll();
    expect(a?.data.value).toBe(b?.data.value);
    await admin.query(`KILL CONNECTION ${Number(a?.data.value)}`);
    // The killed connection may cost one error event; the poll after it must reconnect.
    const outputs = [...(await poll()), ...(await poll())].filter((e) => e.topic === 'trigger.my.output');
    expect(outputs.length).toBeGreaterThan(0);
    expect(outputs.at(-1)?.data.value).not.toBe(a?.data.value);
  });
});
