import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Channel, type ChannelModel, connect } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/core/types.js';
import { rabbitmq as definition, vhostOf } from '../../src/triggers/rabbitmq.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const URL = 'amqp://guest:guest@127.0.0.1:5672';
const available = await requireService('RabbitMQ at 127.0.0.1:5672', () => canConnect(5672));
// Closing a connection from the broker side needs rabbitmqctl, on the broker's machine (here and in CI).
const haveRabbitmqctl = available && spawnSync('rabbitmqctl', ['--help']).error === undefined;
const tick = { id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} };

describe.skipIf(!available)('rabbitmq trigger (real RabbitMQ)', () => {
  let admin: ChannelModel;
  let ch: Channel;
  const queues: string[] = [];
  const running: { trigger: Trigger; t: TestContext }[] = [];

  beforeAll(async () => {
    admin = await connect(URL);
    ch = await admin.createChannel();
  });
  afterEach(async () => {
    for (const { trigger, t } of running.splice(0)) {
      await trigger.stop();
      t.close();
    }
    for (const q of queues.splice(0)) await ch.deleteQueue(q);
  });
  afterAll(async () => {
    await admin.close();
  });

  const uniqueQueue = () => {
    const q = `waymond-test-${randomUUID()}`;
    queues.push(q);
    return q;
  };

  async function start(config: Record<string, unknown>) {
    const t = testContext('trigger', 'rabbit', { hasInput: true });
    const trigger = await definition.create(
      definition.schema.parse({ type: 'rabbitmq', id: 'rabbit', url: URL, ...config }),
      t.ctx,
    );
    running.push({ trigger, t });
    await trigger.start();
    const poll = async () => {
      const before = t.events.length;
      await trigger.fire?.(tick);
      return t.events.slice(before);
    };
    return { t, poll };
  }

  async function publish(queue: string, n: number) {
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    // A round trip on the same channel: the broker has routed every message before it answers.
    await ch.checkQueue(queue);
  }

  it('the value is the number of messages ready in the queue', async () => {
    const queue = uniqueQueue();
    await ch.assertQueue(queue, { durable: false });
    await publish(queue, 7);
    const { poll } = await start({ queue });
    const [event] = await poll();
    expect(event?.topic).toBe('trigger.rabbit.output');
    expect(event?.data).toMatchObject({ value: 7, messages_ready: 7, consumers: 0, queue, vhost: '/' });
    await publish(queue, 3);
    expect((await poll())[0]?.data.value).toBe(10);
  });

  it('a missing queue is an error event naming it; the trigger recovers once the queue exists', async () => {
    const queue = uniqueQueue();
    const { poll } = await start({ queue });
    const failed = await poll();
    expect(failed.map((e) => e.topic)).toEqual(['trigger.rabbit.error']);
    expect(String(failed[0]?.data.error)).toContain(`queue "${queue}"`);
    expect(String(failed[0]?.data.error)).toContain('NOT_FOUND');
    expect(String(failed[0]?.data.error)).not.toContain('guest:guest');

    // The failed passive declare closed the trigger's channel; the next poll must open a new one.
    await ch.assertQueue(queue, { durable: false });
    await publish(queue, 2);
    const recovered = await poll();
    expect(recovered.map((e) => e.topic)).toEqual(['trigger.rabbit.output']);
    expect(recovered[0]?.data.value).toBe(2);
  });

  it('an unreachable broker (a closed port) is an error event, never a value, and hides the password', async () => {
    const { t, poll } = await start({ queue: 'q', url: 'amqp://guest:s3cret@127.0.0.1:1' });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.rabbit.error']);
    expect(String(events[0]?.data.error)).toMatch(
      /cannot connect to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1.*ECONNREFUSED/,
    );
    expect(JSON.stringify(t.events)).not.toContain('s3cret');
  });

  it.skipIf(!haveRabbitmqctl)('after the broker closes the connection, a later poll reconnects', async () => {
    const queue = uniqueQueue();
    await ch.assertQueue(queue, { durable: false });
    await publish(queue, 3);
    const id = `drop${randomUUID().slice(0, 8)}`;
    const t = testContext('trigger', id, { hasInput: true });
    const trigger = await definition.create(definition.schema.parse({ type: 'rabbitmq', id, url: URL, queue }), t.ctx);
    running.push({ trigger, t });
    await trigger.start();
    await trigger.fire?.(tick);
    expect(t.events.at(-1)?.data.value).toBe(3);

    const listing = execFileSync('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], {
      encoding: 'utf8',
    });
    // Triggers share one connection per broker, named after this process's pid.
    const line = listing.split('\n').find((l) => new RegExp(`waymond ${process.pid}(?!\\d)`).test(l));
    const pid = line?.split('\t')[0];
    expect(pid).toMatch(/^<.+>$/);
    execFileSync('rabbitmqctl', ['-q', 'close_connection', pid as string, 'waymond test: dropping the connection']);

    // The poll right after may still hold the closing connection (an error event); the one after must read.
    const before = t.events.length;
    await trigger.fire?.(tick);
    if (t.events.at(-1)?.topic === `trigger.${id}.error`) await trigger.fire?.(tick);
    expect(t.events.at(-1)?.topic).toBe(`trigger.${id}.output`);
    expect(t.events.at(-1)?.data.value).toBe(3);
    expect(t.events.length - before).toBeLessThanOrEqual(2);
  });

  describe('with management_url (a local server answering as the management API documents)', () => {
    // The management plugin is not enabled on this machine's broker, so the HTTP side is a
    // small server returning the documented GET /api/queues/<vhost>/<name> shape, while the
    // ready count still comes from the real broker.
    let server: Server;
    let base: string;
    const seen: { url?: string; auth?: string }[] = [];
    const unacked = new Map<string, number>();

    beforeAll(async () => {
      server = createServer((req, res) => {
        seen.push({ url: req.url, auth: req.headers.authorization });
        const m = /^\/api\/queues\/([^/]+)\/([^/]+)$/.exec(req.url ?? '');
        const name = m ? decodeURIComponent(m[2] as string) : '';
        if (!m || decodeURIComponent(m[1] as string) !== '/' || !unacked.has(name)) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'Object Not Found', reason: 'Not Found' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        const u = unacked.get(name) as number;
        res.end(
          JSON.stringify({
            name,
            vhost: '/',
            durable: false,
            messages: 4 + u,
            messages_ready: 4,
            messages_unacknowledged: u,
            consumers: 1,
            state: 'running',
          }),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('adds messages_unacknowledged to the ready count, logging in with the AMQP credentials', async () => {
      const queue = uniqueQueue();
      await ch.assertQueue(queue, { durable: false });
      await publish(queue, 4);
      unacked.set(queue, 5);
      const { poll } = await start({ queue, management_url: `${base}/` });
      expect((await poll())[0]?.data).toMatchObject({ value: 9, messages_ready: 4, messages_unacknowledged: 5 });
      const request = seen.at(-1);
      expect(request?.url).toBe(`/api/queues/%2F/${encodeURIComponent(queue)}`);
      expect(request?.auth).toBe(`Basic ${Buffer.from('guest:guest').toString('base64')}`);
    });

    it('a management API failure is an error event, not a ready-only value', async () => {
      const queue = uniqueQueue();
      await ch.assertQueue(queue, { durable: false });
      const { poll } = await start({ queue, management_url: base });
      const events = await poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.rabbit.error']);
      expect(String(events[0]?.data.error)).toContain('answered HTTP 404');
    });
  });
});

describe('rabbitmq vhost from URL', () => {
  it.each([
    ['amqp://h', '/'],
    ['amqp://h/', '/'],
    ['amqp://h/%2F', '/'],
    ['amqp://h/shop', 'shop'],
    ['amqps://u@h:5671/a%2Fb', 'a/b'],
  ])('%s is vhost %s', (url, vhost) => {
    expect(vhostOf(url)).toBe(vhost);
  });
});
