import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync as DatabaseSyncType, StatementSync } from 'node:sqlite';
import type { Decision, DecisionQuery, Store } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  scaler TEXT NOT NULL,
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
  source_event: string | null;
  observed: number | null;
  desired: number | null;
  action: string;
  outcome: string;
  error: string | null;
  duration_ms: number;
  reason: string;
}

// Loaded when this module runs rather than as a static import, so that the CLI's filter of
// Node 22's "SQLite is an experimental feature" warning (cli/node-warnings.ts) is in
// place first: a static import of a builtin loads it before any module's code runs.
const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');

export interface SqliteStoreOptions {
  /** Decisions kept per scaler; older ones are pruned. */
  retention?: number;
}

/**
 * The default store: one SQLite file (`<config dir>/.waymond/state.db`), or ":memory:".
 * Built on Node's own `node:sqlite`, so installing waymond compiles nothing and the same
 * package runs on every supported Node.
 */
export class SqliteStore implements Store {
  private readonly db: DatabaseSyncType;
  private readonly retention: number;
  private open = true;
  private insertsSincePrune = 0;
  private readonly insert: StatementSync;
  private readonly upsertState: StatementSync;
  private readonly selectState: StatementSync;
  private readonly pruneScaler: StatementSync;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.retention = options.retention ?? 10_000;
    this.insert = this.db.prepare(
      `INSERT INTO decisions (time, scaler, source_event, observed, desired, action, outcome, error, duration_ms, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertState = this.db.prepare(
      `INSERT INTO component_state (address, key, value) VALUES (?, ?, ?)
       ON CONFLICT (address, key) DO UPDATE SET value = excluded.value`,
    );
    this.selectState = this.db.prepare('SELECT value FROM component_state WHERE address = ? AND key = ?');
    // Walks the (scaler, id) index from the newest row: deletes only what is past retention.
    this.pruneScaler = this.db.prepare(
      `DELETE FROM decisions WHERE scaler = ? AND id <= (
         SELECT id FROM decisions WHERE scaler = ? ORDER BY id DESC LIMIT 1 OFFSET ?
       )`,
    );
  }

  recordDecision(decision: Decision): void {
    this.insert.run(
      decision.time,
      decision.scaler,
      decision.sourceEvent,
      decision.observed,
      decision.desired,
      decision.action,
      decision.outcome,
      decision.error,
      decision.durationMs,
      decision.reason,
    );
    if (++this.insertsSincePrune >= 200) {
      this.insertsSincePrune = 0;
      this.prune();
    }
  }

  /** Keeps the newest `retention` decisions of each scaler. */
  prune(): void {
    const scalers = this.db.prepare('SELECT DISTINCT scaler FROM decisions').all() as { scaler: string }[];
    for (const { scaler } of scalers) this.pruneScaler.run(scaler, scaler, this.retention);
  }

  listDecisions(query: DecisionQuery): Decision[] {
    const limit = Math.max(1, Math.min(query.limit ?? 100, 10_000));
    const rows = (query.scaler
      ? this.db.prepare('SELECT * FROM decisions WHERE scaler = ? ORDER BY id DESC LIMIT ?').all(query.scaler, limit)
      : this.db.prepare('SELECT * FROM decisions ORDER BY id DESC LIMIT ?').all(limit)) as unknown as DecisionRow[];
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      scaler: r.scaler,
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
    const row = this.selectState.get(address, key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  setState(address: string, key: string, value: unknown): void {
    this.upsertState.run(address, key, JSON.stringify(value));
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.db.close();
  }
}
