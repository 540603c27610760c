/**
 * Polls a queue kept in Redis: a list's length, a stream consumer group's lag, a sorted
 * set's count in a score range, a BullMQ queue's or a Sidekiq queue's backlog. One
 * connection is opened on the first poll, reused, and re-opened on the next poll after it
 * drops (ioredis's own reconnect loop is off, so a dead Redis becomes one error event per
 * poll instead of commands queueing silently until the poll times out).
 *
 * ioredis is loaded by create(), not imported here: most configs have no redis trigger, and
 * loading it costs every run of waymond about 25 MiB (startup memory).
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { triggerSchema } from '../core/schema.js';
import type { ComponentContext, EventData, Trigger, TriggerDefinition } from '../core/types.js';
import { readSecretEnv, redactUrl } from './connection-url.js';
import { createPoller, pollingFields, secretFromEnv } from './poller.js';
import { type RedisClient, readBullmq, readList, readSidekiq, readSortedSet, readStreamGroup } from './redis-reads.js';

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/[^/]/, 'expected a URL like "redis://host:6379" or "rediss://host:6380"');

/** ZCOUNT bounds: a number, "-inf"/"+inf", or "(" before a number for an exclusive bound. */
const scoreBound = z
  .union([
    z.number(),
    z.string().regex(/^(\(?-?\d+(\.\d+)?|[-+]inf)$/, 'expected a score like 10, "(10", "-inf" or "+inf"'),
  ])
  .transform(String);

const MODE_NEEDS: Record<string, readonly string[]> = {
  list: ['key'],
  sorted_set: ['key'],
  stream: ['stream', 'group'],
  bullmq: ['queue'],
  sidekiq: ['queue'],
};

const schema = triggerSchema('redis', {
  url: redisUrl
    .optional()
    .describe(
      'Redis URL, `redis://[user@]host:port[/db]`, `rediss://` for TLS. Required unless `cluster = true`. Put the password in `password_env`, not here.',
    ),
  password_env: secretFromEnv.optional(),
  cluster: z.boolean().default(false).describe('Connect to a Redis Cluster through `nodes` instead of `url`.'),
  nodes: z
    .array(redisUrl)
    .min(1)
    .optional()
    .describe('Cluster seed nodes as URLs (`redis://host:7000`); required when `cluster = true`.'),
  mode: z
    .enum(['list', 'stream', 'sorted_set', 'bullmq', 'sidekiq'])
    .describe(
      'What to measure: `list` (LLEN `key`), `stream` (lag of `group` on `stream`), `sorted_set` (ZCOUNT `key` between `min` and `max`), `bullmq` (waiting + prioritized + delayed + active jobs of `queue`), `sidekiq` (enqueued + running jobs of `queue`).',
    ),
  key: z.string().min(1).optional().describe('The list or sorted set to measure (modes `list`, `sorted_set`).'),
  stream: z.string().min(1).optional().describe('The stream (mode `stream`).'),
  group: z.string().min(1).optional().describe('The consumer group whose lag is measured (mode `stream`).'),
  include_pending: z
    .boolean()
    .default(false)
    .describe(
      'Mode `stream`: add the entries delivered but not yet acknowledged (the PEL) to the lag, so work in progress counts too.',
    ),
  min: scoreBound.default('-inf').describe('Mode `sorted_set`: lowest score counted (`(` before it excludes it).'),
  max: scoreBound.default('+inf').describe('Mode `sorted_set`: highest score counted (`(` before it excludes it).'),
  queue: z.string().min(1).optional().describe('The BullMQ or Sidekiq queue name (modes `bullmq`, `sidekiq`).'),
  prefix: z
    .string()
    .min(1)
    .default('bull')
    .describe("Mode `bullmq`: the queues' key prefix (BullMQ's `prefix` option)."),
  include_delayed: z
    .boolean()
    .default(true)
    .describe('Mode `bullmq`: count delayed jobs (scheduled for later) in the value; they are always in the details.'),
  namespace: z
    .string()
    .min(1)
    .optional()
    .describe('Mode `sidekiq`: the redis-namespace prefix, when Sidekiq runs under one.'),
  ...pollingFields,
}).superRefine((config, issues) => {
  if (config.cluster && !config.nodes) {
    issues.addIssue({ code: 'custom', path: ['nodes'], message: 'cluster = true needs `nodes`' });
  }
  if (!config.cluster && !config.url) {
    issues.addIssue({ code: 'custom', path: ['url'], message: 'expected `url` (or `cluster = true` with `nodes`)' });
  }
  const fields = config as Record<string, unknown>;
  for (const field of MODE_NEEDS[config.mode] ?? []) {
    if (fields[field] === undefined) {
      issues.addIssue({ code: 'custom', path: [field], message: `mode "${config.mode}" needs \`${field}\`` });
    }
  }
});

type RedisConfig = z.output<typeof schema>;

/** The ioredis classes, loaded by create(). */
interface Ioredis {
  Cluster: typeof Cluster;
  Redis: typeof Redis;
}

function createClient(
  { Cluster, Redis }: Ioredis,
  config: RedisConfig,
  password: string | undefined,
  address: string,
): RedisClient {
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: config.timeout,
    // Fail a command at once when the connection is down; the next poll reconnects.
    maxRetriesPerRequest: 0,
    // Shows up in CLIENT LIST, so an operator can tell waymond's connections apart.
    connectionName: `waymond:${address}`,
    ...(password === undefined ? {} : { password }),
  };
  if (config.cluster) {
    const seeds = (config.nodes ?? []).map((raw) => {
      const url = new URL(raw);
      return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
    });
    const first = new URL((config.nodes ?? [])[0] as string);
    return new Cluster(seeds, {
      lazyConnect: true,
      clusterRetryStrategy: () => null,
      redisOptions: {
        ...common,
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
      },
    });
  }
  return new Redis(config.url as string, { ...common, retryStrategy: () => null });
}

export const redis: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'redis',
  summary:
    'Polls a queue kept in Redis: list length, stream consumer-group lag, sorted-set count, BullMQ or Sidekiq backlog.',
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "redis"
id = "emails"
url = "redis://127.0.0.1:6379"
# password_env = "REDIS_PASSWORD"
mode = "bullmq"
queue = "emails"
interval = "10s"`,
  create(config, ctx) {
    // A missing secret is reported at once, before ioredis is loaded.
    const password = readSecretEnv(ctx.address, 'password_env', config.password_env);
    return createRedisTrigger(config, ctx, password);
  },
};

async function createRedisTrigger(
  config: RedisConfig,
  ctx: ComponentContext,
  password: string | undefined,
): Promise<Trigger> {
  const where = config.cluster ? (config.nodes ?? []).map(redactUrl).join(', ') : redactUrl(config.url as string);
  const client = createClient(await import('ioredis'), config, password, ctx.address);
  let lastConnectionError: string | undefined;
  // Without a listener ioredis prints connection errors to the console; keep the latest for the next message.
  client.on('error', (error: unknown) => {
    lastConnectionError = errorMessage(error);
    ctx.logger.debug({ err: lastConnectionError }, 'redis connection error');
  });

  const ensureConnected = async (): Promise<void> => {
    if (client.status === 'ready') return;
    if (client.status === 'wait' || client.status === 'end' || client.status === 'close') {
      lastConnectionError = undefined;
      try {
        await client.connect();
      } catch (error) {
        // ioredis rejects with a generic "Connection is closed."; the socket's own error says why.
        const reason = errorMessage(error);
        const detail = lastConnectionError && lastConnectionError !== reason ? ` (${lastConnectionError})` : '';
        throw new Error(`cannot connect to ${where}: ${reason}${detail}`);
      }
      return;
    }
    throw new Error(`connection to ${where} is still being set up (${client.status})`);
  };

  const read = (): Promise<EventData> => {
    const cluster = config.cluster;
    switch (config.mode) {
      case 'list':
        return readList(client, config.key as string);
      case 'sorted_set':
        return readSortedSet(client, config.key as string, config.min, config.max);
      case 'stream':
        return readStreamGroup(client, config.stream as string, config.group as string, config.include_pending);
      case 'bullmq':
        return readBullmq(client, cluster, config.prefix, config.queue as string, config.include_delayed).then(
          (counts) => {
            warnOnce(ctx, !counts.known, `no BullMQ queue "${config.queue}" under prefix "${config.prefix}" yet`);
            return counts;
          },
        );
      case 'sidekiq':
        return readSidekiq(client, cluster, config.namespace, config.queue as string).then((counts) => {
          warnOnce(ctx, counts.known === false, `Sidekiq has never seen a queue named "${config.queue}"`);
          return counts;
        });
    }
  };

  return createPoller(ctx, config, {
    async poll() {
      await ensureConnected();
      try {
        return await read();
      } catch (error) {
        throw new Error(`${describeRead(config)} on ${where}: ${errorMessage(error)}`);
      }
    },
    close() {
      client.disconnect();
    },
  });
}

function describeRead(config: RedisConfig): string {
  switch (config.mode) {
    case 'list':
      return `LLEN of "${config.key}"`;
    case 'sorted_set':
      return `ZCOUNT of "${config.key}"`;
    case 'stream':
      return `lag of group "${config.group}" on stream "${config.stream}"`;
    case 'bullmq':
      return `counts of BullMQ queue "${config.queue}"`;
    case 'sidekiq':
      return `counts of Sidekiq queue "${config.queue}"`;
  }
}

const warned = new WeakSet<ComponentContext>();

/**
 * A BullMQ or Sidekiq queue nobody has used yet reads as zero, which is true, but is also
 * what a misspelt queue name looks like; say so once in the log rather than on every poll.
 */
function warnOnce(ctx: ComponentContext, condition: boolean, message: string): void {
  if (!condition || warned.has(ctx)) return;
  warned.add(ctx);
  ctx.logger.warn(`${message}: the value is 0 until it has jobs; check the name if that is unexpected`);
}
