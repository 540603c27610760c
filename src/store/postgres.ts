/**
 * The PostgreSQL store (`[store] url` or `dsn_env`): decisions and component state in a
 * server several instances share. Same contract as SQLite (src/store/sqlite.ts): state is
 * read from memory (loaded by open()), writes are queued and each turn's are written in one
 * transaction, a decision equal to its lane's previous one is folded into it, a write never
 * throws. What differs is the network: a batch that fails (server down, restarting) is kept
 * and written again once the server answers, so an outage loses nothing up to
 * MAX_QUEUED_DECISIONS decisions (past that the oldest are dropped, counted and reported);
 * state is never dropped (only its last value per key is kept anyway).
 *
 * pg is loaded in open(), not imported: most configs use SQLite, and loading pg costs every
 * run of waymond memory and start-up time.
 */
import type { Pool, PoolClient } from 'pg';
import { cutText, type Decision, type DecisionQuery, isRepeatOf, laneKey, type Store } from '../core/store.js';

/** Decisions kept while the server cannot be written to; past this the oldest are dropped (and counted). */
export const MAX_QUEUED_DECISIONS = 10_000;
/**
 * Repeats folded into a row already written are written at most this often (or with the next
 * write, read or flush). Longer than SQLite's 1 s: every update leaves a dead row version
 * behind until it is pruned, and 1,000 steady scalers updated each second grew the table by
 * 34 KB/s (bench/store-soak.bench.ts).
 */
const REPEATS_MS = 5_000;
/** After a failed batch, the next attempt waits this long, doubling up to RETRY_MAX_MS. */
const RETRY_MS = 250;
const RETRY_MAX_MS = 5_000;

export interface PostgresStoreOptions {
  /** The connection string (from `[store] url`, or the variable `[store] dsn_env` names). */
  url: string;
  /** Schema holding waymond's tables; created if missing. */
  schema?: string;
  /** Decisions kept per scaler; older ones are pruned. */
  retention?: number;
  /** Called when a write fails, at most once a minute per kind of failure, with the count so far (the message has no password). */
  onWriteError?: (message: string, count: number) => void;
  /** Called on every failed write (for waymond_store_errors_total). */
  onWriteFailure?: () => void;
  /** Called when writes work again after failing (the server is back). */
  onRecovered?: (message: string) => void;
}

/**
 * Versioned migrations, applied in order at open under an advisory lock (two instances
 * starting at once: the second waits, then finds them applied). A released version is
 * never edited: a change is a new entry.
 */
export const MIGRATIONS: { version: number; description: string; sql: string }[] = [
  {
    version: 1,
    description: 'decisions and component state',
    sql: `
CREATE TABLE decisions (
  id BIGSERIAL PRIMARY KEY,
  time BIGINT NOT NULL,
  scaler TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  source_event TEXT,
  observed INTEGER,
  desired INTEGER,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT,
  duration_ms DOUBLE PRECISION NOT NULL,
  reason TEXT NOT NULL,
  repeats INTEGER NOT NULL DEFAULT 0,
  last_seen BIGINT
) WITH (fillfactor = 70);
-- Room left in each page: a repeat's update (columns no index covers) stays in its page as a
-- heap-only tuple, pruned without vacuum, instead of growing the table.
CREATE INDEX decisions_scaler ON decisions (scaler, id);
CREATE TABLE component_state (
  address TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (address, key)
);`,
  },
];

/** A scaler's target's newest decision, which later equal ones are folded into. */
interface LastDecision {
  decision: Decision;
  id?: number;
  repeats: number;
  lastSeen: number;
}

interface DecisionRow {
  id: string;
  time: string;
  scaler: string;
  target: string;
  source_event: string | null;
  observed: number | null;
  desired: number | null;
  action: string;
  outcome: string;
  error: string | null;
  duration_ms: number;
  reason: string;
  repeats: number;
  last_seen: string | null;
}

export class PostgresStore implements Store {
  private pool?: Pool;
  private opening?: Promise<void>;
  private closed = false;
  /** The schema holding the tables (for `[cluster]`'s lease rows beside them). */
  readonly schema: string;
  private readonly retention: number;
  private readonly state = new Map<string, string>();
  private readonly last = new Map<string, LastDecision>();
  private readonly rowsOf = new Map<string, number>();
  private queuedDecisions: LastDecision[] = [];
  private queuedState = new Map<string, { address: string; key: string; text: string }>();
  private queuedRepeats = new Set<LastDecision>();
  private inFlight?: Promise<boolean>;
  private scheduled?: NodeJS.Immediate;
  private timer?: NodeJS.Timeout;
  private retryDelay = RETRY_MS;
  private failing = false;
  private readonly writeErrors = new Map<string, { count: number; lastReported: number }>();
  /** Failed batches since the store opened. */
  errors = 0;
  /** Decisions dropped because the server stayed away past MAX_QUEUED_DECISIONS. */
  droppedDecisions = 0;
  /** Rows removed by the per-scaler retention since the store opened. */
  prunedRows = 0;

  constructor(private readonly options: PostgresStoreOptions) {
    this.schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.schema))
      throw new Error(`[store] schema: expected a lower-case identifier (a-z, 0-9, _), found "${this.schema}"`);
    this.retention = options.retention ?? 10_000;
  }

  /** A table of this store's schema, quoted. */
  private t(name: string): string {
    return `"${this.schema}".${name}`;
  }

  /** Where the store is, for messages: the URL without its password. */
  get where(): string {
    return redactUrl(this.options.url, this.options.url);
  }

  open(): Promise<void> {
    this.opening ??= this.connect();
    return this.opening;
  }

  private async connect(): Promise<void> {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({
      connectionString: this.options.url,
      max: 2,
      connectionTimeoutMillis: 5_000,
      // A server that stops answering mid-query fails the batch (kept, retried) instead of stalling every later write.
      query_timeout: 15_000,
      // Names the schema too, so an operator (or a test) can tell one instance's connections from another's.
      application_name: `waymond store ${this.schema}`.slice(0, 63),
    });
    // An idle connection that breaks (server restart) is reported here; unhandled it would
    // crash the daemon. The next batch connects again.
    pool.on('error', (error) => this.reportWriteError('connection', error.message, false));
    // A connection lost while checked out (between two statements of a batch) errors on the
    // client itself, which the pool does not listen to then: the batch fails and is kept.
    pool.on('connect', (client) =>
      client.on('error', (error) => this.reportWriteError('connection', error.message, false)),
    );
    this.pool = pool;
    try {
      await this.migrate();
      const { rows } = await pool.query<{ address: string; key: string; value: string }>(
        `SELECT address, key, value FROM ${this.t('component_state')}`,
      );
      for (const row of rows) {
        // A value set before open() finished is newer than the stored one.
        const k = stateKey(row.address, row.key);
        if (!this.queuedState.has(k)) this.state.set(k, row.value);
      }
    } catch (error) {
      this.pool = undefined;
      await pool.end().catch(() => {});
      throw new Error(`[store] ${this.where}: cannot be used: ${this.redact((error as Error).message)}`);
    }
    if (this.hasQueued()) this.schedule();
  }

  /** Applies the migrations not yet recorded in waymond_schema_migrations, one transaction each, under an advisory lock. */
  private async migrate(): Promise<void> {
    const client = await (this.pool as Pool).connect();
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [`waymond migrations ${this.schema}`]);
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.t('waymond_schema_migrations')} (
             version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
        );
        const { rows } = await client.query<{ version: number }>(
          `SELECT version FROM ${this.t('waymond_schema_migrations')}`,
        );
        const applied = new Set(rows.map((r) => r.version));
        for (const migration of MIGRATIONS) {
          if (applied.has(migration.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(`SET LOCAL search_path TO "${this.schema}"`);
            await client.query(migration.sql);
            await client.query(
              `INSERT INTO ${this.t('waymond_schema_migrations')} (version, description) VALUES ($1, $2)`,
              [migration.version, migration.description],
            );
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK').catch(() => {});
            throw new Error(`migration ${migration.version} (${migration.description}): ${(error as Error).message}`);
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`waymond migrations ${this.schema}`]);
      }
    } finally {
      client.release();
    }
  }

  recordDecision(decision: Decision): void {
    if (this.closed) return;
    const next = {
      ...decision,
      reason: cutText(decision.reason),
      error: decision.error === null ? null : cutText(decision.error),
    };
    const lane = laneKey(next);
    const previous = this.last.get(lane);
    if (previous && isRepeatOf(previous.decision, next)) {
      previous.repeats++;
      previous.lastSeen = next.time;
      if (previous.id !== undefined) {
        this.queuedRepeats.add(previous);
        this.later(REPEATS_MS);
      }
      return;
    }
    const entry: LastDecision = { decision: next, repeats: 0, lastSeen: next.time };
    this.last.set(lane, entry);
    this.queuedDecisions.push(entry);
    if (this.queuedDecisions.length > MAX_QUEUED_DECISIONS) {
      const dropped = this.queuedDecisions.splice(0, this.queuedDecisions.length - MAX_QUEUED_DECISIONS);
      this.droppedDecisions += dropped.length;
      for (const d of dropped) if (this.last.get(laneKey(d.decision)) === d) this.last.delete(laneKey(d.decision));
      this.reportWriteError(
        'decision',
        `${this.droppedDecisions} decisions dropped: the server took none for too long`,
      );
    }
    this.schedule();
  }

  getState<T>(address: string, key: string): T | undefined {
    const value = this.state.get(stateKey(address, key));
    return value === undefined ? undefined : (JSON.parse(value) as T);
  }

  setState(address: string, key: string, value: unknown): void {
    const text = JSON.stringify(value);
    const k = stateKey(address, key);
    if (this.state.get(k) === text) return;
    this.state.set(k, text);
    if (this.closed) return;
    this.queuedState.set(k, { address, key, text });
    this.schedule();
  }

  async listDecisions(query: DecisionQuery): Promise<Decision[]> {
    await this.flush();
    const pool = this.requirePool();
    const limit = Math.max(1, Math.min(query.limit ?? 100, 10_000));
    try {
      const { rows } = query.scaler
        ? await pool.query<DecisionRow>(
            `SELECT * FROM ${this.t('decisions')} WHERE scaler = $1 ORDER BY id DESC LIMIT $2`,
            [query.scaler, limit],
          )
        : await pool.query<DecisionRow>(`SELECT * FROM ${this.t('decisions')} ORDER BY id DESC LIMIT $1`, [limit]);
      return rows.map(fromRow);
    } catch (error) {
      throw new Error(`[store] ${this.where}: ${this.redact((error as Error).message)}`);
    }
  }

  /** The writes of this turn of the event loop, in one transaction at its end. */
  private schedule(): void {
    if (this.scheduled || this.failing) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      void this.writeBatch();
    });
  }

  /** A batch in `ms` (repeats, a retry), unless one is due sooner. */
  private later(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeBatch();
    }, ms);
    this.timer.unref();
  }

  /** Waits for what is queued now to be written, or to have failed (and been kept for the next attempt). */
  async flush(): Promise<void> {
    if (this.inFlight) await this.inFlight;
    if (this.hasQueued()) await this.writeBatch();
  }

  private hasQueued(): boolean {
    return this.queuedDecisions.length > 0 || this.queuedState.size > 0 || this.queuedRepeats.size > 0;
  }

  /** One transaction with everything queued; on failure it all goes back in the queue and is tried again later. */
  private writeBatch(): Promise<boolean> {
    if (this.inFlight) return this.inFlight.then(() => this.writeBatch());
    if (!this.pool || !this.hasQueued()) return Promise.resolve(true);
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const decisions = this.queuedDecisions;
    const state = this.queuedState;
    const repeats = [...this.queuedRepeats];
    this.queuedDecisions = [];
    this.queuedState = new Map();
    this.queuedRepeats = new Set();
    this.inFlight = this.transact(decisions, state, repeats)
      .then(() => {
        if (this.failing) {
          this.failing = false;
          this.options.onRecovered?.(`[store] ${this.where}: writing again (${this.errors} failed batches so far)`);
        }
        this.retryDelay = RETRY_MS;
        return true;
      })
      .catch((error: unknown) => {
        this.reportWriteError(
          decisions.length > 0 ? 'decision' : state.size > 0 ? 'state' : 'repeats',
          (error as Error).message,
        );
        this.requeue(decisions, state, repeats);
        this.failing = true;
        if (!this.closed) this.later(this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
        return false;
      })
      .finally(() => {
        this.inFlight = undefined;
        if (!this.failing && this.hasQueued() && !this.closed) this.schedule();
      });
    return this.inFlight;
  }

  /** Puts a failed batch back in front of what was queued since (newer state values win). */
  private requeue(
    decisions: LastDecision[],
    state: Map<string, { address: string; key: string; text: string }>,
    repeats: LastDecision[],
  ): void {
    for (const entry of decisions) entry.id = undefined;
    this.queuedDecisions = [...decisions, ...this.queuedDecisions];
    if (this.queuedDecisions.length > MAX_QUEUED_DECISIONS) {
      const dropped = this.queuedDecisions.splice(0, this.queuedDecisions.length - MAX_QUEUED_DECISIONS);
      this.droppedDecisions += dropped.length;
      for (const d of dropped) if (this.last.get(laneKey(d.decision)) === d) this.last.delete(laneKey(d.decision));
    }
    for (const [k, v] of state) if (!this.queuedState.has(k)) this.queuedState.set(k, v);
    for (const entry of repeats) if (entry.id !== undefined) this.queuedRepeats.add(entry);
    // What the rolled-back prunes and inserts changed is counted again.
    this.rowsOf.clear();
  }

  private async transact(
    decisions: LastDecision[],
    state: Map<string, { address: string; key: string; text: string }>,
    repeats: LastDecision[],
  ): Promise<void> {
    const client = await this.requirePool().connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      if (repeats.length > 0) {
        await client.query(
          `UPDATE ${this.t('decisions')} AS d SET repeats = u.repeats, last_seen = u.last_seen
           FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS u(id, repeats, last_seen) WHERE d.id = u.id`,
          [repeats.map((e) => e.id), repeats.map((e) => e.repeats), repeats.map((e) => e.lastSeen)],
        );
      }
      if (decisions.length > 0) await this.insertDecisions(client, decisions);
      if (state.size > 0) {
        const values = [...state.values()];
        await client.query(
          `INSERT INTO ${this.t('component_state')} (address, key, value)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ON CONFLICT (address, key) DO UPDATE SET value = excluded.value`,
          [values.map((v) => v.address), values.map((v) => v.key), values.map((v) => v.text)],
        );
      }
      await this.pruneWritten(client, decisions);
      await client.query('COMMIT');
    } catch (error) {
      broken = error as Error;
      await client.query('ROLLBACK').catch(() => {});
      for (const entry of decisions) entry.id = undefined;
      throw error;
    } finally {
      // A connection that failed mid-transaction is not given back to the pool.
      client.release(broken);
    }
  }

  private async insertDecisions(client: PoolClient, entries: LastDecision[]): Promise<void> {
    const column = <T>(pick: (e: LastDecision) => T) => entries.map(pick);
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO ${this.t('decisions')}
         (time, scaler, target, source_event, observed, desired, action, outcome, error, duration_ms, reason, repeats, last_seen)
       SELECT time, scaler, target, source_event, observed, desired, action, outcome, error, duration_ms, reason, repeats, last_seen
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[],
                   $9::text[], $10::float8[], $11::text[], $12::int[], $13::bigint[])
            WITH ORDINALITY AS u(time, scaler, target, source_event, observed, desired, action, outcome, error,
                                 duration_ms, reason, repeats, last_seen, n)
       ORDER BY n
       RETURNING id`,
      [
        column((e) => e.decision.time),
        column((e) => e.decision.scaler),
        column((e) => e.decision.target),
        column((e) => e.decision.sourceEvent),
        column((e) => e.decision.observed),
        column((e) => e.decision.desired),
        column((e) => e.decision.action),
        column((e) => e.decision.outcome),
        column((e) => e.decision.error),
        column((e) => e.decision.durationMs),
        column((e) => e.decision.reason),
        column((e) => e.repeats),
        column((e) => e.lastSeen),
      ],
    );
    // The ids come from one sequence, taken in the ORDER BY's order: ascending ids are the entries in order.
    const ids = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
    entries.forEach((entry, i) => {
      entry.id = ids[i];
    });
  }

  /** Per-scaler retention for the scalers this batch wrote to, through the (scaler, id) index. */
  private async pruneWritten(client: PoolClient, entries: LastDecision[]): Promise<void> {
    const added = new Map<string, number>();
    for (const e of entries) added.set(e.decision.scaler, (added.get(e.decision.scaler) ?? 0) + 1);
    for (const [scaler, n] of added) {
      let rows = this.rowsOf.get(scaler);
      if (rows === undefined) {
        const { rows: counted } = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${this.t('decisions')} WHERE scaler = $1`,
          [scaler],
        );
        rows = Number(counted[0]?.n ?? 0);
      } else rows += n;
      if (rows > this.retention + Math.max(1, Math.floor(this.retention / 100))) {
        const result = await client.query(
          `DELETE FROM ${this.t('decisions')} WHERE id IN (
             SELECT id FROM ${this.t('decisions')} WHERE scaler = $1 ORDER BY id LIMIT $2)`,
          [scaler, rows - this.retention],
        );
        rows -= result.rowCount ?? 0;
        this.prunedRows += result.rowCount ?? 0;
      }
      this.rowsOf.set(scaler, rows);
    }
  }

  private requirePool(): Pool {
    if (!this.pool) throw new Error(`[store] ${this.where}: not open (the engine opens the store before it starts)`);
    return this.pool;
  }

  private redact(message: string): string {
    return redactUrl(message, this.options.url);
  }

  /** Rate-limited report; `failed` counts it as a failed write (a lost idle connection is not one). */
  private reportWriteError(kind: string, message: string, failed = true): void {
    if (failed) {
      this.errors++;
      this.options.onWriteFailure?.();
    }
    const entry = this.writeErrors.get(kind) ?? { count: 0, lastReported: 0 };
    entry.count++;
    this.writeErrors.set(kind, entry);
    const now = Date.now();
    if (now - entry.lastReported >= 60_000) {
      entry.lastReported = now;
      this.options.onWriteError?.(
        `[store] ${this.where}: could not write (${kind}): ${this.redact(message)}`,
        entry.count,
      );
    }
  }

  /** Writes what is queued (one attempt: a server that is down keeps it unwritten, and that is reported), then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.opening?.catch(() => {});
    await this.flush();
    this.closed = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    if (this.timer) clearTimeout(this.timer);
    const unwritten = this.queuedDecisions.length + this.queuedState.size;
    if (unwritten > 0)
      this.options.onWriteError?.(
        `[store] ${this.where}: closed with ${this.queuedDecisions.length} decisions and ${this.queuedState.size} states unwritten (the server did not take them)`,
        unwritten,
      );
    await this.pool?.end().catch(() => {});
    this.pool = undefined;
  }
}

function fromRow(r: DecisionRow): Decision {
  const time = Number(r.time);
  return {
    id: Number(r.id),
    time,
    scaler: r.scaler,
    target: r.target,
    sourceEvent: r.source_event,
    observed: r.observed,
    desired: r.desired,
    action: r.action,
    outcome: r.outcome,
    error: r.error,
    durationMs: r.duration_ms,
    reason: r.reason,
    repeats: r.repeats,
    lastSeen: r.last_seen === null ? time : Number(r.last_seen),
  };
}

function stateKey(address: string, key: string): string {
  return JSON.stringify([address, key]);
}

/** The URL's password (and the URL itself, with one) out of a message: `postgres://user:***@host/db`. */
export function redactUrl(message: string, url: string): string {
  let password = '';
  let safe = url;
  try {
    const parsed = new URL(url);
    password = decodeURIComponent(parsed.password);
    if (parsed.password) {
      parsed.password = '***';
      safe = parsed.toString();
    }
  } catch {
    password = /\bpassword\s*=\s*'?([^'\s]+)/i.exec(url)?.[1] ?? '';
    if (password) safe = url.split(password).join('***');
  }
  let out = message.split(url).join(safe);
  if (password) out = out.split(password).join('***').split(encodeURIComponent(password)).join('***');
  return out;
}
