/**
 * Polls a RabbitMQ queue's depth with a passive declare (`queue.declare` with passive set,
 * amqplib's `checkQueue`): the broker answers with the number of messages ready for
 * delivery and the number of consumers, or closes the channel when the queue does not
 * exist. Every trigger on the same broker URL shares one connection (shared-connection.ts),
 * opened on the first poll and closed when the last of them stops; each trigger has its
 * own channel on it, since such a failure closes the channel it happened on. A closed
 * channel is replaced on the next poll, a dropped connection likewise (lazy-connection.ts).
 *
 * AMQP does not report unacknowledged messages; the management plugin's HTTP API does
 * (`GET /api/queues/<vhost>/<queue>`, field `messages_unacknowledged`), so when
 * `management_url` is set the value also counts messages being worked on.
 *
 * amqplib is loaded on the first connect, not imported here: most configs have no rabbitmq
 * trigger, and every run of waymond would pay for it at startup (memory and time).
 */
import type { Channel, ChannelModel } from 'amqplib';
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { triggerSchema } from '../core/schema.js';
import type { EventData, TriggerDefinition } from '../core/types.js';
import { readSecretEnv, redactUrl } from './connection-url.js';
import { type LazyConnection, lazyConnection } from './lazy-connection.js';
import { createPoller, pollingFields, secretFromEnv } from './poller.js';
import { connectionKey, holdShared, SharedConnections, sharedConnectionName } from './shared-connection.js';

/** One AMQP connection per (URL with its password, timeout) in this process. */
export const amqpConnections = new SharedConnections<LazyConnection<ChannelModel>>((connection) => connection.close());

const schema = triggerSchema('rabbitmq', {
  url: z
    .string()
    .regex(/^amqps?:\/\/[^/]/, 'expected a URL like "amqp://user@host:5672/vhost" or "amqps://…"')
    .describe(
      'AMQP URL, `amqp://user@host:5672/<vhost>` (`amqps://` for TLS; no path means vhost "/", `%2F` spells it too). Put the password in `password_env`.',
    ),
  password_env: secretFromEnv.optional(),
  queue: z.string().min(1).describe('The queue whose depth is measured; it must exist (it is never created).'),
  management_url: z
    .string()
    .regex(/^https?:\/\/[^/]/, 'expected a URL like "http://host:15672"')
    .optional()
    .describe(
      "Base URL of the management plugin's HTTP API (`http://host:15672`). When set, unacknowledged messages are added to the value; it logs in with the AMQP URL's user and password.",
    ),
  ...pollingFields,
});

type RabbitConfig = z.output<typeof schema>;

/** The vhost named by the URL's path: none (or "/") is the default vhost "/". */
export function vhostOf(raw: string): string {
  const path = new URL(raw).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}

function credentialsOf(config: RabbitConfig, password: string | undefined): { user: string; password: string } {
  const url = new URL(config.url);
  return {
    // RabbitMQ's own defaults, as amqplib applies them to a URL without credentials.
    user: url.username ? decodeURIComponent(url.username) : 'guest',
    password: password ?? (url.password ? decodeURIComponent(url.password) : 'guest'),
  };
}

async function readUnacked(
  managementUrl: string,
  config: RabbitConfig,
  credentials: { user: string; password: string },
  signal: AbortSignal,
): Promise<number> {
  const base = managementUrl.replace(/\/+$/, '');
  const path = `/api/queues/${encodeURIComponent(vhostOf(config.url))}/${encodeURIComponent(config.queue)}`;
  const auth = Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64');
  const where = `${redactUrl(base)}${path}`;
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { headers: { authorization: `Basic ${auth}` }, signal });
  } catch (error) {
    throw new Error(
      `management API ${where} unreachable: ${errorMessage((error as { cause?: unknown }).cause ?? error)}`,
    );
  }
  if (!response.ok) {
    throw new Error(`management API ${where} answered HTTP ${response.status}`);
  }
  const body = (await response.json()) as { messages_unacknowledged?: unknown };
  const unacked = body.messages_unacknowledged;
  if (typeof unacked !== 'number' || !Number.isInteger(unacked) || unacked < 0) {
    // A queue's message stats appear a few seconds after it is created; until then there is no honest number.
    throw new Error(`management API ${where} reported no messages_unacknowledged (statistics not collected yet?)`);
  }
  return unacked;
}

export const rabbitmq: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'rabbitmq',
  summary: "Polls a RabbitMQ queue's depth (messages ready, plus unacknowledged through the management API).",
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "rabbitmq"
id = "orders"
url = "amqp://waymond@rabbitmq.internal:5672/shop"
password_env = "RABBITMQ_PASSWORD"
queue = "orders"
# management_url = "http://rabbitmq.internal:15672"
interval = "15s"`,
  create(config, ctx) {
    const password = readSecretEnv(ctx.address, 'password_env', config.password_env);
    const credentials = credentialsOf(config, password);
    const where = redactUrl(config.url);
    const connectUrl = (() => {
      if (password === undefined) return config.url;
      const url = new URL(config.url);
      url.password = encodeURIComponent(password);
      return url.toString();
    })();

    const openConnection = () =>
      lazyConnection<ChannelModel>({
        async open(lost) {
          try {
            const { connect } = await import('amqplib');
            const opened = await connect(connectUrl, {
              timeout: config.timeout,
              // Names the connection in `rabbitmqctl list_connections` and the management UI.
              clientProperties: { connection_name: sharedConnectionName(' ') },
            });
            // amqplib emits 'error' before 'close' on a broken connection; without a listener it would throw.
            opened.on('error', (error: unknown) =>
              ctx.logger.debug({ err: errorMessage(error) }, 'amqp connection error'),
            );
            opened.on('close', lost);
            return opened;
          } catch (error) {
            throw new Error(`cannot connect to ${where}: ${errorMessage(error)}`);
          }
        },
        close: (conn) => conn.close(),
      });
    const key = connectionKey(connectUrl, config.timeout);
    const connection = holdShared(amqpConnections, key, openConnection);
    // The channel is a second lazy layer on the connection: a failed passive declare closes
    // only the channel, and the next poll opens a fresh one on the same connection.
    const channel = lazyConnection<Channel>({
      async open(lost) {
        const conn = await connection.get().get();
        const opened = await conn.createChannel();
        // A failed passive declare closes the channel with an 'error' first; it is reported by checkQueue's rejection.
        opened.on('error', (error: unknown) => ctx.logger.debug({ err: errorMessage(error) }, 'amqp channel closed'));
        opened.on('close', lost);
        return opened;
      },
      // The connection stays for the other triggers: close this one's own channel.
      close: (ch) => ch.close(),
    });

    return createPoller(ctx, config, {
      async poll({ signal }): Promise<EventData> {
        const ch = await channel.get();
        let ready: number;
        let consumers: number;
        try {
          const reply = await ch.checkQueue(config.queue);
          ready = reply.messageCount;
          consumers = reply.consumerCount;
        } catch (error) {
          // The broker closed this channel; the next poll opens a fresh one.
          await channel.discard(ch);
          throw new Error(
            `queue "${config.queue}" in vhost "${vhostOf(config.url)}" on ${where}: ${errorMessage(error)}`,
          );
        }
        const data: EventData = {
          value: ready,
          queue: config.queue,
          vhost: vhostOf(config.url),
          messages_ready: ready,
          consumers,
        };
        if (config.management_url) {
          const unacked = await readUnacked(config.management_url, config, credentials, signal);
          data.value = ready + unacked;
          data.messages_unacknowledged = unacked;
        }
        return data;
      },
      async close() {
        await channel.close();
        await connection.release();
      },
    });
  },
};
