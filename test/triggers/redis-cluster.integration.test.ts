/**
 * The redis trigger's `cluster = true` path against a real Redis Cluster: a one-node
 * cluster (all 16384 slots on one redis-server) that this test starts on a free port.
 * One node is enough to prove the cluster client is used and that multi-key reads are
 * not sent as a MULTI, which a cluster refuses with CROSSSLOT when the keys' slots differ.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redis as definition } from '../../src/triggers/redis/trigger.js';
import { testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const available = await requireService('redis-server binary (for a one-node Redis Cluster)', async () => {
  return spawnSync('redis-server', ['--version']).status === 0;
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** Waits (up to 10 s) for a condition while the server starts; hooks cannot use expect.poll. */
async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe.skipIf(!available)('redis trigger against a Redis Cluster', () => {
  let server: ChildProcess;
  let admin: Redis;
  let port: number;
  let dir: string;

  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'waymond-redis-cluster-'));
    server = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-announce-ip',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => canConnect(port), 'redis-server to listen');
    admin = new Redis({ port, host: '127.0.0.1' });
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await waitFor(
      async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'),
      'cluster_state:ok',
    );
  });
  afterAll(async () => {
    await admin?.quit().catch(() => undefined);
    server?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  async function pollOnce(config: Record<string, unknown>) {
    const t = testContext('trigger', 'clustered', { hasInput: true });
    const trigger = await definition.create(
      definition.schema.parse({
        type: 'redis',
        id: 'clustered',
        cluster: true,
        nodes: [`redis://127.0.0.1:${port}`],
        ...config,
      }),
      t.ctx,
    );
    await trigger.start();
    await trigger.fire?.({ id: 'x', topic: 'in', source: 'trigger.tick', time: 0, data: {} });
    await trigger.stop();
    t.close();
    return t.events;
  }

  it('mode list reads through the cluster client', async () => {
    const key = `waymond-test:list:${randomUUID()}`;
    await admin.rpush(key, 'a', 'b', 'c', 'd');
    const events = await pollOnce({ mode: 'list', key });
    expect(events[0]?.data).toMatchObject({ value: 4 });
    await admin.del(key);
  });

  it('mode sidekiq reads keys of different slots without a cross-slot transaction', async () => {
    const ns = `waymond-test-${randomUUID()}`;
    await admin.lpush(`${ns}:queue:default`, '{}', '{}');
    await admin.sadd(`${ns}:processes`, 'host:9:xyz');
    await admin.sadd(`${ns}:queues`, 'default');
    await admin.hset(`${ns}:host:9:xyz:work`, 'tid', JSON.stringify({ queue: 'default', payload: '{}', run_at: 1 }));
    // The premise: a MULTI over these keys is refused by the cluster.
    await expect(admin.multi().llen(`${ns}:queue:default`).smembers(`${ns}:processes`).exec()).rejects.toThrow(
      /CROSSSLOT/,
    );
    const events = await pollOnce({ mode: 'sidekiq', queue: 'default', namespace: ns });
    expect(events.map((e) => e.topic)).toEqual(['trigger.clustered.output']);
    expect(events[0]?.data).toMatchObject({ value: 3, enqueued: 2, busy: 1 });
    for (const key of ['queue:default', 'processes', 'queues', 'host:9:xyz:work']) await admin.del(`${ns}:${key}`);
  });

  it('unreachable cluster nodes are an error event', async () => {
    const events = await pollOnce({ mode: 'list', key: 'k', nodes: ['redis://127.0.0.1:1'] });
    expect(events.map((e) => e.topic)).toEqual(['trigger.clustered.error']);
    expect(String(events[0]?.data.error)).toContain('cannot connect to redis://127.0.0.1:1');
  });
});
