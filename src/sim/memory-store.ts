/**
 * The simulator's Store: state in a Map and the latest decisions per scaler in memory.
 * A simulated day makes tens of thousands of decisions nobody reads back; SQLite's inserts
 * and retention pruning were most of the time per tick, and nothing here must survive.
 * Nothing is queued: every write is done when the call returns, so flush() has nothing to wait for.
 */
import { type Decision, type DecisionQuery, isRepeatOf, laneKey, type Store } from '../core/store.js';

export class MemoryStore implements Store {
  private decisions = new Map<string, Decision[]>();
  /** Each scaler's target's newest decision, which a repeat of it is folded into. */
  private last = new Map<string, Decision>();
  private state = new Map<string, string>();
  private nextId = 1;

  constructor(private readonly retention = 1000) {}

  open(): Promise<void> {
    return Promise.resolve();
  }

  recordDecision(decision: Decision): void {
    const lane = laneKey(decision);
    const previous = this.last.get(lane);
    if (previous && isRepeatOf(previous, decision)) {
      previous.repeats = (previous.repeats ?? 0) + 1;
      previous.lastSeen = decision.time;
      return;
    }
    const stored = { ...decision, id: this.nextId++, repeats: 0, lastSeen: decision.time };
    this.last.set(lane, stored);
    const list = this.decisions.get(decision.scaler) ?? [];
    list.push(stored);
    // Trim in batches so recording stays O(1) amortised.
    if (list.length > this.retention * 2) list.splice(0, list.length - this.retention);
    this.decisions.set(decision.scaler, list);
  }

  listDecisions(query: DecisionQuery): Promise<Decision[]> {
    const all = query.scaler
      ? (this.decisions.get(query.scaler) ?? [])
      : [...this.decisions.values()].flat().sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    // Copies, so a caller never holds the row a later repeat updates.
    return Promise.resolve(
      all
        .slice(-Math.max(1, query.limit ?? 100))
        .reverse()
        .map((d) => ({ ...d })),
    );
  }

  getState<T>(address: string, key: string): T | undefined {
    const text = this.state.get(`${address}\u0000${key}`);
    // Stored as JSON, as SQLite does, so a caller never shares an object with the store.
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  setState(address: string, key: string, value: unknown): void {
    this.state.set(`${address}\u0000${key}`, JSON.stringify(value));
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.decisions.clear();
    this.last.clear();
    return Promise.resolve();
  }
}
