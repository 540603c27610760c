/**
 * Polls a NATS JetStream consumer's backlog: messages not yet delivered to it
 * (`num_pending`) plus messages delivered and not yet acknowledged (`num_ack_pending`),
 * both from the consumer info the JetStream API returns. Every trigger on the same servers
 * and credentials shares one connection (shared-connection.ts), opened on the first poll
 * and closed when the last of them stops; the NATS client reconnects by itself after a
 * drop, and a poll made meanwhile fails as an error event. A connection that closed for
 * good is replaced on the next poll (lazy-connection.ts).
 *
 * The NATS libraries are loaded on the first connect, not imported here: most configs have no
 * nats_jetstream trigger, and loading them costs every run of waymond about 12 MiB (startup
 * memory).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { triggerSchema } from '../core/schema.js';
import type { EventData, TriggerDefinition } from '../core/types.js';
import { readSecretEnv, redactUrl } from './connection-url.js';
import { type LazyConnection, lazyConnection } from './lazy-connection.js';
import { createPoller, pollingFields, secretFromEnv } from './poller.js';
import { connectionKey, holdShared, SharedConnections, sharedConnectionName } from './shared-connection.js';

interface JetStreamConnection {
  nc: NatsConnection;
  jsm: JetStreamManager;
}

/** One NATS connection per (servers, credentials, timeout) in this process. */
export const natsConnections = new SharedConnections<LazyConnection<JetStreamConnection>>((connection) =>
  connection.close(),
);

const server = z
  .string()
  .regex(/^((nats|tls|wss?):\/\/)?[^/\s]+$/, 'expected a server like "nats://host:4222" or "host:4222"');

const schema = triggerSchema('nats_jetstream', {
  servers: z
    .union([server, z.array(server).min(1)])
    .describe('NATS server URL, or several of the same cluster: `nats://host:4222` (`tls://` for TLS).'),
  stream: z.string().min(1).describe('The JetStream stream the consumer reads.'),
  consumer: z.string().min(1).describe('The durable (or named) consumer whose backlog is measured.'),
  token_env: secretFromEnv.optional().describe('Name of the environment variable holding an auth token.'),
  user: z.string().min(1).optional().describe('User name, with `password_env`.'),
  password_env: secretFromEnv.optional().describe("Name of the environment variable holding the user's password."),
  ...pollingFields,
}).superRefine((config, issues) => {
  if (config.password_env && !config.user) {
    issues.addIssue({ code: 'custom', path: ['user'], message: 'password_env needs `user`' });
  }
  if (config.token_env && config.user) {
    issues.addIssue({
      code: 'custom',
      path: ['token_env'],
      message: 'use either token_env or user/password_env, not both',
    });
  }
});

export const natsJetstream: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'nats_jetstream',
  summary: "Polls a NATS JetStream consumer's backlog: pending plus ack-pending messages.",
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "nats_jetstream"
id = "jobs"
servers = ["nats://127.0.0.1:4222"]
stream = "JOBS"
consumer = "workers"
# token_env = "NATS_TOKEN"
interval = "15s"`,
  create(config, ctx) {
    const servers = Array.isArray(config.servers) ? config.servers : [config.servers];
    const token = readSecretEnv(ctx.address, 'token_env', config.token_env);
    const pass = readSecretEnv(ctx.address, 'password_env', config.password_env);
    const where = servers.map((s) => (s.includes('://') ? redactUrl(s) : s)).join(', ');

    const openConnection = () =>
      lazyConnection<JetStreamConnection>({
        async open(lost) {
          let nc: NatsConnection | undefined;
          try {
            const [{ connect }, { jetstreamManager }] = await Promise.all([
              import('@nats-io/transport-node'),
              import('@nats-io/jetstream'),
            ]);
            nc = await connect({
              servers,
              timeout: config.timeout,
              name: sharedConnectionName(' '),
              // Keep reconnecting in the background; each poll meanwhile fails as an error event.
              maxReconnectAttempts: -1,
              ...(token === undefined ? {} : { token }),
              ...(config.user === undefined ? {} : { user: config.user, pass: pass ?? '' }),
            });
            void nc.closed().then(lost);
            const jsm = await jetstreamManager(nc, { timeout: config.timeout });
            return { nc, jsm };
          } catch (error) {
            await nc?.close().catch(() => undefined);
            throw new Error(`cannot reach JetStream at ${where}: ${errorMessage(error)}`);
          }
        },
        isAlive: ({ nc }) => !nc.isClosed(),
        close: ({ nc }) => nc.close(),
      });
    const key = connectionKey(servers, token, config.user, pass, config.timeout);
    const connection = holdShared(natsConnections, key, openConnection);

    return createPoller(ctx, config, {
      async poll(): Promise<EventData> {
        const { jsm } = await connection.get().get();
        let info: Awaited<ReturnType<JetStreamManager['consumers']['info']>>;
        try {
          info = await jsm.consumers.info(config.stream, config.consumer);
        } catch (error) {
          throw new Error(
            `consumer "${config.consumer}" of stream "${config.stream}" at ${where}: ${errorMessage(error)}`,
          );
        }
        return {
          value: info.num_pending + info.num_ack_pending,
          stream: config.stream,
          consumer: config.consumer,
          num_pending: info.num_pending,
          num_ack_pending: info.num_ack_pending,
          num_waiting: info.num_waiting,
          num_redelivered: info.num_redelivered,
        };
      },
      async close() {
        await connection.release();
      },
    });
  },
};
