/**
 * Polls a queue kept in Redis: a list's length, a stream consumer group's lag, a sorted
 * set's count in a score range, a BullMQ queue's or a Sidekiq queue's backlog. Every
 * trigger on the same server and options shares one auto-pipelined connection (the polls
 * of one tick go out in one write), opened on the first poll, re-opened on the next poll
 * after it drops, and closed when the last trigger using it stops (see cluster.ts,
 * ../lazy-connection.ts and ../shared-connection.ts).
 *
 * ioredis is loaded by create(), not imported here: most configs have no redis trigger, and
 * loading it costs every run of waymond about 25 MiB (startup memory).
 */
import { errorMessage } from '../../core/context.js';
import type { ComponentContext, EventData, Trigger, TriggerDefinition } from '../../core/types.js';
import { readSecretEnv, redactUrl } from '../connection-url.js';
import { type LazyConnection, lazyConnection } from '../lazy-connection.js';
import { createPoller } from '../poller.js';
import { connectionKey, holdShared, SharedConnections, sharedConnectionName } from '../shared-connection.js';
import { connectClient, endpointOf } from './cluster.js';
import { type RedisClient, readBullmq, readList, readSidekiq, readSortedSet, readStreamGroup } from './reads.js';
import { type RedisConfig, redisSchema } from './schema.js';

export const redis: TriggerDefinition<typeof redisSchema> = {
  kind: 'trigger',
  type: 'redis',
  summary:
    'Polls a queue kept in Redis: list length, stream consumer-group lag, sorted-set count, BullMQ or Sidekiq backlog.',
  schema: redisSchema,
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

/** One lazy connection per (endpoint, password, timeout) in this process. */
export const redisConnections = new SharedConnections<LazyConnection<RedisClient>>((connection) => connection.close());

async function createRedisTrigger(
  config: RedisConfig,
  ctx: ComponentContext,
  password: string | undefined,
): Promise<Trigger> {
  const endpoint = endpointOf(config);
  const where = endpoint.cluster ? endpoint.nodes.map(redactUrl).join(', ') : redactUrl(endpoint.url);
  const ioredis = await import('ioredis');
  const options = { password, timeout: config.timeout, name: sharedConnectionName(':'), where, logger: ctx.logger };
  const key = connectionKey(endpoint, password, config.timeout);
  const connection = holdShared(redisConnections, key, () =>
    lazyConnection<RedisClient>({
      open: (lost) => connectClient(ioredis, endpoint, options, lost),
      isAlive: (client) => client.status === 'ready',
      close: (client) => client.disconnect(),
    }),
  );

  return createPoller(ctx, config, {
    async poll() {
      const client = await connection.get().get();
      try {
        return await read(client, config, ctx);
      } catch (error) {
        throw new Error(`${describeRead(config)} on ${where}: ${errorMessage(error)}`);
      }
    },
    close: () => connection.release(),
  });
}

function read(client: RedisClient, config: RedisConfig, ctx: ComponentContext): Promise<EventData> {
  switch (config.mode) {
    case 'list':
      return readList(client, config.key);
    case 'sorted_set':
      return readSortedSet(client, config.key, config.min, config.max);
    case 'stream':
      return readStreamGroup(client, config.stream, config.group, config.include_pending);
    case 'bullmq':
      return readBullmq(client, config.cluster, config.prefix, config.queue, config.include_delayed).then((counts) => {
        warnOnce(ctx, !counts.known, `no BullMQ queue "${config.queue}" under prefix "${config.prefix}" yet`);
        return counts;
      });
    case 'sidekiq':
      return readSidekiq(client, config.cluster, config.namespace, config.queue).then((counts) => {
        warnOnce(ctx, counts.known === false, `Sidekiq has never seen a queue named "${config.queue}"`);
        return counts;
      });
  }
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
