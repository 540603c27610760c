/**
 * Opening the redis trigger's connection: one server by `url`, or a Redis Cluster through
 * its seed `nodes`. ioredis's own reconnect loop is off (a dead Redis becomes one error
 * event per poll instead of commands queueing silently until the poll times out); the
 * lazy connection reopens on the next poll instead.
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/context.js';
import type { RedisClient } from './reads.js';
import type { RedisConfig } from './schema.js';

/** The ioredis classes, loaded by create() (most configs never pay for ioredis). */
export interface Ioredis {
  Cluster: typeof Cluster;
  Redis: typeof Redis;
}

/** Where the trigger connects: one URL, or the cluster's seed nodes. */
export type RedisEndpoint = { cluster: false; url: string } | { cluster: true; nodes: [string, ...string[]] };

/** The schema guarantees `url` or `nodes`; this turns that guarantee into a type. */
export function endpointOf(config: Pick<RedisConfig, 'cluster' | 'url' | 'nodes'>): RedisEndpoint {
  if (config.cluster) {
    const [first, ...rest] = config.nodes ?? [];
    if (first === undefined) throw new Error('cluster = true needs `nodes`');
    return { cluster: true, nodes: [first, ...rest] };
  }
  if (config.url === undefined) throw new Error('expected `url` (or `cluster = true` with `nodes`)');
  return { cluster: false, url: config.url };
}

function seedOf(raw: string): { host: string; port: number } {
  const url = new URL(raw);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
}

export function createClient(
  { Cluster, Redis }: Ioredis,
  endpoint: RedisEndpoint,
  options: { password: string | undefined; timeout: number; name: string },
): RedisClient {
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: options.timeout,
    // Fail a command at once when the connection is down; the next poll reconnects.
    maxRetriesPerRequest: 0,
    // Shows up in CLIENT LIST, so an operator can tell waymond's connections apart.
    connectionName: options.name,
    // The polls of one tick, from every trigger sharing this client, go out in one write.
    enableAutoPipelining: true,
    ...(options.password === undefined ? {} : { password: options.password }),
  };
  if (!endpoint.cluster) return new Redis(endpoint.url, { ...common, retryStrategy: () => null });
  const first = new URL(endpoint.nodes[0]);
  return new Cluster(endpoint.nodes.map(seedOf), {
    lazyConnect: true,
    enableAutoPipelining: true,
    clusterRetryStrategy: () => null,
    redisOptions: {
      ...common,
      ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
}

/**
 * Creates and connects a client. ioredis rejects with a generic "Connection is closed.";
 * the socket's own error (kept from the 'error' event) says why, so both are in the message.
 */
export async function connectClient(
  ioredis: Ioredis,
  endpoint: RedisEndpoint,
  options: { password: string | undefined; timeout: number; name: string; where: string; logger: Logger },
  lost: () => void,
): Promise<RedisClient> {
  const client = createClient(ioredis, endpoint, options);
  let lastError: string | undefined;
  // Without a listener ioredis prints connection errors to the console.
  client.on('error', (error: unknown) => {
    lastError = errorMessage(error);
    options.logger.debug({ err: lastError }, 'redis connection error');
  });
  client.on('end', lost);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    const reason = errorMessage(error);
    const detail = lastError && lastError !== reason ? ` (${lastError})` : '';
    throw new Error(`cannot connect to ${options.where}: ${reason}${detail}`);
  }
  return client;
}
