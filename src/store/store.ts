/**
 * What waymond keeps: the decisions (each reconcile, with its reason) and what each
 * component needs to survive a restart (a scaler's last desired count, its members).
 * SQLite (embedded, default) implements it; PostgreSQL may later for shared state.
 */
export interface Decision {
  id?: number;
  time: number;
  scaler: string;
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
