import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { Trigger } from '../../src/core/types.js';
import { redis as definition } from '../../src/triggers/redis/trigger.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const URL = 'redis://127.0.0.1:6379';
const available = await requireService('Redis at 127.0.0.1:6379', () => canConnect(6379));

describe.skipIf(!available)('redis trigger (real Redis)', () => {
  let admin: Redis;
  const keys: string[] = [];
  const running: { trigger: Trigger; t: TestContext }[] = [];

  beforeAll(async () => {
    admin = new Redis(URL);
  });
  afterEach(async () => {
    for (const { trigger, t } of running.splice(0)) {
      await trigger.stop();
      t.close();
    }
    if (keys.length) await admin.del(...keys.splice(0));
  });
  afterAll(async () => {
    await admin.quit();
  });

  const unique = (name: string) => {
    const key = `waymond-test:${name}:${randomUUID()}`;
    keys.push(key);
    return key;
  };

  /** Starts the trigger driven through its input, so each `fire` is exactly one poll. */
  async function pollOnce(config: Record<string, unknown>) {
    const t = testContext('trigger', 'queue', { hasInput: true });
    const parsed = definition.schema.parse({ type: 'redis', id: 'queue', url: URL, ...config });
    const trigger = await definition.create(parsed, t.ctx);
    running.push({ trigger, t });
    await trigger.start();
    const poll = async () => {
      const before = t.events.length;
      await trigger.fire?.({ id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} });
      return t.events.slice(before);
    };
    return { t, poll };
  }

  it('mode list: the value is the list length, and follows it', async () => {
    const key = unique('list');
    await admin.lpush(key, 'a', 'b', 'c');
    const { poll } = await pollOnce({ mode: 'list', key });
    const [first] = await poll();
    expect(first?.topic).toBe('trigger.queue.output');
    expect(first?.data).toMatchObject({ value: 3, key, length: 3 });
    await admin.rpop(key);
    const [second] = await poll();
    expect(second?.data.value).toBe(2);
  });

  it('mode list: a missing list is an honest zero (an empty queue)', async () => {
    const { poll } = await pollOnce({ mode: 'list', key: unique('absent') });
    const [event] = await poll();
    expect(event?.topic).toBe('trigger.queue.output');
    expect(event?.data.value).toBe(0);
  });

  it('mode list: a key of another type (WRONGTYPE) is an error event, not a value', async () => {
    const key = unique('hash');
    await admin.hset(key, 'f', 'v');
    const { poll } = await pollOnce({ mode: 'list', key });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.queue.error']);
    expect(String(events[0]?.data.error)).toMatch(/LLEN of ".*".*WRONGTYPE/);
  });

  it('mode sorted_set: counts members between min and max, exclusive bounds honoured', async () => {
    const key = unique('zset');
    await admin.zadd(key, 1, 'a', 5, 'b', 10, 'c', 20, 'd');
    const inclusive = await pollOnce({ mode: 'sorted_set', key, min: 5, max: 10 });
    expect((await inclusive.poll())[0]?.data).toMatchObject({ value: 2, min: '5', max: '10' });
    const exclusive = await pollOnce({ mode: 'sorted_set', key, min: '(5', max: '+inf' });
    expect((await exclusive.poll())[0]?.data.value).toBe(2);
  });

  it('mode stream: value is the consumer group lag; pending is added on request', async () => {
    const stream = unique('stream');
    for (let i = 0; i < 5; i++) await admin.xadd(stream, '*', 'n', String(i));
    await admin.xgroup('CREATE', stream, 'workers', '0');
    // Two entries delivered to a consumer and not acknowledged: lag 3, pending 2.
    await admin.xreadgroup('GROUP', 'workers', 'c1', 'COUNT', '2', 'STREAMS', stream, '>');
    const lagOnly = await pollOnce({ mode: 'stream', stream, group: 'workers' });
    expect((await lagOnly.poll())[0]?.data).toMatchObject({
      value: 3,
      lag: 3,
      pending: 2,
      consumers: 1,
      lag_source: 'redis',
    });
    const withPending = await pollOnce({ mode: 'stream', stream, group: 'workers', include_pending: true });
    expect((await withPending.poll())[0]?.data.value).toBe(5);
  });

  it('mode stream: when Redis reports no lag (entries deleted after the group position) it is counted', async () => {
    const stream = unique('stream-nil');
    for (let i = 1; i <= 5; i++) await admin.xadd(stream, `${i}-0`, 'n', String(i));
    await admin.xgroup('CREATE', stream, 'g', '0');
    await admin.xreadgroup('GROUP', 'g', 'c', 'COUNT', '1', 'STREAMS', stream, '>');
    await admin.xdel(stream, '3-0');
    const groups = (await admin.call('XINFO', 'GROUPS', stream)) as unknown[][];
    const row = groups[0] as unknown[];
    expect(row[row.indexOf('lag') + 1]).toBeNull(); // the situation this test is about
    const { poll } = await pollOnce({ mode: 'stream', stream, group: 'g' });
    expect((await poll())[0]?.data).toMatchObject({ value: 3, lag: 3, lag_source: 'counted' });
  });

  it('mode stream: an unknown group is an error event naming it', async () => {
    const stream = unique('stream-nogroup');
    await admin.xadd(stream, '*', 'n', '1');
    await admin.xgroup('CREATE', stream, 'real', '0');
    const { poll } = await pollOnce({ mode: 'stream', stream, group: 'ghost' });
    const events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.queue.error']);
    expect(String(events[0]?.data.error)).toContain('consumer group "ghost" not found');
    expect(String(events[0]?.data.error)).toContain('real');
  });

  it('mode bullmq: waiting, prioritized, delayed and active jobs of a real BullMQ queue', async () => {
    const name = `waymond-test-${randomUUID()}`;
    const connection = { host: '127.0.0.1', port: 6379 };
    const queue = new Queue(name, { connection });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => undefined;
    const activeNow = new Promise<void>((resolve) => {
      started = resolve;
    });
    let worker: Worker | undefined;
    try {
      await queue.add('held', { n: 0 });
      const { poll } = await pollOnce({ mode: 'bullmq', queue: name });
      expect((await poll())[0]?.data).toMatchObject({ value: 1, waiting: 1, active: 0, known: true });

      // A worker takes that job and holds it: it is active, still work to be done.
      worker = new Worker(
        name,
        async () => {
          started();
          await held;
        },
        { connection: { ...connection, maxRetriesPerRequest: null }, concurrency: 1 },
      );
      await activeNow;
      await queue.add('w1', {});
      await queue.add('w2', {});
      await queue.add('urgent', {}, { priority: 1 });
      await queue.add('later', {}, { delay: 3_600_000 });
      await queue.add('later2', {}, { delay: 3_600_000 });
      const [event] = await poll();
      expect(event?.data).toMatchObject({
        value: 6,
        waiting: 2,
        prioritized: 1,
        delayed: 2,
        active: 1,
        paused: false,
      });

      const noDelayed = await pollOnce({ mode: 'bullmq', queue: name, include_delayed: false });
      expect((await noDelayed.poll())[0]?.data).toMatchObject({ value: 4, delayed: 2 });

      // A paused queue keeps its backlog: it is reported, flagged, and still counted.
      await queue.pause();
      expect((await poll())[0]?.data).toMatchObject({ value: 6, paused: true });
    } finally {
      release();
      await worker?.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('mode bullmq: a custom prefix is honoured, an unused queue reads 0 and is flagged unknown', async () => {
    const name = `waymond-test-${randomUUID()}`;
    const queue = new Queue(name, { connection: { host: '127.0.0.1', port: 6379 }, prefix: 'wm-test' });
    try {
      await queue.add('a', {});
      await queue.add('b', {});
      const custom = await pollOnce({ mode: 'bullmq', queue: name, prefix: 'wm-test' });
      expect((await custom.poll())[0]?.data).toMatchObject({ value: 2, waiting: 2 });
      const wrongPrefix = await pollOnce({ mode: 'bullmq', queue: name });
      expect((await wrongPrefix.poll())[0]?.data).toMatchObject({ value: 0, known: false });
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it("mode sidekiq: enqueued jobs plus the jobs Sidekiq's processes are running for that queue", async () => {
    const ns = `waymond-test-${randomUUID()}`;
    const k = (key: string) => `${ns}:${key}`;
    keys.push(k('queue:default'), k('queues'), k('processes'), k('host:1:abc'), k('host:1:abc:work'));
    keys.push(k('host:2:def'), k('host:2:def:work'));
    // As Sidekiq writes them: jobs LPUSHed as JSON, the queue registered in `queues`, each
    // process's identity in `processes`, its running jobs in `<identity>:work`.
    const job = (q: string) => JSON.stringify({ class: 'HardWorker', args: [1], queue: q, jid: randomUUID() });
    await admin.lpush(k('queue:default'), job('default'), job('default'), job('default'));
    await admin.sadd(k('queues'), 'default', 'mailers');
    await admin.sadd(k('processes'), 'host:1:abc', 'host:2:def');
    await admin.hset(k('host:1:abc'), 'busy', '2', 'beat', String(Date.now() / 1000), 'quiet', 'false');
    const work = (q: string) => JSON.stringify({ queue: q, payload: job(q), run_at: Math.floor(Date.now() / 1000) });
    await admin.hset(k('host:1:abc:work'), 'tid-1', work('default'), 'tid-2', work('mailers'));
    await admin.hset(k('host:2:def:work'), 'tid-3', work('default'));

    const { poll } = await pollOnce({ mode: 'sidekiq', queue: 'default', namespace: ns });
    expect((await poll())[0]?.data).toMatchObject({ value: 5, enqueued: 3, busy: 2, processes: 2, known: true });

    // A process that died: its work hash expired, so its jobs no longer count.
    await admin.del(k('host:2:def:work'));
    expect((await poll())[0]?.data).toMatchObject({ value: 4, busy: 1 });
  });

  it('Redis unreachable (a closed port): an error event naming the address, never a value', async () => {
    const t = testContext('trigger', 'down', { hasInput: true });
    const parsed = definition.schema.parse({
      type: 'redis',
      id: 'down',
      url: 'redis://:hunter2@127.0.0.1:1',
      mode: 'list',
      key: 'k',
    });
    const trigger = await definition.create(parsed, t.ctx);
    running.push({ trigger, t });
    await trigger.start();
    await trigger.fire?.({ id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} });
    await trigger.fire?.({ id: 'y', topic: 'in', source: 'trigger.tick', time: 0, data: {} });
    expect(t.events.map((e) => e.topic)).toEqual(['trigger.down.error', 'trigger.down.error']);
    const message = String(t.events[0]?.data.error);
    expect(message).toContain('cannot connect to redis://:***@127.0.0.1:1');
    expect(message).toMatch(/ECONNREFUSED/);
    expect(JSON.stringify(t.events)).not.toContain('hunter2');
  });

  it('after Redis drops the connection, the next poll reconnects and reads again', async () => {
    const key = unique('reconnect');
    await admin.lpush(key, 'a', 'b');
    const { poll } = await pollOnce({ mode: 'list', key });
    expect((await poll())[0]?.data.value).toBe(2);
    const clients = String(await admin.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=waymond:${process.pid} `));
    expect(clients).toHaveLength(1);
    const id = /\bid=(\d+)/.exec(clients[0] as string)?.[1] as string;
    await admin.client('KILL', 'ID', id);
    // The poll right after the kill may still see the dying socket (an error event); the one after must read.
    let events = await poll();
    if (events[0]?.topic === 'trigger.queue.error') events = await poll();
    expect(events.map((e) => e.topic)).toEqual(['trigger.queue.output']);
    expect(events[0]?.data.value).toBe(2);
  });

  it('polls on its own interval when nothing is connected to its input', async () => {
    const key = unique('own-interval');
    await admin.lpush(key, 'a');
    const clock = new VirtualClock();
    const t = testContext('trigger', 'own', { clock });
    const parsed = definition.schema.parse({ type: 'redis', id: 'own', url: URL, mode: 'list', key, interval: '10s' });
    const trigger = await definition.create(parsed, t.ctx);
    running.push({ trigger, t });
    const outputs = () => t.events.filter((e) => e.topic === 'trigger.own.output').map((e) => e.data.value);
    await trigger.start();
    // Once at start, then once per interval of the trigger's clock.
    await expect.poll(outputs).toEqual([1]);
    await admin.lpush(key, 'b');
    await clock.advance(10_000);
    await expect.poll(outputs).toEqual([1, 2]);
  });
});

describe('redis trigger config', () => {
  it.each([
    [{ mode: 'list' }, 'key', 'mode "list" needs `key`'],
    [{ mode: 'stream', stream: 's' }, 'group', 'mode "stream" needs `group`'],
    [{ mode: 'bullmq' }, 'queue', 'mode "bullmq" needs `queue`'],
    [{ mode: 'list', key: 'k', url: undefined }, 'url', 'expected `url`'],
    [{ mode: 'list', key: 'k', cluster: true }, 'nodes', 'cluster = true needs `nodes`'],
    [{ mode: 'list', key: 'k', url: 'http://x' }, 'url', 'expected a URL like'],
    [{ mode: 'sorted_set', key: 'k', min: 'five' }, 'min', 'expected a score like'],
  ])('%j is rejected at %s', (extra, path, message) => {
    const result = definition.schema.safeParse({ type: 'redis', id: 'r', url: URL, ...extra });
    expect(result.success).toBe(false);
    const issue = result.error?.issues.find((i) => i.path[0] === path);
    expect(issue?.message).toContain(message);
  });

  it('a missing password variable stops create with a message naming the component', () => {
    const t = testContext('trigger', 'r');
    const parsed = definition.schema.parse({
      type: 'redis',
      id: 'r',
      url: URL,
      mode: 'list',
      key: 'k',
      password_env: 'WAYMOND_TEST_SURELY_UNSET',
    });
    expect(() => definition.create(parsed, t.ctx)).toThrow(
      'trigger.r: environment variable WAYMOND_TEST_SURELY_UNSET (named by password_env) is not set',
    );
    t.close();
  });
});
