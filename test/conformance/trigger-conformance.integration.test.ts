/**
 * Every polling trigger through the one conformance suite (trigger-conformance.ts), each
 * against its real source: Redis, RabbitMQ, NATS JetStream, PostgreSQL, MariaDB, a
 * Prometheus this file starts, a local HTTP server (http_client), this host's /proc
 * (system), and the documented-API test servers of Buildkite, GitHub and GitLab.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect as amqpConnect } from 'amqplib';
import { Redis } from 'ioredis';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { expect } from 'vitest';
import { buildkite } from '../../src/triggers/ci/buildkite.js';
import { githubActions } from '../../src/triggers/ci/github-actions.js';
import { gitlab } from '../../src/triggers/ci/gitlab.js';
import { httpClient } from '../../src/triggers/http-client.js';
import { natsJetstream } from '../../src/triggers/nats-jetstream.js';
import { prometheus } from '../../src/triggers/prometheus.js';
import { rabbitmq } from '../../src/triggers/rabbitmq.js';
import { redis } from '../../src/triggers/redis/trigger.js';
import { mysql } from '../../src/triggers/sql/mysql.js';
import { postgres } from '../../src/triggers/sql/postgres.js';
import { CPU_WINDOW_MS, system } from '../../src/triggers/system.js';
import { startBuildkiteApi } from '../fixtures/buildkite-api.js';
import { startGithubApi } from '../fixtures/github-api.js';
import { startGitlabApi } from '../fixtures/gitlab-api.js';
import { findPrometheus, freePort, startPrometheus } from '../helpers/prometheus.js';
import { canConnect, requireService } from '../helpers/services.js';
import { describeTriggerConformance } from './trigger-conformance.js';

/** A loopback port nothing listens on (bound, then released): the unreachable source. */
const closedPort = freePort;

const FETCH_POOL =
  "fetch's process-wide pool owns the HTTP sockets (closed by its idle timeout); the trigger keeps no connection of its own";

describeTriggerConformance({
  name: 'redis',
  definition: redis,
  available: await requireService('Redis at 127.0.0.1:6379', () => canConnect(6379)),
  async setup() {
    const admin = new Redis('redis://127.0.0.1:6379');
    const key = `waymond-test:conformance:${randomUUID()}`;
    await admin.rpush(key, 'a', 'b', 'c');
    return {
      config: { url: 'redis://127.0.0.1:6379', mode: 'list', key },
      expectedValue: 3,
      failing: { url: `redis://127.0.0.1:${await closedPort()}`, mode: 'list', key },
      connections: {
        port: 6379,
        // Triggers share one connection per server, named after the daemon's pid.
        server: async () =>
          String(await admin.client('LIST'))
            .split('\n')
            .filter((line) => line.includes(` name=waymond:${process.pid} `)).length,
      },
      async cleanup() {
        await admin.del(key);
        await admin.quit();
      },
    };
  },
});

/** rabbitmqctl is RabbitMQ's own view of its connections; without it, the socket count stands alone. */
const rabbitmqctl = spawnSync('rabbitmqctl', ['--version'], { timeout: 20_000 }).status === 0;

describeTriggerConformance({
  name: 'rabbitmq',
  definition: rabbitmq,
  available: await requireService('RabbitMQ at 127.0.0.1:5672', () => canConnect(5672)),
  timeoutMs: 60_000,
  async setup() {
    const admin = await amqpConnect('amqp://guest:guest@127.0.0.1:5672');
    const ch = await admin.createChannel();
    const queue = `waymond-conformance-${randomUUID()}`;
    await ch.assertQueue(queue, { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    // The broker has the messages once a round trip after them has come back.
    await ch.checkQueue(queue);
    return {
      config: { url: 'amqp://guest:guest@127.0.0.1:5672', queue },
      expectedValue: 4,
      failing: { url: `amqp://guest@127.0.0.1:${await closedPort()}`, queue },
      connections: {
        port: 5672,
        ...(rabbitmqctl
          ? {
              // `name` is the peer address; the name the client gave is among its client_properties.
              server: async () =>
                spawnSync('rabbitmqctl', ['-q', 'list_connections', 'client_properties'], {
                  encoding: 'utf8',
                  timeout: 20_000,
                })
                  .stdout.split('\n')
                  .filter((line) => new RegExp(`waymond ${process.pid}(?!\\d)`).test(line)).length,
            }
          : {}),
      },
      async cleanup() {
        await ch.deleteQueue(queue);
        await admin.close();
      },
    };
  },
});

describeTriggerConformance({
  name: 'nats_jetstream',
  definition: natsJetstream,
  available: await requireService('NATS JetStream at 127.0.0.1:4222', () => canConnect(4222)),
  async setup() {
    const nc = await natsConnect({ servers: 'nats://127.0.0.1:4222' });
    const jsm = await jetstreamManager(nc);
    const stream = `WAYMOND_CONFORMANCE_${randomUUID().replaceAll('-', '')}`;
    const subject = `waymond.conformance.${stream}`;
    await jsm.streams.add({ name: stream, subjects: [subject] });
    await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    for (let i = 0; i < 2; i++) await js.publish(subject, String(i));
    return {
      config: { servers: 'nats://127.0.0.1:4222', stream, consumer: 'workers' },
      expectedValue: 2,
      failing: { servers: `nats://127.0.0.1:${await closedPort()}`, stream, consumer: 'workers', timeout: '2s' },
      // nats-server here runs without its monitoring port, so the sockets are the truth.
      connections: { port: 4222 },
      async cleanup() {
        await jsm.streams.delete(stream);
        await nc.close();
      },
    };
  },
});

const PG_DSN = process.env.WAYMOND_TEST_PG_DSN ?? 'postgres://postgres@127.0.0.1:5432/test';
describeTriggerConformance({
  name: 'postgres',
  definition: postgres,
  available: await requireService('PostgreSQL at 127.0.0.1:5432', () => canConnect(5432)),
  async setup() {
    const admin = new pg.Client({ connectionString: PG_DSN });
    await admin.connect();
    return {
      config: { dsn: PG_DSN, query: 'SELECT 7' },
      expectedValue: 7,
      failing: { dsn: `postgres://postgres@127.0.0.1:${await closedPort()}/test`, query: 'SELECT 7' },
      connections: {
        port: 5432,
        server: async () =>
          (
            await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
              `waymond ${process.pid}`,
            ])
          ).rows[0].n,
      },
      cleanup: () => admin.end(),
    };
  },
});

const MYSQL_DSN = process.env.WAYMOND_TEST_MYSQL_DSN ?? 'mysql://root@127.0.0.1:3306/test';
describeTriggerConformance({
  name: 'mysql',
  definition: mysql,
  available: await requireService('MariaDB/MySQL at 127.0.0.1:3306', () => canConnect(3306)),
  async setup() {
    const admin = await mysql2.createConnection({ uri: MYSQL_DSN });
    return {
      // The value is the trigger's own session id, so the server can be asked about exactly it.
      config: { dsn: MYSQL_DSN, query: 'SELECT CONNECTION_ID()' },
      failing: { dsn: `mysql://root@127.0.0.1:${await closedPort()}/test`, query: 'SELECT 1' },
      connections: {
        port: 3306,
        server: async ({ lastValue }) => {
          const [rows] = await admin.query('SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?', [
            lastValue,
          ]);
          return Number((rows as { n: number }[])[0]?.n);
        },
      },
      cleanup: () => admin.end(),
    };
  },
});

describeTriggerConformance({
  name: 'prometheus',
  definition: prometheus,
  available: await requireService('a prometheus binary', async () => findPrometheus() !== undefined),
  timeoutMs: 60_000,
  async setup() {
    const prom = await startPrometheus({ targets: [] });
    return {
      config: { url: prom.url, query: 'vector(5)' },
      expectedValue: 5,
      failing: { url: `http://127.0.0.1:${await closedPort()}`, query: 'vector(5)' },
      connections: { none: FETCH_POOL },
      cleanup: () => prom.stop(),
    };
  },
});

describeTriggerConformance({
  name: 'http_client',
  definition: httpClient,
  available: true,
  async setup() {
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ value: 9, queue: 'builds' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      config: { url: `http://127.0.0.1:${port}/queue` },
      expectedValue: 9,
      failing: { url: `http://127.0.0.1:${await closedPort()}/queue` },
      connections: { none: FETCH_POOL },
      async cleanup() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  },
});

describeTriggerConformance({
  name: 'system',
  definition: system,
  available: await requireService('Linux /proc', async () => canReadProc()),
  // The first poll measures CPU over CPU_WINDOW_MS of the trigger's clock.
  pollAdvanceMs: CPU_WINDOW_MS,
  async sourceMoved() {
    const before = cpuLine();
    await expect.poll(cpuLine, { timeout: 5000, interval: 10 }).not.toBe(before);
  },
  async setup() {
    const empty = mkdtempSync(join(tmpdir(), 'waymond-no-proc-'));
    return {
      config: { metric: 'load1' },
      failing: { metric: 'load1', proc_path: empty },
      connections: { none: 'it reads files under /proc and opens no connection' },
      async cleanup() {
        rmSync(empty, { recursive: true, force: true });
      },
    };
  },
});

async function canReadProc(): Promise<boolean> {
  try {
    return cpuLine().startsWith('cpu ');
  } catch {
    return false;
  }
}

/** The aggregate CPU line of /proc/stat: it changes with every tick of the kernel's counters. */
function cpuLine(): string {
  return readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
}

/** Sets a token variable for the CI cases; each returns it to what it was. */
function withToken(name: string, value: string): () => void {
  const saved = process.env[name];
  process.env[name] = value;
  return () => {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  };
}

describeTriggerConformance({
  name: 'buildkite',
  definition: buildkite,
  available: true,
  async setup() {
    const token = 'bkua_conformance_token';
    const api = await startBuildkiteApi(token);
    const restore = withToken('WAYMOND_CONFORMANCE_BUILDKITE_TOKEN', token);
    return {
      config: { endpoint: api.endpoint, token_env: 'WAYMOND_CONFORMANCE_BUILDKITE_TOKEN' },
      failing: {
        endpoint: `http://127.0.0.1:${await closedPort()}/v3`,
        token_env: 'WAYMOND_CONFORMANCE_BUILDKITE_TOKEN',
      },
      connections: { none: FETCH_POOL },
      async cleanup() {
        restore();
        await api.close();
      },
    };
  },
});

describeTriggerConformance({
  name: 'github_actions',
  definition: githubActions,
  available: true,
  async setup() {
    const token = 'ghp_conformance_token';
    const api = await startGithubApi(token);
    api.repos['octo-org/octo-repo'] = [
      {
        id: 100,
        status: 'queued',
        jobs: [
          { id: 1, status: 'queued', labels: ['self-hosted', 'linux'] },
          { id: 2, status: 'queued', labels: ['ubuntu-latest'] },
        ],
      },
    ];
    const restore = withToken('WAYMOND_CONFORMANCE_GITHUB_TOKEN', token);
    const common = { labels: ['self-hosted', 'linux'], poll: true, owner: 'octo-org', repo: 'octo-repo' };
    return {
      config: { ...common, api_url: api.apiUrl, token_env: 'WAYMOND_CONFORMANCE_GITHUB_TOKEN' },
      expectedValue: 1,
      failing: {
        ...common,
        api_url: `http://127.0.0.1:${await closedPort()}`,
        token_env: 'WAYMOND_CONFORMANCE_GITHUB_TOKEN',
      },
      connections: { none: FETCH_POOL },
      async cleanup() {
        restore();
        await api.close();
      },
    };
  },
});

describeTriggerConformance({
  name: 'gitlab',
  definition: gitlab,
  available: true,
  async setup() {
    const token = 'glpat-conformance-token';
    const api = await startGitlabApi(token);
    api.projects.test = {
      id: 380,
      path: 'gitlab-org/gitlab-test',
      jobs: [
        { id: 1977, status: 'pending', tag_list: ['linux', 'docker'] },
        { id: 1979, status: 'running', tag_list: ['docker'] },
        { id: 1978, status: 'pending', tag_list: ['windows'] },
      ],
    };
    const restore = withToken('WAYMOND_CONFORMANCE_GITLAB_TOKEN', token);
    const common = { tags: ['linux', 'docker'], poll: true, projects: [380] };
    return {
      config: { ...common, api_url: api.apiUrl, token_env: 'WAYMOND_CONFORMANCE_GITLAB_TOKEN' },
      expectedValue: 2,
      failing: {
        ...common,
        api_url: `http://127.0.0.1:${await closedPort()}/api/v4`,
        token_env: 'WAYMOND_CONFORMANCE_GITLAB_TOKEN',
      },
      connections: { none: FETCH_POOL },
      async cleanup() {
        restore();
        await api.close();
      },
    };
  },
});
