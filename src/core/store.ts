/**
 * What waymond keeps: the decisions (each reconcile, with its reason and its target) and what
 * each component needs to survive a restart (a scaler's last desired count per target, its
 * members). The core owns this contract; SQLite (src/store/sqlite.ts, the default) and the
 * simulator's in-memory store implement it, and the daemon chooses one.
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
}

export interface DecisionQuery {
  scaler?: string;
  limit?: number;
}

export interface Store {
  recordDecision(decision: Decision): void;
  listDecisions(query: DecisionQuery): Decision[];
  getState<T>(address: string, key: string): T | undefined;
  setState(address: string, key: string, value: unknown): void;
  close(): void;
}
