import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync as DatabaseSyncType, StatementSync } from 'node:sqlite';
import type { Decision, DecisionQuery, Store } from '../core/store.js';

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
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_scaler ON decisions (scaler, id);
CREATE TABLE IF NOT EXISTS component_state (
  address TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (address, key)
);
`;

interface DecisionRow {
  id: number;
  time: number;
  scaler: string;
  /** Old files get the column on open (addTargetColumn), '' for their rows. */
  target: string;
  source_event: string | null;
  observed: number | null;
  desired: number | null;
  action: string;
  outcome: string;
  error: string | null;
  duration_ms: number;
  reason: string;
}

/**
 * State files written before decisions recorded their target have no `target` column: add
 * it, '' for the old rows (a single-target scaler's target), so they stay readable.
 */
function addTargetColumn(db: DatabaseSyncType): void {
  const columns = db.prepare('PRAGMA table_info(decisions)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'target'))
    db.exec("ALTER TABLE decisions ADD COLUMN target TEXT NOT NULL DEFAULT ''");
}

// Loaded when this module runs rather than as a static import, so that the CLI's filter of
// Node 22's "SQLite is an experimental feature" warning (cli/node-runtime.ts) is in
// place first: a static import of a builtin loads it before any module's code runs.
const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');

/** A decision's reason and error are cut to this many characters: one webhook cannot grow the file by a megabyte. */
export const MAX_TEXT = 1024;
/** Each scaler's decisions are pruned after this many new ones. */
const PRUNE_EVERY = 200;
/** How often the file is checked (deleted or replaced) and the WAL checkpointed, off the write path. */
const MAINTENANCE_MS = 5_000;

export interface SqliteStoreOptions {
  /** Decisions kept per scaler; older ones are pruned. */
  retention?: number;
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
 */
export class SqliteStore implements Store {
  private db!: DatabaseSyncType;
  private readonly retention: number;
  private isOpen = true;
  private fileIdentity?: string;
  private readonly state = new Map<string, string>();
  private readonly sincePrune = new Map<string, number>();
  private readonly writeErrors = new Map<string, { count: number; lastReported: number }>();
  private insert!: StatementSync;
  private upsertState!: StatementSync;
  private pruneScaler!: StatementSync;
  private maintenance?: NodeJS.Timeout;
  private scheduled?: NodeJS.Immediate;
  private queuedDecisions: Decision[] = [];
  /** Only the last value of each key is written. */
  private queuedState = new Map<string, { address: string; key: string; text: string }>();
  /** Set when a state write failed: all state is written again after the next write that works. */
  private pendingRewrite = false;
  /** Writes that failed since the store opened. */
  errors = 0;

  constructor(
    private readonly path: string,
    private readonly options: SqliteStoreOptions = {},
  ) {
    this.retention = options.retention ?? 10_000;
    this.openFile();
    for (const row of this.db.prepare('SELECT address, key, value FROM component_state').all() as {
      address: string;
      key: string;
      value: string;
    }[]) {
      this.state.set(stateKey(row.address, row.key), row.value);
    }
    if (path !== ':memory:') {
      this.maintenance = setInterval(() => this.maintain(), MAINTENANCE_MS);
      this.maintenance.unref();
    }
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
      addTargetColumn(this.db);
      this.db.prepare('SELECT count(*) FROM component_state').get();
    } catch (error) {
      try {
        this.db?.close();
      } catch {}
      throw new StoreOpenError(path, (error as Error).message);
    }
    this.fileIdentity = identityOf(path);
    this.insert = this.db.prepare(
      `INSERT INTO decisions (time, scaler, target, source_event, observed, desired, action, outcome, error, duration_ms, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertState = this.db.prepare(
      `INSERT INTO component_state (address, key, value) VALUES (?, ?, ?)
       ON CONFLICT (address, key) DO UPDATE SET value = excluded.value`,
    );
    // Finds the newest id past retention through the (scaler, id) index, then deletes the
    // older rows of that scaler only: the cost follows the scaler's rows, not the table.
    this.pruneScaler = this.db.prepare(
      `DELETE FROM decisions WHERE scaler = ? AND id <= (
         SELECT id FROM decisions WHERE scaler = ? ORDER BY id DESC LIMIT 1 OFFSET ?
       )`,
    );
  }

  /** Already loaded by the constructor (a local file opens at once, and a bad one fails there, by name). */
  open(): Promise<void> {
    return Promise.resolve();
  }

  recordDecision(decision: Decision): void {
    if (!this.isOpen) return;
    this.queuedDecisions.push(decision);
    this.schedule();
  }

  /** Keeps the newest `retention` decisions of each scaler. */
  prune(): void {
    this.flushNow();
    const scalers = this.db.prepare('SELECT DISTINCT scaler FROM decisions').all() as { scaler: string }[];
    for (const { scaler } of scalers) this.pruneScaler.run(scaler, scaler, this.retention);
  }

  async listDecisions(query: DecisionQuery): Promise<Decision[]> {
    this.flushNow();
    const limit = Math.max(1, Math.min(query.limit ?? 100, 10_000));
    const rows = (query.scaler
      ? this.db.prepare('SELECT * FROM decisions WHERE scaler = ? ORDER BY id DESC LIMIT ?').all(query.scaler, limit)
      : this.db.prepare('SELECT * FROM decisions ORDER BY id DESC LIMIT ?').all(limit)) as unknown as DecisionRow[];
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      scaler: r.scaler,
      target: r.target ?? '',
      sourceEvent: r.source_event,
      observed: r.observed,
      desired: r.desired,
      action: r.action,
      outcome: r.outcome,
      error: r.error,
      durationMs: r.duration_ms,
      reason: r.reason,
    }));
  }

  getState<T>(address: string, key: string): T | undefined {
    const value = this.state.get(stateKey(address, key));
    return value === undefined ? undefined : (JSON.parse(value) as T);
  }

  setState(address: string, key: string, value: unknown): void {
    // Serialised first: a value that cannot be stored (a cycle, a BigInt) is the caller's
    // error and must not be mistaken for a disk fault.
    const text = JSON.stringify(value);
    const k = stateKey(address, key);
    if (this.state.get(k) === text) return;
    this.state.set(k, text);
    if (!this.isOpen) return;
    this.queuedState.set(k, { address, key, text });
    this.schedule();
  }

  /** Writes what is queued at the end of this turn of the event loop: one reconcile, one transaction. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.flushNow();
    });
  }

  flush(): Promise<void> {
    this.flushNow();
    return Promise.resolve();
  }

  /** Every queued decision and state change, in one transaction; a failure is reported, never thrown. */
  private flushNow(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    if (!this.isOpen || (this.queuedDecisions.length === 0 && this.queuedState.size === 0)) return;
    const decisions = this.queuedDecisions;
    const state = this.queuedState;
    this.queuedDecisions = [];
    this.queuedState = new Map();
    const kind = decisions.length > 0 ? 'decision' : 'state';
    const ok = this.write(kind, () => {
      this.db.exec('BEGIN');
      try {
        for (const d of decisions) this.insertDecision(d);
        for (const { address, key, text } of state.values()) this.upsertState.run(address, key, text);
        this.db.exec('COMMIT');
      } catch (error) {
        try {
          this.db.exec('ROLLBACK');
        } catch {}
        throw error;
      }
    });
    // State that could not be written is written again in full once the disk takes writes.
    if (!ok && state.size > 0) this.pendingRewrite = true;
  }

  private insertDecision(decision: Decision): void {
    this.insert.run(
      decision.time,
      decision.scaler,
      decision.target,
      decision.sourceEvent,
      decision.observed,
      decision.desired,
      decision.action,
      decision.outcome,
      decision.error === null ? null : cut(decision.error),
      decision.durationMs,
      cut(decision.reason),
    );
    const since = (this.sincePrune.get(decision.scaler) ?? 0) + 1;
    if (since >= PRUNE_EVERY) {
      this.sincePrune.set(decision.scaler, 0);
      this.pruneScaler.run(decision.scaler, decision.scaler, this.retention);
    } else this.sincePrune.set(decision.scaler, since);
  }

  /** Checks the file is still the one opened (rewrites it from memory if not) and checkpoints the WAL. */
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
          `state ${this.path} ${what} while running: rewrote ${this.state.size} component states from memory (decision history before now is lost)`,
        );
      } catch (error) {
        this.reportWriteError('reopen', (error as Error).message);
      }
      return;
    }
    this.write('checkpoint', () => this.db.exec('PRAGMA wal_checkpoint(PASSIVE)'));
  }

  private rewriteState(): void {
    this.db.exec('BEGIN');
    try {
      this.db.exec('DELETE FROM component_state');
      for (const [k, value] of this.state) {
        const [address, key] = JSON.parse(k) as [string, string];
        this.upsertState.run(address, key, value);
      }
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
    this.errors++;
    this.options.onWriteFailure?.();
    const entry = this.writeErrors.get(kind) ?? { count: 0, lastReported: 0 };
    entry.count++;
    this.writeErrors.set(kind, entry);
    const now = Date.now();
    if (now - entry.lastReported >= 60_000) {
      entry.lastReported = now;
      this.options.onWriteError?.(`state ${this.path}: could not write (${kind}): ${message}`, entry.count);
    }
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

function stateKey(address: string, key: string): string {
  return JSON.stringify([address, key]);
}

function cut(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 12)}… (cut)`;
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
