/**
 * Triggers share one connection per server (src/triggers/shared-connection.ts), against the
 * real Redis, PostgreSQL, MariaDB, RabbitMQ and NATS: many triggers on one server hold one
 * connection (or a small pool), each still reads its own value, an outage is seen by every
 * trigger as its own error event, and the last trigger to stop closes the connection, as
 * the server itself sees it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect as amqpConnect } from 'amqplib';
import { Redis } from 'ioredis';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Trigger, TriggerDefinition, WaymondEvent } from '../../src/core/types.js';
import { natsJetstream } from '../../src/triggers/nats-jetstream.js';
import { rabbitmq } from '../../src/triggers/rabbitmq.js';
import { redis } from '../../src/triggers/redis/trigger.js';
import { mysql } from '../../src/triggers/sql/mysql.js';
import { postgres } from '../../src/triggers/sql/postgres.js';
import { SHARED_POOL_SIZE } from '../../src/triggers/sql/trigger.js';
import { socketsTo } from '../conformance/trigger-conformance.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const REDIS = 'redis://127.0.0.1:6379';
const PG_DSN = process.env.WAYMOND_TEST_PG_DSN ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_DSN = process.env.WAYMOND_TEST_MYSQL_DSN ?? 'mysql://root@127.0.0.1:3306/test';
const AMQP = 'amqp://guest:guest@127.0.0.1:5672';
const NATS = 'nats://127.0.0.1:4222';
const tick: WaymondEvent = { id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} };

const running: { trigger: Trigger; t: TestContext }[] = [];
afterEach(async () => {
  await stopAll(running.splice(0));
});

async function stopAll(list: { trigger: Trigger; t: TestContext }[]): Promise<void> {
  for (const { trigger, t } of list) {
    await trigger.stop();
    t.close();
  }
}

/** `n` triggers of one definition, fired through their input (one fire is one poll). */
async function triggers(
  definition: TriggerDefinition,
  n: number,
  config: (i: number) => Record<string, unknown>,
): Promise<{ trigger: Trigger; t: TestContext }[]> {
  const made: { trigger: Trigger; t: TestContext }[] = [];
  for (let i = 0; i < n; i++) {
    const id = `shared_${i}`;
    const t = testContext('trigger', id, { hasInput: true });
    const trigger = await definition.create(
      definition.schema.parse({ type: definition.type, id, ...config(i) }),
      t.ctx,
    );
    await trigger.start();
    made.push({ trigger, t });
  }
  running.push(...made);
  return made;
}

/** Fires every trigger at once (one tick) and returns each one's last event. */
async function pollAll(list: { trigger: Trigger; t: TestContext }[]): Promise<WaymondEvent[]> {
  await Promise.all(list.map(({ trigger }) => trigger.fire?.(tick)));
  return list.map(({ t }) => t.events.at(-1) as WaymondEvent);
}

const topics = (events: WaymondEvent[]) => [...new Set(events.map((e) => e.topic.replace(/^trigger\.\w+\./, '')))];

/** A TCP proxy to `port`: `down()` is an outage (listener and every socket gone), `up()` brings it back. */
async function proxyTo(port: number) {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let listenPort = 0;
  const up = async () => {
    const s = createServer((client) => {
      const upstream = tcpConnect(port, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => s.listen(listenPort, '127.0.0.1', resolve));
    listenPort = (s.address() as { port: number }).port;
    server = s;
  };
  const down = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  };
  await up();
  return { port: () => listenPort, up, down };
}

const redisUp = await requireService('Redis at 127.0.0.1:6379', () => canConnect(6379));
describe.skipIf(!redisUp)('redis: one connection per server', () => {
  const ours = ` name=waymond:${process.pid} `;
  const clientsOf = async (admin: Redis) =>
    String(await admin.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(ours)).length;

  it('50 triggers on one URL use one connection, read their own values, and the last stop closes it', async () => {
    const admin = new Redis(REDIS);
    const prefix = `waymond-test:shared:${randomUUID()}`;
    const keys = Array.from({ length: 50 }, (_, i) => `${prefix}:${i}`);
    try {
      for (const [i, key] of keys.entries()) await admin.rpush(key, ...Array.from({ length: i + 1 }, () => 'x'));
      const list = await triggers(redis, 50, (i) => ({ url: REDIS, mode: 'list', key: keys[i] }));
      for (let round = 0; round < 3; round++) {
        const events = await pollAll(list);
        expect(topics(events)).toEqual(['output']);
        expect(events.map((e) => e.data.value)).toEqual(keys.map((_, i) => i + 1));
      }
      const connections = await clientsOf(admin);
      expect(connections).toBeGreaterThanOrEqual(1);
      expect(connections).toBeLessThanOrEqual(2);

      // All but one stop: the connection stays for the last one, which still reads.
      await stopAll(running.splice(0, 49));
      expect(await clientsOf(admin)).toBe(connections);
      expect((await pollAll(running))[0]?.data.value).toBe(50);
      await stopAll(running.splice(0));
      await expect.poll(() => clientsOf(admin), { timeout: 10_000 }).toBe(0);
    } finally {
      await admin.del(...keys);
      await admin.quit();
    }
  });

  it('an outage is an error event for every trigger; they all read again once Redis is back', async () => {
    const admin = new Redis(REDIS);
    const key = `waymond-test:shared-outage:${randomUUID()}`;
    const proxy = await proxyTo(6379);
    try {
      await admin.rpush(key, 'a', 'b');
      const url = `redis://127.0.0.1:${proxy.port()}`;
      const list = await triggers(redis, 10, () => ({ url, mode: 'list', key, timeout: '2s' }));
      expect((await pollAll(list)).map((e) => e.data.value)).toEqual(Array(10).fill(2));

      await proxy.down();
      const during = await pollAll(list);
      expect(during.map((e) => e.topic)).toEqual(list.map(({ t }) => `${t.ctx.address}.error`));
      for (const event of during) expect(String(event.data.error)).toMatch(/LLEN|cannot connect/);
      // Still down on the next poll: an error again, never a made-up zero.
      expect(topics(await pollAll(list))).toEqual(['error']);

      await proxy.up();
      const after = await pollAll(list);
      expect(topics(after)).toEqual(['output']);
      expect(after.map((e) => e.data.value)).toEqual(Array(10).fill(2));
    } finally {
      await stopAll(running.splice(0));
      await proxy.down();
      await admin.del(key);
      await admin.quit();
    }
  });

  it('different credentials or servers never share', async () => {
    const admin = new Redis(REDIS);
    try {
      await triggers(redis, 2, (i) => ({ url: `redis://127.0.0.1:6379/${i}`, mode: 'list', key: 'waymond-test:none' }));
      expect(topics(await pollAll(running))).toEqual(['output']);
      expect(await clientsOf(admin)).toBe(2);
    } finally {
      await admin.quit();
    }
  });
});

const pgUp = await requireService('PostgreSQL at 127.0.0.1:5432', () => canConnect(5432));
describe.skipIf(!pgUp)('postgres: one small pool per server', () => {
  it(`20 triggers on one DSN hold at most ${SHARED_POOL_SIZE} connections, each reads its own value, the last stop closes them`, async () => {
    const admin = new pg.Client({ connectionString: PG_DSN });
    await admin.connect();
    const ours = async () =>
      (
        await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
          `waymond ${process.pid}`,
        ])
      ).rows[0].n as number;
    try {
      const list = await triggers(postgres, 20, (i) => ({
        dsn: PG_DSN,
        query: `SELECT ${i} FROM pg_sleep(0.01)`,
      }));
      const events = await pollAll(list);
      expect(topics(events)).toEqual(['output']);
      expect(events.map((e) => e.data.value)).toEqual(list.map((_, i) => i));
      const connections = await ours();
      expect(connections).toBeGreaterThanOrEqual(1);
      expect(connections).toBeLessThanOrEqual(SHARED_POOL_SIZE);
      await stopAll(running.splice(0));
      await expect.poll(ours, { timeout: 15_000 }).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

const mysqlUp = await requireService('MariaDB/MySQL at 127.0.0.1:3306', () => canConnect(3306));
describe.skipIf(!mysqlUp)('mysql: one small pool per server', () => {
  it(`20 triggers on one DSN use at most ${SHARED_POOL_SIZE} sessions, and the last stop closes them`, async () => {
    const admin = await mysql2.createConnection({ uri: MYSQL_DSN });
    try {
      // Each value is the session the query ran on, so the server can be asked about exactly those.
      const list = await triggers(mysql, 20, () => ({ dsn: MYSQL_DSN, query: 'SELECT CONNECTION_ID() + SLEEP(0.01)' }));
      const events = await pollAll(list);
      expect(topics(events)).toEqual(['output']);
      const sessions = [...new Set(events.map((e) => Number(e.data.value)))];
      expect(sessions.length).toBeGreaterThanOrEqual(1);
      expect(sessions.length).toBeLessThanOrEqual(SHARED_POOL_SIZE);
      const alive = async () => {
        const [rows] = await admin.query('SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE ID IN (?)', [
          sessions,
        ]);
        return Number((rows as { n: number }[])[0]?.n);
      };
      expect(await alive()).toBe(sessions.length);
      await stopAll(running.splice(0));
      await expect.poll(alive, { timeout: 15_000 }).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

const rabbitUp = await requireService('RabbitMQ at 127.0.0.1:5672', () => canConnect(5672));
describe.skipIf(!rabbitUp)('rabbitmq: one connection per broker, a channel per trigger', () => {
  it('10 triggers share one connection; a missing queue closes only its own channel; the last stop closes it', async () => {
    const admin = await amqpConnect(AMQP);
    const ch = await admin.createChannel();
    const queues = Array.from({ length: 10 }, (_, i) => `waymond-shared-${randomUUID()}-${i}`);
    try {
      for (const [i, queue] of queues.entries()) {
        await ch.assertQueue(queue, { durable: false });
        for (let m = 0; m < i; m++) ch.sendToQueue(queue, Buffer.from('x'));
      }
      await ch.checkQueue(queues[0] as string); // a round trip after the messages: the broker has them
      const idle = socketsTo(5672);
      const list = await triggers(rabbitmq, 10, (i) => ({ url: AMQP, queue: queues[i] }));
      const events = await pollAll(list);
      expect(topics(events)).toEqual(['output']);
      expect(events.map((e) => e.data.value)).toEqual(queues.map((_, i) => i));
      expect(socketsTo(5672)).toBe(idle + 1);

      const [missing] = await triggers(rabbitmq, 1, () => ({ url: AMQP, queue: `waymond-absent-${randomUUID()}` }));
      await missing?.trigger.fire?.(tick);
      expect(missing?.t.events.at(-1)?.topic).toBe('trigger.shared_0.error');
      const again = await pollAll(list);
      expect(topics(again)).toEqual(['output']);
      expect(socketsTo(5672)).toBe(idle + 1);

      await stopAll(running.splice(0));
      await expect.poll(() => socketsTo(5672), { timeout: 10_000 }).toBe(idle);
    } finally {
      for (const queue of queues) await ch.deleteQueue(queue);
      await admin.close();
    }
  });
});

const natsUp = await requireService('NATS JetStream at 127.0.0.1:4222', () => canConnect(4222));
describe.skipIf(!natsUp)('nats_jetstream: one connection per server', () => {
  it('10 triggers share one connection, read their own consumers, and the last stop closes it', async () => {
    const nc = await natsConnect({ servers: NATS });
    const jsm = await jetstreamManager(nc);
    const stream = `WAYMOND_SHARED_${randomUUID().replaceAll('-', '')}`;
    try {
      await jsm.streams.add({ name: stream, subjects: [`waymond.shared.${stream}`] });
      for (let i = 0; i < 10; i++)
        await jsm.consumers.add(stream, { durable_name: `c${i}`, ack_policy: AckPolicy.Explicit });
      const idle = socketsTo(4222);
      const list = await triggers(natsJetstream, 10, (i) => ({ servers: NATS, stream, consumer: `c${i}` }));
      const events = await pollAll(list);
      expect(topics(events)).toEqual(['output']);
      expect(events.map((e) => e.data.consumer)).toEqual(list.map((_, i) => `c${i}`));
      expect(socketsTo(4222)).toBe(idle + 1);
      await stopAll(running.splice(0));
      await expect.poll(() => socketsTo(4222), { timeout: 10_000 }).toBe(idle);
    } finally {
      await jsm.streams.delete(stream);
      await nc.close();
    }
  });
});
