import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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

export interface SqliteStoreOptions {
  /** Decisions kept per scaler; older ones are pruned. */
  retention?: number;
}

/** The default store: one SQLite file (`<config dir>/.waymond/state.db`), or ":memory:". */
export class SqliteStore implements Store {
  private db: Database.Database;
  private readonly retention: number;
  private insertsSincePrune = 0;
  private insert: Database.Statement;
  private upsertState: Database.Statement;
  private selectState: Database.Statement;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.retention = options.retention ?? 10_000;
    this.insert = this.db.prepare(
      `INSERT INTO decisions (time, scaler, source_event, observed, desired, action, outcome, error, duration_ms, reason)
       VALUES (@time, @scaler, @sourceEvent, @observed, @desired, @action, @outcome, @error, @durationMs, @reason)`,
    );
    this.upsertState = this.db.prepare(
      `INSERT INTO component_state (address, key, value) VALUES (?, ?, ?)
       ON CONFLICT (address, key) DO UPDATE SET value = excluded.value`,
    );
    this.selectState = this.db.prepare('SELECT value FROM component_state WHERE address = ? AND key = ?');
  }

  recordDecision(decision: Decision): void {
    this.insert.run(decision);
    if (++this.insertsSincePrune >= 200) {
      this.insertsSincePrune = 0;
      this.prune();
    }
  }

  /** Keeps the newest `retention` decisions of each scaler. */
  prune(): void {
    this.db
      .prepare(
        `DELETE FROM decisions WHERE id IN (
           SELECT id FROM (
             SELECT id, ROW_NUMBER() OVER (PARTITION BY scaler ORDER BY id DESC) AS n FROM decisions
           ) WHERE n > ?
         )`,
      )
      .run(this.retention);
  }

  listDecisions(query: DecisionQuery): Decision[] {
    const limit = Math.max(1, Math.min(query.limit ?? 100, 10_000));
    const rows = (
      query.scaler
        ? this.db.prepare('SELECT * FROM decisions WHERE scaler = ? ORDER BY id DESC LIMIT ?').all(query.scaler, limit)
        : this.db.prepare('SELECT * FROM decisions ORDER BY id DESC LIMIT ?').all(limit)
    ) as DecisionRow[];
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
    if (this.db.open) this.db.close();
  }
}
