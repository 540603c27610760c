/**
 * The reads behind the `redis` trigger's modes, one function per mode. Each is read-only
 * (no Lua scripts, no marker clean-up as BullMQ's own getCounts does) and returns the
 * event data, `value` first. Key layouts follow the installed libraries:
 * - BullMQ 5/6: `<prefix>:<queue>:wait` and `:active` are lists; `:delayed`, `:prioritized`
 *   and `:waiting-children` are sorted sets; `:meta` is a hash whose `paused` field marks a
 *   paused queue (jobs then stay in `wait`); `:paused` is the list older BullMQ moved jobs to
 *   while paused, still counted in case a queue was paused by an old version.
 * - Sidekiq: `queue:<name>` is a list (LPUSH, so newest first); `processes` is a set of
 *   process identities; `<identity>:work` is a hash thread id → JSON `{queue, payload,
 *   run_at}` of the jobs running now (it expires with the process's heartbeat, so dead
 *   processes drop out by themselves). redis-namespace prefixes every key with `<ns>:`.
 */
import type { Cluster, Redis } from 'ioredis';
import type { EventData } from '../../core/types.js';

export type RedisClient = Redis | Cluster;

/** Redis stream ids are `<ms>-<seq>`. */
const STREAM_ID = /^(\d+)-(\d+)$/;

/** How many entries the lag fallback is willing to count before giving up. */
export const MAX_LAG_SCAN = 100_000;
const SCAN_PAGE = 1000;

/**
 * Runs read commands as one MULTI on a single server (a consistent snapshot: a job moving
 * from wait to active is not counted twice or missed), or one by one on a cluster, where a
 * transaction would need every key in one hash slot.
 */
export async function readAll(client: RedisClient, cluster: boolean, commands: string[][]): Promise<unknown[]> {
  if (cluster) {
    return Promise.all(commands.map(([name, ...args]) => client.call(name as string, ...args)));
  }
  // ioredis looks transaction commands up by their lower-case method name.
  const replies = await client
    .multi(commands.map(([name, ...args]) => [(name as string).toLowerCase(), ...args]))
    .exec();
  if (!replies) throw new Error('transaction was aborted');
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

export function toCount(reply: unknown, what: string): number {
  const n = typeof reply === 'string' ? Number(reply) : reply;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new Error(`expected a count for ${what}, found ${JSON.stringify(reply)}`);
  }
  return n;
}

export async function readList(client: RedisClient, key: string): Promise<EventData> {
  const length = toCount(await client.llen(key), `LLEN ${key}`);
  return { value: length, key, length };
}

export async function readSortedSet(client: RedisClient, key: string, min: string, max: string): Promise<EventData> {
  const count = toCount(await client.zcount(key, min, max), `ZCOUNT ${key}`);
  return { value: count, key, min, max };
}

/** XINFO GROUPS answers flat [field, value, …] lists under RESP2 and legacy mapping, maps under RESP3. */
function fieldsOf(entry: unknown): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  if (Array.isArray(entry)) {
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
  } else if (entry instanceof Map) {
    for (const [k, v] of entry) fields.set(String(k), v);
  } else if (entry && typeof entry === 'object') {
    for (const [k, v] of Object.entries(entry)) fields.set(k, v);
  }
  return fields;
}

/** The id right after `id`, so XRANGE can start exclusively on any Redis version. */
function nextStreamId(id: string): string {
  const m = STREAM_ID.exec(id);
  if (!m) throw new Error(`unexpected stream id ${JSON.stringify(id)}`);
  return `${m[1]}-${BigInt(m[2] as string) + 1n}`;
}

/**
 * Counts entries after `lastDeliveredId` page by page. Used only when Redis does not report
 * the lag itself: before 7.0, or when entries after the group's position were deleted.
 */
async function countEntriesAfter(client: RedisClient, stream: string, lastDeliveredId: string): Promise<number> {
  let start = nextStreamId(lastDeliveredId);
  let counted = 0;
  for (;;) {
    const page = (await client.xrange(stream, start, '+', 'COUNT', SCAN_PAGE)) as [string, string[]][];
    counted += page.length;
    if (page.length < SCAN_PAGE) return counted;
    if (counted >= MAX_LAG_SCAN) {
      throw new Error(
        `Redis does not report the lag of this group (Redis < 7.0, or entries after its position were deleted), ` +
          `and over ${MAX_LAG_SCAN} entries follow last-delivered-id ${lastDeliveredId}; refusing to count them`,
      );
    }
    start = nextStreamId((page[page.length - 1] as [string, string[]])[0]);
  }
}

export async function readStreamGroup(
  client: RedisClient,
  stream: string,
  group: string,
  includePending: boolean,
): Promise<EventData> {
  const groups = (await client.call('XINFO', 'GROUPS', stream)) as unknown[];
  const info = groups.map(fieldsOf).find((f) => String(f.get('name')) === group);
  if (!info) {
    const names = groups.map((g) => String(fieldsOf(g).get('name'))).join(', ') || 'none';
    throw new Error(`consumer group "${group}" not found on stream "${stream}" (groups there: ${names})`);
  }
  const pending = toCount(info.get('pending'), 'pending');
  const consumers = toCount(info.get('consumers'), 'consumers');
  const lastDeliveredId = String(info.get('last-delivered-id'));
  const reported = info.get('lag');
  let lag: number;
  let lagSource: 'redis' | 'counted';
  if (reported !== null && reported !== undefined) {
    lag = toCount(reported, 'lag');
    lagSource = 'redis';
  } else {
    lag = await countEntriesAfter(client, stream, lastDeliveredId);
    lagSource = 'counted';
  }
  return {
    value: includePending ? lag + pending : lag,
    stream,
    group,
    lag,
    pending,
    consumers,
    last_delivered_id: lastDeliveredId,
    lag_source: lagSource,
  };
}

export interface BullmqCounts extends EventData {
  value: number;
  queue: string;
  waiting: number;
  prioritized: number;
  delayed: number;
  active: number;
  waiting_children: number;
  paused: boolean;
  /** False when the queue's meta hash is missing: no job was ever added (or queue/prefix is misspelt). */
  known: boolean;
}

export async function readBullmq(
  client: RedisClient,
  cluster: boolean,
  prefix: string,
  queue: string,
  includeDelayed: boolean,
): Promise<BullmqCounts> {
  const k = (name: string) => `${prefix}:${queue}:${name}`;
  const [wait, legacyPaused, lastWait, active, delayed, prioritized, children, paused, meta] = await readAll(
    client,
    cluster,
    [
      ['llen', k('wait')],
      ['llen', k('paused')],
      ['lindex', k('wait'), '-1'],
      ['llen', k('active')],
      ['zcard', k('delayed')],
      ['zcard', k('prioritized')],
      ['zcard', k('waiting-children')],
      ['hget', k('meta'), 'paused'],
      ['exists', k('meta')],
    ],
  );
  // BullMQ before 5 left a "0:<ts>" marker at the tail of wait; it is not a job.
  const marker = typeof lastWait === 'string' && lastWait.startsWith('0:') ? 1 : 0;
  const waiting = toCount(wait, 'wait') - marker + toCount(legacyPaused, 'paused');
  const counts = {
    waiting,
    prioritized: toCount(prioritized, 'prioritized'),
    delayed: toCount(delayed, 'delayed'),
    active: toCount(active, 'active'),
    waiting_children: toCount(children, 'waiting-children'),
  };
  const value = counts.waiting + counts.prioritized + counts.active + (includeDelayed ? counts.delayed : 0);
  return { value, queue, ...counts, paused: paused === '1', known: toCount(meta, 'meta') === 1 };
}

export async function readSidekiq(
  client: RedisClient,
  cluster: boolean,
  namespace: string | undefined,
  queue: string,
): Promise<EventData> {
  const k = (name: string) => (namespace ? `${namespace}:${name}` : name);
  const [length, processes, known] = await readAll(client, cluster, [
    ['llen', k(`queue:${queue}`)],
    ['smembers', k('processes')],
    ['sismember', k('queues'), queue],
  ]);
  const identities = Array.isArray(processes) ? processes.map(String) : [];
  const works = await Promise.all(identities.map((id) => client.hvals(k(`${id}:work`))));
  let busy = 0;
  for (const json of works.flat()) {
    try {
      const work = JSON.parse(json) as { queue?: unknown };
      if (work.queue === queue) busy++;
    } catch {
      // A work entry we cannot read is Sidekiq's own business; it does not make the count wrong for others.
    }
  }
  const enqueued = toCount(length, `queue:${queue}`);
  return { value: enqueued + busy, queue, enqueued, busy, processes: identities.length, known: known === 1 };
}
