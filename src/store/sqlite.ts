import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync as DatabaseSyncType, StatementSync } from 'node:sqlite';
import type { Decision, DecisionQuery, Store } from '../core/store.js';
import {
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  scaler TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  source_event TEXT,
  observed INTEGER,
  desired INTEGER,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT,
  duration_ms REAL NOT NULL,
  reason TEXT NOT NULL,
  repeats INTEGER NOT NULL DEFAULT 0,
  last_seen INTEGER
);
CREATE INDEX IF NOT EXISTS decisions_scaler ON decisions (scaler, id);
CREATE TABLE IF NOT EXISTS component_state (
  address TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (address, key)
);
`;

/**
 * State files written before decisions recorded their target, or folded repeats, lack those
 * columns: add them ('' and 0 for the old rows), so they stay readable.
 */
function addColumns(db: DatabaseSyncType): void {
  const columns = new Set((db.prepare('PRAGMA table_info(decisions)').all() as { name: string }[]).map((c) => c.name));
  if (!columns.has('target')) db.exec("ALTER TABLE decisions ADD COLUMN target TEXT NOT NULL DEFAULT ''");
  if (!columns.has('repeats')) db.exec('ALTER TABLE decisions ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0');
  if (!columns.has('last_seen')) db.exec('ALTER TABLE decisions ADD COLUMN last_seen INTEGER');
}

// Loaded when this module runs rather than as a static import, so that the CLI's filter of
// Node 22's "SQLite is an experimental feature" warning (cli/node-runtime.ts) is in
// place first: a static import of a builtin loads it before any module's code runs.
const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');

export { MAX_TEXT } from '../core/store.js';

/** How often the file is checked (deleted or replaced), the WAL checkpointed and the byte bound applied, off the write path. */
const MAINTENANCE_MS = 5_000;
/**
 * Repeats folded into a row already written are written at most this often (or with the
 * next write, read or flush): a steady signal on 1,000 scalers is one small transaction a
 * second, not one per input.
 */
const REPEATS_MS = 1_000;
/** Default bound of the decisions' share of the file. */
export const DEFAULT_RETENTION_BYTES = 256 * 1024 * 1024;

/**
 * The oldest `?` decisions of one scaler, found through the (scaler, id) index: the cost
 * follows the rows removed, not the table's size nor the scaler's retention.
 */
export const PRUNE_SQL = `DELETE FROM decisions WHERE id IN (
  SELECT id FROM decisions WHERE scaler = ? ORDER BY id LIMIT ?
)`;

export interface SqliteStoreOptions {
  /** Decisions kept per scaler; older ones are pruned. */
  retention?: number;
  /** Bound of the bytes the decisions take in the file; the oldest of all scalers go first. */
  retentionBytes?: number;
  /**
   * Called when a write fails (disk full, read-only, file gone). The store never throws on a
   * write: scaling goes on, the component state stays in memory and is written again with
   * the next change. At most once a minute per kind of failure, with the count so far.
   */
  onWriteError?: (message: string, count: number) => void;
  /** Called on every failed write (for a counter); onWriteError is the rate-limited report. */
  onWriteFailure?: () => void;
  /** Called when the file was deleted or replaced and has been rewritten from memory. */
  onRecovered?: (message: string) => void;
}

export class StoreOpenError extends Error {
  constructor(
    readonly path: string,
    cause: string,
  ) {
    super(`state ${path} cannot be used: ${cause} (move it aside to start with an empty state)`);
    this.name = 'StoreOpenError';
  }
}

/**
 * The default store: one SQLite file (`<config dir>/.waymond/state.db`), or ":memory:".
 * Built on Node's own `node:sqlite`, so installing waymond compiles nothing and the same
 * package runs on every supported Node.
 *
 * Component state (desired counts, members) is also kept in memory: reads never touch the
 * disk, and when the file is deleted or replaced while the daemon runs it is rewritten from
 * memory instead of silently diverging (a restart would otherwise duplicate every member).
 *
 * Writes are queued and written at the end of the event loop's turn, all in one
 * transaction; a decision that repeats its scaler's target's previous one is folded into
 * that row (`repeats`, `last_seen`), so a steady signal adds no rows. Retention is kept per
 * scaler (count) and for the file (bytes), each pruned in O(rows removed).
 */
export class SqliteStore implements Store {
  private db!: DatabaseSyncType;
  private readonly retentionBytes: number;
  private isOpen = true;
  private fileIdentity?: string;
  /** Component state, folding and the queued writes (shared with the PostgreSQL store). */
  private readonly queue = new WriteQueue();
  /** Rows of each scaler in the file. */
  private readonly scalerRows: ScalerRows;
  private readonly writeErrors: WriteErrors;
  /** This turn's writes (one transaction), and repeat counts at most every REPEATS_MS. */
  private readonly timers = new WriteTimers(() => this.flushNow());
  private insert!: StatementSync;
  private updateRepeats!: StatementSync;
  private upsertState!: StatementSync;
  private pruneScaler!: StatementSync;
  private countScaler!: StatementSync;
  private maintenance?: NodeJS.Timeout;
  /** Set when a state write failed: all state is written again after the next write that works. */
  private pendingRewrite = false;

  constructor(
    private readonly path: string,
    private readonly options: SqliteStoreOptions = {},
  ) {
    this.scalerRows = new ScalerRows(options.retention ?? 10_000);
    this.writeErrors = new WriteErrors(options);
    this.retentionBytes = options.retentionBytes ?? DEFAULT_RETENTION_BYTES;
    this.openFile();
    for (const row of this.db.prepare('SELECT address, key, value FROM component_state').all() as {
      address: string;
      key: string;
      value: string;
    }[]) {
      this.queue.loadState(row.address, row.key, row.value);
    }
    if (path !== ':memory:') {
      this.maintenance = setInterval(() => this.maintain(), MAINTENANCE_MS);
      this.maintenance.unref();
    }
  }

  /** Writes that failed since the store opened. */
  get errors(): number {
    return this.writeErrors.failures;
  }

  /** Rows removed by the per-scaler retention since the store opened (what tests check instead of timing it). */
  get prunedRows(): number {
    return this.scalerRows.pruned;
  }

  private openFile(): void {
    const { path } = this;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new DatabaseSync(path);
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = NORMAL');
      // Checkpoints run in maintain(), not inside a commit on the webhook path.
      this.db.exec('PRAGMA wal_autocheckpoint = 0');
      this.db.exec('PRAGMA journal_size_limit = 4194304');
      this.db.exec(SCHEMA);
      addColumns(this.db);
      this.db.prepare('SELECT count(*) FROM component_state').get();
    } catch (error) {
      try {
        this.db?.close();
      } catch {}
      throw new StoreOpenError(path, (error as Error).message);
    }
    this.fileIdentity = identityOf(path);
    this.insert = this.db.prepare(
      `INSERT INTO decisions (${DECISION_COLUMNS.join(', ')})
       VALUES (${DECISION_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.updateRepeats = this.db.prepare('UPDATE decisions SET repeats = ?, last_seen = ? WHERE id = ?');
    this.upsertState = this.db.prepare(
      `INSERT INTO component_state (address, key, value) VALUES (?, ?, ?)
       ON CONFLICT (address, key) DO UPDATE SET value = excluded.value`,
    );
    this.pruneScaler = this.db.prepare(PRUNE_SQL);
    this.countScaler = this.db.prepare('SELECT count(*) AS n FROM decisions WHERE scaler = ?');
    // Another file (replaced, deleted): what was known about the old one's rows is void.
    this.scalerRows.forget();
    this.queue.forgetRows();
  }

  /** Already loaded by the constructor (a local file opens at once, and a bad one fails there, by name). */
  open(): Promise<void> {
    return Promise.resolve();
  }

  recordDecision(decision: Decision): void {
    if (!this.isOpen) return;
    const queued = this.queue.record(decision);
    // A repeat of a written row is an update, batched.
    if (queued === 'repeats') this.timers.after(REPEATS_MS);
    else if (queued === 'row') this.timers.endOfTurn();
  }

  /** Prunes every scaler this store has written to, to exactly its retention. Returns the rows removed. */
  prune(): number {
    this.flushNow();
    let removed = 0;
    for (const scaler of this.scalerRows.scalers()) removed += this.pruneToRetention(scaler, 0);
    return removed;
  }

  async listDecisions(query: DecisionQuery): Promise<Decision[]> {
    this.flushNow();
    const limit = Math.max(1, Math.min(query.limit ?? 100, 10_000));
    const rows = (query.scaler
      ? this.db.prepare('SELECT * FROM decisions WHERE scaler = ? ORDER BY id DESC LIMIT ?').all(query.scaler, limit)
      : this.db.prepare('SELECT * FROM decisions ORDER BY id DESC LIMIT ?').all(limit)) as unknown as DecisionRow[];
    return rows.map(decisionFromRow);
  }

  getState<T>(address: string, key: string): T | undefined {
    return this.queue.getState<T>(address, key);
  }

  setState(address: string, key: string, value: unknown): void {
    // A closed store keeps the value in memory only.
    if (this.queue.setState(address, key, value, this.isOpen)) this.timers.endOfTurn();
  }

  flush(): Promise<void> {
    this.flushNow();
    return Promise.resolve();
  }

  /** Every queued decision, repeat count and state change, in one transaction; a failure is reported, never thrown. */
  private flushNow(): void {
    this.timers.cancel();
    if (!this.isOpen || !this.queue.hasQueued()) return;
    const batch = this.queue.take();
    const { decisions, state, repeats } = batch;
    const ok = this.write(batchKind(batch), () => {
      this.db.exec('BEGIN');
      try {
        for (const entry of repeats) this.updateRepeats.run(entry.repeats, entry.lastSeen, entry.id ?? -1);
        for (const entry of decisions) this.insertDecision(entry);
        for (const { address, key, text } of state.values()) this.upsertState.run(address, key, text);
        this.db.exec('COMMIT');
      } catch (error) {
        try {
          this.db.exec('ROLLBACK');
        } catch {}
        throw error;
      }
    });
    if (ok) return;
    // State that could not be written is written again in full once the disk takes writes.
    if (state.size > 0) this.pendingRewrite = true;
    // Lost decisions (counted in errors).
    this.queue.forget(decisions);
    // The counts the rolled-back inserts and prunes had changed are recounted on the next insert.
    this.scalerRows.forget();
  }

  private insertDecision(entry: LastDecision): void {
    const { scaler } = entry.decision;
    const result = this.insert.run(...decisionValues(entry));
    entry.id = Number(result.lastInsertRowid);
    const rows = (this.scalerRows.get(scaler) ?? this.countRows(scaler) - 1) + 1;
    this.scalerRows.set(scaler, rows);
    if (this.scalerRows.overRetention(rows)) this.pruneToRetention(scaler, rows);
  }

  private countRows(scaler: string): number {
    return Number((this.countScaler.get(scaler) as { n: number }).n);
  }

  /** Deletes the scaler's oldest rows past retention through the (scaler, id) index. */
  private pruneToRetention(scaler: string, known: number): number {
    const rows = known > 0 ? known : this.countRows(scaler);
    const excess = rows - this.scalerRows.retention;
    if (excess <= 0) {
      this.scalerRows.set(scaler, rows);
      return 0;
    }
    const removed = Number(this.pruneScaler.run(scaler, excess).changes);
    this.scalerRows.prunedFrom(scaler, rows, removed);
    return removed;
  }

  /** Bytes the file's pages in use take (free pages left by deletes are reused, not counted). */
  usedBytes(): number {
    const get = (pragma: string) => Number(Object.values(this.db.prepare(`PRAGMA ${pragma}`).get() ?? {})[0] ?? 0);
    return (get('page_count') - get('freelist_count')) * get('page_size');
  }

  /**
   * Keeps the file's pages in use under retentionBytes: removes the oldest decisions of all
   * scalers by id range (the primary key), as many as the share of bytes over the bound,
   * plus a tenth so it does not run at every check. Returns the rows removed.
   */
  pruneBytes(): number {
    this.flushNow();
    let removed = 0;
    // Rows and pages are not proportional (index pages, partly filled pages): a few passes at most.
    for (let pass = 0; pass < 4; pass++) {
      const step = this.pruneBytesOnce();
      if (step === 0) break;
      removed += step;
    }
    return removed;
  }

  private pruneBytesOnce(): number {
    const used = this.usedBytes();
    if (used <= this.retentionBytes) return 0;
    const range = this.db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM decisions').get() as {
      lo: number | null;
      hi: number | null;
    };
    if (range.lo === null || range.hi === null) return 0;
    const share = Math.min(1, (used - this.retentionBytes * 0.9) / used);
    const below = range.lo + Math.ceil((range.hi - range.lo + 1) * share);
    let removed = 0;
    this.write('prune', () => {
      removed = Number(this.db.prepare('DELETE FROM decisions WHERE id < ?').run(below).changes);
    });
    // Which scalers lost how many is not known: each is counted again on its next insert.
    this.scalerRows.forget();
    this.queue.forgetRowsBelow(below);
    return removed;
  }

  /** Checks the file is still the one opened (rewrites it from memory if not), bounds its bytes and checkpoints the WAL. */
  maintain(): void {
    if (!this.isOpen || this.path === ':memory:') return;
    if (identityOf(this.path) !== this.fileIdentity) {
      const what = existsSync(this.path) ? 'was replaced' : 'was deleted';
      try {
        this.db.close();
      } catch {}
      try {
        this.openFile();
        this.rewriteState();
        this.options.onRecovered?.(
          `state ${this.path} ${what} while running: rewrote ${this.queue.stateCount} component states from memory (decision history before now is lost)`,
        );
      } catch (error) {
        this.reportWriteError('reopen', (error as Error).message);
      }
      return;
    }
    this.pruneBytes();
    this.write('checkpoint', () => this.db.exec('PRAGMA wal_checkpoint(PASSIVE)'));
  }

  private rewriteState(): void {
    this.db.exec('BEGIN');
    try {
      this.db.exec('DELETE FROM component_state');
      for (const { address, key, text } of this.queue.allState()) this.upsertState.run(address, key, text);
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /** Runs a write; false (and reported) when it failed. After one that works, state a failure left unwritten is rewritten. */
  private write(kind: string, run: () => unknown): boolean {
    if (!this.isOpen) return false;
    try {
      run();
    } catch (error) {
      this.reportWriteError(kind, (error as Error).message);
      return false;
    }
    if (!this.pendingRewrite) return true;
    this.pendingRewrite = false;
    try {
      this.rewriteState();
    } catch (error) {
      this.pendingRewrite = true;
      this.reportWriteError('state', (error as Error).message);
    }
    return true;
  }

  private reportWriteError(kind: string, message: string): void {
    this.writeErrors.failed(kind, () => `state ${this.path}: could not write (${kind}): ${message}`);
  }

  close(): Promise<void> {
    if (!this.isOpen) return Promise.resolve();
    this.flushNow();
    this.isOpen = false;
    if (this.maintenance) clearInterval(this.maintenance);
    try {
      this.db.close();
    } catch {}
    return Promise.resolve();
  }
}

/** Device and inode: a file deleted and created again, or moved over, has another. */
function identityOf(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}
