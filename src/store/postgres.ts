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
import type { Decision, DecisionQuery, Store } from '../core/store.js';
import {
  type Batch,
  batchKind,
  DECISION_COLUMNS,
  type DecisionRow,
  decisionFromRow,
  decisionValues,
  type LastDecision,
  ScalerRows,
  WriteErrors,
  WriteQueue,
  WriteTimers,
} from './write-queue.js';

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

/** The unnest() element type of each of DECISION_COLUMNS, in its order. */
const DECISION_COLUMN_TYPES: Record<(typeof DECISION_COLUMNS)[number], string> = {
  time: 'bigint',
  scaler: 'text',
  target: 'text',
  source_event: 'text',
  observed: 'int',
  desired: 'int',
  action: 'text',
  outcome: 'text',
  error: 'text',
  duration_ms: 'float8',
  reason: 'text',
  repeats: 'int',
  last_seen: 'bigint',
};
const COLUMN_NAMES = DECISION_COLUMNS.join(', ');
/** `$1::bigint[], $2::text[], …`: the parameters of the batch insert, one array a column. */
const COLUMN_ARRAYS = DECISION_COLUMNS.map((name, i) => `$${i + 1}::${DECISION_COLUMN_TYPES[name]}[]`).join(', ');

export class PostgresStore implements Store {
  private pool?: Pool;
  private opening?: Promise<void>;
  private closed = false;
  /** The schema holding the tables (for `[cluster]`'s lease rows beside them). */
  readonly schema: string;
  /** Component state, folding and the queued writes (shared with the SQLite store). */
  private readonly queue = new WriteQueue();
  /** Rows of each scaler in the table. */
  private readonly scalerRows: ScalerRows;
  private readonly writeErrors: WriteErrors;
  /** This turn's batch, and later ones for repeat counts (REPEATS_MS) and retries. */
  private readonly timers = new WriteTimers(() => void this.writeBatch());
  private inFlight?: Promise<boolean>;
  private retryDelay = RETRY_MS;
  private failing = false;
  /** Decisions dropped because the server stayed away past MAX_QUEUED_DECISIONS. */
  droppedDecisions = 0;

  constructor(private readonly options: PostgresStoreOptions) {
    this.schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.schema))
      throw new Error(`[store] schema: expected a lower-case identifier (a-z, 0-9, _), found "${this.schema}"`);
    this.scalerRows = new ScalerRows(options.retention ?? 10_000);
    this.writeErrors = new WriteErrors(options);
  }

  /** Failed batches since the store opened. */
  get errors(): number {
    return this.writeErrors.failures;
  }

  /** Rows removed by the per-scaler retention since the store opened. */
  get prunedRows(): number {
    return this.scalerRows.pruned;
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
      // A value set before open() finished is newer than the stored one, and stays.
      for (const row of rows) this.queue.loadState(row.address, row.key, row.value);
    } catch (error) {
      this.pool = undefined;
      await pool.end().catch(() => {});
      throw new Error(`[store] ${this.where}: cannot be used: ${this.redact((error as Error).message)}`);
    }
    if (this.queue.hasQueued()) this.schedule();
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
    const queued = this.queue.record(decision);
    if (queued === 'repeats') this.later(REPEATS_MS);
    if (queued !== 'row') return;
    const dropped = this.queue.dropOldest(MAX_QUEUED_DECISIONS);
    if (dropped > 0) {
      this.droppedDecisions += dropped;
      this.reportWriteError(
        'decision',
        `${this.droppedDecisions} decisions dropped: the server took none for too long`,
      );
    }
    this.schedule();
  }

  getState<T>(address: string, key: string): T | undefined {
    return this.queue.getState<T>(address, key);
  }

  setState(address: string, key: string, value: unknown): void {
    // A closed store keeps the value in memory only.
    if (this.queue.setState(address, key, value, !this.closed)) this.schedule();
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
      return rows.map(decisionFromRow);
    } catch (error) {
      throw new Error(`[store] ${this.where}: ${this.redact((error as Error).message)}`);
    }
  }

  /** The writes of this turn of the event loop, in one transaction at its end. */
  private schedule(): void {
    // While failing, the retry's timer writes next.
    if (!this.failing) this.timers.endOfTurn();
  }

  /** A batch in `ms` (repeats, a retry), unless one is due sooner. */
  private later(ms: number): void {
    this.timers.after(ms);
  }

  /** Waits for what is queued now to be written, or to have failed (and been kept for the next attempt). */
  async flush(): Promise<void> {
    if (this.inFlight) await this.inFlight;
    if (this.queue.hasQueued()) await this.writeBatch();
  }

  /** One transaction with everything queued; on failure it all goes back in the queue and is tried again later. */
  private writeBatch(): Promise<boolean> {
    if (this.inFlight) return this.inFlight.then(() => this.writeBatch());
    if (!this.pool || !this.queue.hasQueued()) return Promise.resolve(true);
    this.timers.cancel();
    const batch = this.queue.take();
    this.inFlight = this.transact(batch)
      .then(() => {
        if (this.failing) {
          this.failing = false;
          this.options.onRecovered?.(`[store] ${this.where}: writing again (${this.errors} failed batches so far)`);
        }
        this.retryDelay = RETRY_MS;
        return true;
      })
      .catch((error: unknown) => {
        this.reportWriteError(batchKind(batch), (error as Error).message);
        this.requeue(batch);
        this.failing = true;
        if (!this.closed) this.later(this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
        return false;
      })
      .finally(() => {
        this.inFlight = undefined;
        if (!this.failing && this.queue.hasQueued() && !this.closed) this.schedule();
      });
    return this.inFlight;
  }

  /** Puts a failed batch back in front of what was queued since (newer state values win). */
  private requeue(batch: Batch): void {
    this.queue.requeue(batch);
    // Past the bound the oldest go, counted here and reported by the next decision queued past it.
    this.droppedDecisions += this.queue.dropOldest(MAX_QUEUED_DECISIONS);
    // What the rolled-back prunes and inserts changed is counted again.
    this.scalerRows.forget();
  }

  private async transact({ decisions, state, repeats }: Batch): Promise<void> {
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
    // One array a column (unnest() zips them back into rows): 13 parameters whatever the batch's size.
    const values = entries.map(decisionValues);
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO ${this.t('decisions')} (${COLUMN_NAMES})
       SELECT ${COLUMN_NAMES}
       FROM unnest(${COLUMN_ARRAYS}) WITH ORDINALITY AS u(${COLUMN_NAMES}, n)
       ORDER BY n
       RETURNING id`,
      DECISION_COLUMNS.map((_, i) => values.map((v) => v[i])),
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
      let rows = this.scalerRows.get(scaler);
      if (rows === undefined) {
        const { rows: counted } = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${this.t('decisions')} WHERE scaler = $1`,
          [scaler],
        );
        rows = Number(counted[0]?.n ?? 0);
      } else rows += n;
      if (this.scalerRows.overRetention(rows)) {
        const result = await client.query(
          `DELETE FROM ${this.t('decisions')} WHERE id IN (
             SELECT id FROM ${this.t('decisions')} WHERE scaler = $1 ORDER BY id LIMIT $2)`,
          [scaler, rows - this.scalerRows.retention],
        );
        this.scalerRows.prunedFrom(scaler, rows, result.rowCount ?? 0);
      } else this.scalerRows.set(scaler, rows);
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
    const text = () => `[store] ${this.where}: could not write (${kind}): ${this.redact(message)}`;
    if (failed) this.writeErrors.failed(kind, text);
    else this.writeErrors.report(kind, text);
  }

  /** Writes what is queued (one attempt: a server that is down keeps it unwritten, and that is reported), then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.opening?.catch(() => {});
    await this.flush();
    this.closed = true;
    this.timers.cancel();
    const unwritten = this.queue.queuedDecisions + this.queue.queuedStates;
    if (unwritten > 0)
      this.options.onWriteError?.(
        `[store] ${this.where}: closed with ${this.queue.queuedDecisions} decisions and ${this.queue.queuedStates} states unwritten (the server did not take them)`,
        unwritten,
      );
    await this.pool?.end().catch(() => {});
    this.pool = undefined;
  }
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
