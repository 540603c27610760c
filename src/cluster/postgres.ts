/**
 * Leases on PostgreSQL: one row per lease key (holder, token, expires_at by the server's
 * clock), one row per live instance, one row per fenced apply. Every decision that matters
 * is one statement, so it is atomic on its own: taking an expired lease bumps its token;
 * a fence locks the lease row (`FOR UPDATE`) and writes the apply record only if the row
 * still names this instance with this token and has not expired. Events for another
 * instance travel on LISTEN/NOTIFY. The `pg` driver is loaded only when a cluster uses it.
 */
import { createHash } from 'node:crypto';
import type { Client, Pool } from 'pg';
import type { EventData } from '../core/types.js';
import type { AppliedRecord, ForwardedEvent, Lease, LeaseBackend, LeaseView, MemberInfo } from './backend.js';

export interface PostgresBackendOptions {
  url: string;
  cluster: string;
  instanceId: string;
  leaseTtlMs: number;
  onError: (message: string) => void;
  /** Called for every statement sent (the backend load figure). */
  onRequest?: () => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS waymond_cluster_members (
  cluster text NOT NULL, instance text NOT NULL, url text, since bigint NOT NULL,
  expires_at timestamptz NOT NULL, PRIMARY KEY (cluster, instance));
CREATE TABLE IF NOT EXISTS waymond_cluster_leases (
  cluster text NOT NULL, key text NOT NULL, holder text NOT NULL, token bigint NOT NULL,
  expires_at timestamptz NOT NULL, PRIMARY KEY (cluster, key));
CREATE TABLE IF NOT EXISTS waymond_cluster_applies (
  cluster text NOT NULL, scaler text NOT NULL, target text NOT NULL, instance text NOT NULL,
  token bigint NOT NULL, desired integer NOT NULL, data jsonb NOT NULL, time bigint NOT NULL,
  PRIMARY KEY (cluster, scaler, target));
CREATE TABLE IF NOT EXISTS waymond_cluster_inbox (
  id bigserial PRIMARY KEY, cluster text NOT NULL, instance text NOT NULL, event jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS waymond_cluster_inbox_to ON waymond_cluster_inbox (cluster, instance);`;

/** NOTIFY channels are identifiers (at most 63 bytes): a digest of cluster and instance. */
export function channelOf(cluster: string, instance: string): string {
  return `waymond_fwd_${createHash('sha256').update(`${cluster}\0${instance}`).digest('hex').slice(0, 32)}`;
}

export class PostgresBackend implements LeaseBackend {
  readonly name = 'postgres' as const;
  private pool?: Pool;
  private listener?: Client;
  private handlers: ((event: ForwardedEvent) => void)[] = [];
  private closed = false;
  private member?: MemberInfo;

  constructor(private readonly o: PostgresBackendOptions) {}

  private get ttl(): number {
    return this.o.leaseTtlMs;
  }

  /** The application_name every connection carries (operators find them in pg_stat_activity). */
  get applicationName(): string {
    return `waymond-${this.o.instanceId}`.slice(0, 63);
  }

  async join(member: MemberInfo): Promise<void> {
    this.member = member;
    const { default: pg } = await import('pg');
    this.pool = new pg.Pool({
      connectionString: this.o.url,
      application_name: this.applicationName,
      max: 4,
      connectionTimeoutMillis: this.ttl,
      query_timeout: this.ttl,
    });
    // A connection the server ended (pg_terminate_backend, a restart) is dropped from the
    // pool and the next query opens a new one; the error must not take the process down.
    this.pool.on('error', (error) => this.o.onError(`postgres connection lost: ${error.message}`));
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('waymond_cluster_schema'))");
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    await this.heartbeat([]);
    await this.listen();
  }

  /** The pool, for one statement (counted). */
  private db(): Pool {
    if (!this.pool) throw new Error('postgres backend used before join');
    this.o.onRequest?.();
    return this.pool;
  }

  /** LISTEN on this instance's channel, on a connection of its own, reconnecting when it drops. */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.o.url, application_name: this.applicationName });
    const retry = (message: string) => {
      if (this.closed || this.listener !== client) return;
      this.listener = undefined;
      this.o.onError(`postgres LISTEN connection lost: ${message}; reconnecting`);
      setTimeout(() => void this.listen().catch((e) => retry((e as Error).message)), Math.min(1000, this.ttl / 4));
    };
    this.listener = client;
    client.on('error', (error) => retry(error.message));
    client.on('end', () => retry('ended'));
    client.on('notification', () => void this.drain().catch((e) => this.o.onError(`inbox: ${(e as Error).message}`)));
    try {
      await client.connect();
      await client.query(`LISTEN ${channelOf(this.o.cluster, this.o.instanceId)}`);
      // What arrived while this connection was down.
      await this.drain();
    } catch (error) {
      client.end().catch(() => undefined);
      retry((error as Error).message);
    }
  }

  async heartbeat(held: readonly Lease[]): Promise<Set<string>> {
    const m = this.member as MemberInfo;
    const result = await this.db().query<{ key: string }>(
      `WITH member AS (
         INSERT INTO waymond_cluster_members (cluster, instance, url, since, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
         ON CONFLICT (cluster, instance) DO UPDATE SET expires_at = EXCLUDED.expires_at, url = EXCLUDED.url
         RETURNING 1)
       UPDATE waymond_cluster_leases l SET expires_at = now() + $5 * interval '1 millisecond'
       FROM unnest($6::text[], $7::bigint[]) AS h(key, token)
       WHERE l.cluster = $1 AND l.holder = $2 AND l.key = h.key AND l.token = h.token AND l.expires_at > now()
       RETURNING l.key`,
      [this.o.cluster, m.id, m.url ?? null, m.since, this.ttl, held.map((l) => l.key), held.map((l) => l.token)],
    );
    await this.drain();
    return new Set(result.rows.map((r) => r.key));
  }

  async members(): Promise<MemberInfo[]> {
    const result = await this.db().query<{ instance: string; url: string | null; since: string }>(
      'SELECT instance, url, since FROM waymond_cluster_members WHERE cluster = $1 AND expires_at > now() ORDER BY instance',
      [this.o.cluster],
    );
    return result.rows.map((r) => ({ id: r.instance, since: Number(r.since), ...(r.url ? { url: r.url } : {}) }));
  }

  async acquire(key: string): Promise<Lease | null> {
    const result = await this.db().query<{ token: string }>(
      `INSERT INTO waymond_cluster_leases (cluster, key, holder, token, expires_at)
       VALUES ($1, $2, $3, 1, now() + $4 * interval '1 millisecond')
       ON CONFLICT (cluster, key) DO UPDATE
         SET holder = EXCLUDED.holder, token = waymond_cluster_leases.token + 1, expires_at = EXCLUDED.expires_at
         WHERE waymond_cluster_leases.expires_at <= now()
       RETURNING token`,
      [this.o.cluster, key, this.o.instanceId, this.ttl],
    );
    const row = result.rows[0];
    return row ? { key, token: String(row.token) } : null;
  }

  async release(lease: Lease): Promise<void> {
    await this.db().query(
      `UPDATE waymond_cluster_leases SET expires_at = now()
       WHERE cluster = $1 AND key = $2 AND holder = $3 AND token = $4`,
      [this.o.cluster, lease.key, this.o.instanceId, lease.token],
    );
  }

  async fence(
    lease: Lease,
    scaler: string,
    record: { target: string; desired: number; data: EventData },
  ): Promise<boolean> {
    const result = await this.db().query(
      `WITH held AS (
         SELECT 1 FROM waymond_cluster_leases
         WHERE cluster = $1 AND key = $2 AND holder = $3 AND token = $4 AND expires_at > now()
         FOR UPDATE)
       INSERT INTO waymond_cluster_applies (cluster, scaler, target, instance, token, desired, data, time)
       SELECT $1, $9, $5, $3, $4, $6, $7, $8 FROM held
       ON CONFLICT (cluster, scaler, target) DO UPDATE SET instance = EXCLUDED.instance, token = EXCLUDED.token,
         desired = EXCLUDED.desired, data = EXCLUDED.data, time = EXCLUDED.time
       RETURNING 1`,
      [
        this.o.cluster,
        lease.key,
        this.o.instanceId,
        lease.token,
        record.target,
        record.desired,
        JSON.stringify(record.data),
        Date.now(),
        scaler,
      ],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async applied(scaler: string): Promise<AppliedRecord[]> {
    const result = await this.db().query<{
      target: string;
      desired: number;
      data: EventData;
      instance: string;
      token: string;
      time: string;
    }>(
      'SELECT target, desired, data, instance, token, time FROM waymond_cluster_applies WHERE cluster = $1 AND scaler = $2',
      [this.o.cluster, scaler],
    );
    return result.rows.map((r) => ({ ...r, token: String(r.token), time: Number(r.time) }));
  }

  async leases(): Promise<LeaseView[]> {
    const result = await this.db().query<{ key: string; holder: string; token: string; ms: number }>(
      `SELECT key, holder, token, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS ms
       FROM waymond_cluster_leases WHERE cluster = $1 AND expires_at > now() ORDER BY key`,
      [this.o.cluster],
    );
    return result.rows.map((r) => ({
      key: r.key,
      holder: r.holder,
      token: String(r.token),
      expiresInMs: Math.round(r.ms),
    }));
  }

  /** The event waits in the inbox table; the NOTIFY (sent at commit) only wakes its instance. */
  async forward(to: string, event: ForwardedEvent): Promise<void> {
    await this.db().query(
      `WITH queued AS (INSERT INTO waymond_cluster_inbox (cluster, instance, event) VALUES ($1, $2, $3) RETURNING 1)
       SELECT pg_notify($4, '') FROM queued`,
      [this.o.cluster, to, JSON.stringify(event), channelOf(this.o.cluster, to)],
    );
  }

  onForward(handler: (event: ForwardedEvent) => void): void {
    this.handlers.push(handler);
  }

  /** Takes what waits in this instance's inbox (on a NOTIFY, after a reconnect, every heartbeat). */
  private async drain(): Promise<void> {
    if (this.closed || !this.pool) return;
    const events = await this.take('instance = $2', this.o.instanceId);
    for (const event of events) for (const handler of this.handlers) handler(event);
  }

  private async take(where: string, param: string | string[]): Promise<ForwardedEvent[]> {
    const result = await this.db().query<{ id: string; event: ForwardedEvent }>(
      `DELETE FROM waymond_cluster_inbox WHERE cluster = $1 AND ${where} RETURNING id, event`,
      [this.o.cluster, param],
    );
    return result.rows.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => r.event);
  }

  reroute(live: readonly string[]): Promise<ForwardedEvent[]> {
    return this.take('NOT (instance = ANY($2))', [...live]);
  }

  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    try {
      await this.db().query(
        `WITH gone AS (DELETE FROM waymond_cluster_members WHERE cluster = $1 AND instance = $2 RETURNING 1)
         UPDATE waymond_cluster_leases SET expires_at = now()
         WHERE cluster = $1 AND holder = $2 AND expires_at > now()`,
        [this.o.cluster, this.o.instanceId],
      );
    } catch (error) {
      this.o.onError(`could not leave the cluster cleanly: ${(error as Error).message}`);
    }
    await this.pool?.end().catch(() => undefined);
  }
}
