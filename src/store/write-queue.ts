/**
 * What the SQLite and PostgreSQL stores (sqlite.ts, postgres.ts) do alike before anything
 * reaches their database: component state kept in memory, a decision folded into its lane's
 * previous one, the writes of one turn queued as one batch, the per-scaler row counts that
 * drive retention, and the once-a-minute report of a failing write. Kept here once so the
 * two cannot drift apart (the contract test, test/store/store-contract.ts, checks both the
 * same way); SQL, I/O, transactions and when to write stay in each store.
 */
import { cutText, type Decision, isRepeatOf, laneKey } from '../core/store.js';

/** A scaler's target's newest decision: new ones equal to it but for time are folded into it. */
export interface LastDecision {
  decision: Decision;
  /** Its row, once written. */
  id?: number;
  repeats: number;
  lastSeen: number;
}

/** A component state write; only the last value of each key is queued. */
export interface StateWrite {
  address: string;
  key: string;
  text: string;
}

/** What one write takes from the queue: one transaction's worth. */
export interface Batch {
  decisions: LastDecision[];
  state: Map<string, StateWrite>;
  /** Rows already written whose repeat count grew since. */
  repeats: LastDecision[];
}

/**
 * What recording a decision queued: a row (write it this turn), the repeat count of a row
 * already written (an update, which may wait), or nothing (folded into a row not written
 * yet, whose insert carries the count).
 */
export type Recorded = 'row' | 'repeats' | 'nothing';

/**
 * The in-memory side of a store: component state (reads never touch the database), each
 * lane's newest decision, and what is queued to be written.
 */
export class WriteQueue {
  /** Every component state, as JSON text, by stateKey. */
  private readonly state = new Map<string, string>();
  private readonly last = new Map<string, LastDecision>();
  private decisions: LastDecision[] = [];
  private stateWrites = new Map<string, StateWrite>();
  private repeats = new Set<LastDecision>();

  /** Folds the decision into its lane's previous one when it repeats it, else queues it as a new row. */
  record(decision: Decision): Recorded {
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
      if (previous.id === undefined) return 'nothing';
      this.repeats.add(previous);
      return 'repeats';
    }
    const entry: LastDecision = { decision: next, repeats: 0, lastSeen: next.time };
    this.last.set(lane, entry);
    this.decisions.push(entry);
    return 'row';
  }

  getState<T>(address: string, key: string): T | undefined {
    const value = this.state.get(stateKey(address, key));
    return value === undefined ? undefined : (JSON.parse(value) as T);
  }

  /**
   * Sets the value in memory; true when it changed (and `queue` asks for a write, one is
   * queued). Serialised first: a value that cannot be stored (a cycle, a BigInt) is the
   * caller's error and throws before anything changes, never mistaken for a store fault.
   */
  setState(address: string, key: string, value: unknown, queue: boolean): boolean {
    const text = JSON.stringify(value);
    const k = stateKey(address, key);
    if (this.state.get(k) === text) return false;
    this.state.set(k, text);
    if (queue) this.stateWrites.set(k, { address, key, text });
    return queue;
  }

  /** A stored value read at open; one set meanwhile (still queued) is newer and stays. */
  loadState(address: string, key: string, text: string): void {
    const k = stateKey(address, key);
    if (!this.stateWrites.has(k)) this.state.set(k, text);
  }

  /** Every component state in memory, to write all of it again. */
  allState(): StateWrite[] {
    return [...this.state].map(([k, text]) => {
      const [address, key] = JSON.parse(k) as [string, string];
      return { address, key, text };
    });
  }

  get stateCount(): number {
    return this.state.size;
  }

  get queuedDecisions(): number {
    return this.decisions.length;
  }

  get queuedStates(): number {
    return this.stateWrites.size;
  }

  hasQueued(): boolean {
    return this.decisions.length > 0 || this.stateWrites.size > 0 || this.repeats.size > 0;
  }

  /** Everything queued, which the queue no longer holds. */
  take(): Batch {
    const batch = { decisions: this.decisions, state: this.stateWrites, repeats: [...this.repeats] };
    this.decisions = [];
    this.stateWrites = new Map();
    this.repeats = new Set();
    return batch;
  }

  /** A failed batch back in front of what was queued since (newer state values win); its rows were not written. */
  requeue(batch: Batch): void {
    for (const entry of batch.decisions) entry.id = undefined;
    this.decisions = [...batch.decisions, ...this.decisions];
    for (const [k, v] of batch.state) if (!this.stateWrites.has(k)) this.stateWrites.set(k, v);
    for (const entry of batch.repeats) if (entry.id !== undefined) this.repeats.add(entry);
  }

  /** Drops the oldest queued decisions past `max`; returns how many. */
  dropOldest(max: number): number {
    if (this.decisions.length <= max) return 0;
    const dropped = this.decisions.splice(0, this.decisions.length - max);
    this.forget(dropped);
    return dropped.length;
  }

  /** Decisions that were lost (never written, or dropped): the next one is not folded into a row that does not exist. */
  forget(entries: LastDecision[]): void {
    for (const entry of entries) {
      entry.id = undefined;
      const lane = laneKey(entry.decision);
      if (this.last.get(lane) === entry) this.last.delete(lane);
    }
  }

  /** Rows below `id` were deleted: a repeat of one of them starts a new row. */
  forgetRowsBelow(id: number): void {
    for (const [lane, entry] of this.last) if (entry.id !== undefined && entry.id < id) this.last.delete(lane);
  }

  /** Another database (a file replaced or deleted): no lane's newest decision is a row there. */
  forgetRows(): void {
    this.last.clear();
  }
}

/** The kind of write a batch is reported as when it fails. */
export function batchKind(batch: Batch): 'decision' | 'state' | 'repeats' {
  return batch.decisions.length > 0 ? 'decision' : batch.state.size > 0 ? 'state' : 'repeats';
}

/**
 * A write at the end of this turn of the event loop (one reconcile, one transaction) or
 * after a delay (repeat counts, a retry). Each store decides when; this only keeps one of
 * each pending and cancels both when the write runs.
 */
export class WriteTimers {
  private immediate?: NodeJS.Immediate;
  private timer?: NodeJS.Timeout;

  constructor(private readonly write: () => void) {}

  endOfTurn(): void {
    if (this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.write();
    });
  }

  /** In `ms`, unless a delayed write is already due (it is not pushed later). Does not keep the process alive. */
  after(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, ms);
    this.timer.unref();
  }

  /** The write is running now (or never will): neither is needed. */
  cancel(): void {
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * Rows of each scaler in the database, counted once per scaler (through the (scaler, id)
 * index), then kept up to date by the store's inserts and prunes, for per-scaler retention.
 */
export class ScalerRows {
  private readonly rows = new Map<string, number>();
  /** Rows removed by the per-scaler retention since the store opened (what tests check instead of timing it). */
  pruned = 0;

  constructor(readonly retention: number) {}

  get(scaler: string): number | undefined {
    return this.rows.get(scaler);
  }

  set(scaler: string, rows: number): void {
    this.rows.set(scaler, rows);
  }

  /** Pruned in steps of 1 % of retention, so a busy scaler deletes a few rows now and then. */
  overRetention(rows: number): boolean {
    return rows > this.retention + Math.max(1, Math.floor(this.retention / 100));
  }

  /** `removed` of the scaler's `rows` were pruned. */
  prunedFrom(scaler: string, rows: number, removed: number): void {
    this.rows.set(scaler, rows - removed);
    this.pruned += removed;
  }

  scalers(): string[] {
    return [...this.rows.keys()];
  }

  /** The counts are unknown (a rolled-back batch, a bulk delete): each scaler is counted again on its next insert. */
  forget(): void {
    this.rows.clear();
  }
}

/**
 * Failed writes, counted, and reported at most once a minute per kind of failure (with the
 * count so far): a full disk or a server down for an hour is a few lines, not one per write.
 */
export class WriteErrors {
  private readonly kinds = new Map<string, { count: number; lastReported: number }>();
  /** Writes that failed since the store opened. */
  failures = 0;

  constructor(
    private readonly hooks: {
      onWriteError?: (message: string, count: number) => void;
      onWriteFailure?: () => void;
    },
  ) {}

  /** A write that failed: counted (onWriteFailure, for waymond_store_errors_total) and reported. */
  failed(kind: string, message: () => string): void {
    this.failures++;
    this.hooks.onWriteFailure?.();
    this.report(kind, message);
  }

  /** Reported, rate-limited, but not a failed write (a lost idle connection). */
  report(kind: string, message: () => string): void {
    const entry = this.kinds.get(kind) ?? { count: 0, lastReported: 0 };
    entry.count++;
    this.kinds.set(kind, entry);
    const now = Date.now();
    if (now - entry.lastReported >= 60_000) {
      entry.lastReported = now;
      this.hooks.onWriteError?.(message(), entry.count);
    }
  }
}

/** The decision columns in the order both stores' INSERTs name them. */
export const DECISION_COLUMNS = [
  'time',
  'scaler',
  'target',
  'source_event',
  'observed',
  'desired',
  'action',
  'outcome',
  'error',
  'duration_ms',
  'reason',
  'repeats',
  'last_seen',
] as const;

/** An entry's values in DECISION_COLUMNS' order. */
export function decisionValues(entry: LastDecision): (string | number | null)[] {
  const d = entry.decision;
  return [
    d.time,
    d.scaler,
    d.target,
    d.sourceEvent,
    d.observed,
    d.desired,
    d.action,
    d.outcome,
    d.error,
    d.durationMs,
    d.reason,
    entry.repeats,
    entry.lastSeen,
  ];
}

/** A decisions row as a driver returns it: PostgreSQL's BIGINTs come as strings, SQLite's as numbers. */
export interface DecisionRow {
  id: number | string;
  time: number | string;
  scaler: string;
  /** Old SQLite files get the column on open (addColumns), '' for their rows. */
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
  /** Null for a row written before repeats were folded: it was last seen when it was recorded. */
  last_seen: number | string | null;
}

export function decisionFromRow(r: DecisionRow): Decision {
  const time = Number(r.time);
  return {
    id: Number(r.id),
    time,
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
    repeats: r.repeats ?? 0,
    lastSeen: Number(r.last_seen ?? time),
  };
}

function stateKey(address: string, key: string): string {
  return JSON.stringify([address, key]);
}
