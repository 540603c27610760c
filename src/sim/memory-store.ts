/**
 * The simulator's Store: state in a Map and the latest decisions per scaler in memory.
 * A simulated day makes tens of thousands of decisions nobody reads back; SQLite's inserts
 * and retention pruning were most of the time per tick, and nothing here must survive.
 */
import type { Decision, DecisionQuery, Store } from '../core/store.js';

export class MemoryStore implements Store {
  private decisions = new Map<string, Decision[]>();
  private state = new Map<string, string>();
  private nextId = 1;

  constructor(private readonly retention = 1000) {}

  recordDecision(decision: Decision): void {
    const list = this.decisions.get(decision.scaler) ?? [];
    list.push({ ...decision, id: this.nextId++ });
    // Trim in batches so recording stays O(1) amortised.
    if (list.length > this.retention * 2) list.splice(0, list.length - this.retention);
    this.decisions.set(decision.scaler, list);
  }

  listDecisions(query: DecisionQuery): Decision[] {
    const all = query.scaler
      ? (this.decisions.get(query.scaler) ?? [])
      : [...this.decisions.values()].flat().sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    return all.slice(-Math.max(1, query.limit ?? 100)).reverse();
  }

  getState<T>(address: string, key: string): T | undefined {
    const text = this.state.get(`${address}\u0000${key}`);
    // Stored as JSON, as SQLite does, so a caller never shares an object with the store.
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  setState(address: string, key: string, value: unknown): void {
    this.state.set(`${address}\u0000${key}`, JSON.stringify(value));
  }

  close(): void {
    this.decisions.clear();
  }
}
