/**
 * The redis trigger's config: the connection fields every mode shares, then one branch per
 * `mode` with only that mode's fields. A field of another mode (`queue` in mode `list`) is
 * a load error naming the field, not silently ignored.
 */
import { z } from 'zod';
import { triggerSchema } from '../../core/schema.js';
import { pollingFields, secretFromEnv } from '../poller.js';

export const MODES = ['list', 'stream', 'sorted_set', 'bullmq', 'sidekiq'] as const;
export type RedisMode = (typeof MODES)[number];

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

const connectionFields = {
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
};

const MODE_DOC =
  'What to measure: `list` (LLEN `key`), `stream` (lag of `group` on `stream`), `sorted_set` (ZCOUNT `key` between `min` and `max`), `bullmq` (waiting + prioritized + delayed + active jobs of `queue`), `sidekiq` (enqueued + running jobs of `queue`). Each mode takes only its own fields.';

/** A name a mode cannot do without; its absence says which mode needs it. */
const needed = (mode: RedisMode, field: string, description: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `mode "${mode}" needs \`${field}\`` : undefined) })
    .min(1)
    .describe(description);

function modeSchema<M extends RedisMode, T extends z.ZodRawShape>(mode: M, shape: T) {
  return triggerSchema('redis', {
    ...connectionFields,
    mode: z.literal(mode).describe(MODE_DOC),
    ...shape,
    ...pollingFields,
  });
}

const list = modeSchema('list', {
  key: needed('list', 'key', 'The list or sorted set to measure.'),
});

const sortedSet = modeSchema('sorted_set', {
  key: needed('sorted_set', 'key', 'The list or sorted set to measure.'),
  min: scoreBound.default('-inf').describe('Lowest score counted (`(` before it excludes it).'),
  max: scoreBound.default('+inf').describe('Highest score counted (`(` before it excludes it).'),
});

const stream = modeSchema('stream', {
  stream: needed('stream', 'stream', 'The stream.'),
  group: needed('stream', 'group', 'The consumer group whose lag is measured.'),
  include_pending: z
    .boolean()
    .default(false)
    .describe(
      'Add the entries delivered but not yet acknowledged (the PEL) to the lag, so work in progress counts too.',
    ),
});

const bullmq = modeSchema('bullmq', {
  queue: needed('bullmq', 'queue', 'The BullMQ or Sidekiq queue name.'),
  prefix: z.string().min(1).default('bull').describe("The queues' key prefix (BullMQ's `prefix` option)."),
  include_delayed: z
    .boolean()
    .default(true)
    .describe('Count delayed jobs (scheduled for later) in the value; they are always in the details.'),
});

const sidekiq = modeSchema('sidekiq', {
  queue: needed('sidekiq', 'queue', 'The BullMQ or Sidekiq queue name.'),
  namespace: z.string().min(1).optional().describe('The redis-namespace prefix, when Sidekiq runs under one.'),
});

export const redisSchema = z
  .discriminatedUnion('mode', [list, stream, sortedSet, bullmq, sidekiq])
  .superRefine((config, issues) => {
    if (config.cluster && !config.nodes) {
      issues.addIssue({ code: 'custom', path: ['nodes'], message: 'cluster = true needs `nodes`' });
    }
    if (!config.cluster && !config.url) {
      issues.addIssue({ code: 'custom', path: ['url'], message: 'expected `url` (or `cluster = true` with `nodes`)' });
    }
  });

export type RedisConfig = z.output<typeof redisSchema>;
