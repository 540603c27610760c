/**
 * What waymond keeps: the decisions (each reconcile, with its reason and its target) and what
 * each component needs to survive a restart (a scaler's last desired count per target, its
 * members). The core owns this contract; SQLite (src/store/sqlite.ts, the default),
 * PostgreSQL (src/store/postgres.ts, `[store] url`) and the simulator's in-memory store
 * implement it, and the daemon chooses one.
 *
 * The hot path never waits on I/O: component state is read from memory (preloaded by
 * `open()` before the engine creates any component), and `recordDecision`/`setState` only
 * queue a write and never throw for a store fault. The writes queued in one turn of the
 * event loop (one reconcile's decision and desired count) are written in one transaction.
 * A fault is reported through the store's own hooks (logged, counted), not to the caller.
 */
export interface Decision {
  id?: number;
  time: number;
  scaler: string;
  /**
   * The target of the scaler this decision is for (an Auto Scaling group of a scaler that
   * serves one per queue); '' for a scaler with one target and for rows stored before
   * targets were recorded.
   */
  target: string;
  sourceEvent: string | null;
  observed: number | null;
  desired: number | null;
  action: string;
  outcome: string;
  error: string | null;
  durationMs: number;
  reason: string;
  /**
   * How many later decisions were identical to this one but for their time (a steady
   * signal: same observed, desired, outcome, reason, no change) and were folded into it
   * instead of stored as rows of their own. 0 for a decision seen once. Set by the store.
   */
  repeats?: number;
  /** The time of the last decision folded into this one (`time` when `repeats` is 0). Set by the store. */
  lastSeen?: number;
}

export interface DecisionQuery {
  scaler?: string;
  limit?: number;
}

export interface Store {
  /**
   * Connects (and migrates, for a server) and loads every component's state into memory.
   * The engine awaits it before it creates a component; calling it again does nothing.
   */
  open(): Promise<void>;
  /** Queues the decision (or folds it into the previous one, see `isRepeatOf`); never throws for a store fault. */
  recordDecision(decision: Decision): void;
  /** Newest first by when each row was first recorded (id; a folded row's `lastSeen` may be later); sees every write queued before the call. */
  listDecisions(query: DecisionQuery): Promise<Decision[]>;
  /** From memory: never waits and never fails. */
  getState<T>(address: string, key: string): T | undefined;
  /**
   * Updates memory at once and queues the write; never throws for a store fault. A value
   * that cannot be serialised (a cycle, a BigInt) is the caller's error and does throw.
   */
  setState(address: string, key: string, value: unknown): void;
  /** Resolves when every write queued before the call has been written (or has failed and been reported). */
  flush(): Promise<void>;
  /** Flushes, then lets go of the file or the connection. Calling it again does nothing. */
  close(): Promise<void>;
}

/**
 * A decision that repeats the previous one of its scaler and target in everything but time
 * (and its event's id and its duration): nothing changed and nothing was tried, so it is not
 * a new decision. Only decisions without a change are folded: a repeated scale-up is an
 * attempt each time and each one is kept.
 */
export function isRepeatOf(previous: Decision, next: Decision): boolean {
  return (
    previous.scaler === next.scaler &&
    previous.target === next.target &&
    isNoChange(next.action) &&
    previous.action === next.action &&
    previous.observed === next.observed &&
    previous.desired === next.desired &&
    previous.outcome === next.outcome &&
    previous.error === next.error &&
    previous.reason === next.reason
  );
}

/** The reconciler's action for a count already right: `none`, `none (3)`, `none (3) [target]`. */
function isNoChange(action: string): boolean {
  return action === 'none' || action.startsWith('none ');
}

/** The key one scaler's target's previous decision is kept under, to fold repeats into it. */
export function laneKey(decision: Pick<Decision, 'scaler' | 'target'>): string {
  return `${decision.scaler}\u0000${decision.target}`;
}

/** A decision's reason and error are cut to this many characters: one webhook cannot grow the store by a megabyte. */
export const MAX_TEXT = 1024;

/** `text` cut to MAX_TEXT characters, saying so. */
export function cutText(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 12)}… (cut)`;
}
