import { randomUUID } from 'node:crypto';
import { AckPolicy, type JetStreamManager, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/core/types.js';
import { natsJetstream as definition } from '../../src/triggers/nats-jetstream.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const SERVER = 'nats://127.0.0.1:4222';
const available = await requireService('NATS JetStream at 127.0.0.1:4222', () => canConnect(4222));
const tick = { id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} };

describe.skipIf(!available)('nats_jetstream trigger (real NATS JetStream)', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];
  const running: { trigger: Trigger; t: TestContext }[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: SERVER });
    jsm = await jetstreamManager(nc);
  });
  afterEach(async () => {
    for (const { trigger, t } of running.splice(0)) {
      await trigger.stop();
      t.close();
    }
    for (const s of streams.splice(0)) await jsm.streams.delete(s);
  });
  afterAll(async () => {
    await nc.close();
  });

  /** A fresh stream with a durable pull consumer that needs explicit acks. */
  async function streamWithConsumer() {
    const name = `WAYMOND_TEST_${randomUUID().replaceAll('-', '')}`;
    const subject = `waymond.test.${name}`;
    await jsm.streams.add({ name, subjects: [subject] });
    streams.push(name);
    await jsm.consumers.add(name, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
    return { name, subject };
  }

  async function start(config: Record<string, unknown>) {
    const t = testContext('trigger', 'js', { hasInput: true });
    const trigger = await definition.create(
      definition.schema.parse({ type: 'nats_jetstream', id: 'js', servers: SERVER, ...config }),
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

  it('value is num_pending + num_ack_pending, and acks bring it down', async () => {
    const { name, subject } = await streamWithConsumer();
    const js = jetstream(nc);
    for (let i = 0; i < 10; i++) await js.publish(subject, String(i));
    const { poll } = await start({ stream: name, consumer: 'workers' });
    expect((await poll())[0]?.data).toMatchObject({ value: 10, num_pending: 10, num_ack_pending: 0 });

    // Three messages fetched by a worker and not acknowledged: still work, now in progress.
    const consumer = await js.consumers.get(name, 'workers');
    const fetched: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: 3, expires: 2000 })) fetched.push(m);
    expect(fetched).toHaveLength(3);
    const [inProgress] = await poll();
    expect(inProgress?.topic).toBe('trigger.js.output');
    expect(inProgress?.data).toMatchObject({ value: 10, num_pending: 7, num_ack_pending: 3, stream: name });

    for (const m of fetched.slice(0, 2)) await m.ackAck();
    expect((await poll())[0]?.data).toMatchObject({ value: 8, num_pending: 7, num_ack_pending: 1 });
  });

  it('a missing consumer is an error event naming it, never a value', async () => {
    const { name } = await streamWithConsumer();
    const { poll } = await start({ stream: name, consumer: 'ghost' });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.js.error']);
    expect(String(events[0]?.data.error)).toContain(`consumer "ghost" of stream "${name}"`);
    expect(String(events[0]?.data.error)).toMatch(/consumer not found/i);
  });

  it('a missing stream is an error event too', async () => {
    const { poll } = await start({ stream: `NOPE_${randomUUID().replaceAll('-', '')}`, consumer: 'workers' });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.js.error']);
    expect(String(events[0]?.data.error)).toMatch(/stream not found/i);
  });

  it('an unreachable server (a closed port) is an error event, and the next poll tries again', async () => {
    const { poll } = await start({ servers: ['nats://127.0.0.1:1'], stream: 'S', consumer: 'c', timeout: '2s' });
    for (let i = 0; i < 2; i++) {
      const events = await poll();
      expect(events.map((e) => e.topic)).toEqual(['trigger.js.error']);
      expect(String(events[0]?.data.error)).toContain('cannot reach JetStream at nats://127.0.0.1:1');
    }
  });
});

describe('nats_jetstream trigger config', () => {
  it('password_env without user is rejected', () => {
    const result = definition.schema.safeParse({
      type: 'nats_jetstream',
      id: 'j',
      servers: 'nats://h:4222',
      stream: 's',
      consumer: 'c',
      password_env: 'NATS_PASSWORD',
    });
    expect(result.error?.issues[0]?.message).toBe('password_env needs `user`');
  });
});
