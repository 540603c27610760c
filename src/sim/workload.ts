/**
 * What the simulated fleet and the run loop need from a workload model (jobs or fluid
 * metric), and the statistics they share. Times are milliseconds from the trace's origin.
 *
 * The run loop and the fleets call `advanceTo(t)` before anything changes at `t`, so every
 * model only ever moves forward and does work proportional to its events, not to time.
 */
import type { EventData } from '../core/types.js';

export interface Workload {
  /** Processes every arrival, completion and member becoming ready up to `t`. */
  advanceTo(t: number): void;
  /** A member was started at the current time; it can serve from `readyAt` on. */
  memberAdded(id: string, readyAt: number): void;
  /** A member was stopped at the current time (its job, if any, goes back to the queue's head). */
  memberRemoved(id: string): void;
  /** Whether `id` is serving work right now (the simulated answer to a busy_check). */
  isBusy(id: string): boolean;
  /** Demand now, as emitted on the input trigger's output. */
  demand(): EventData;
  /**
   * Job models only: the queue as a CI or job-queue trigger sees it, so the simulator can
   * emit each trigger type's own fields (see emit.ts) rather than one `value`.
   */
  counts?(): QueueCounts;
  /** Demand now in members' worth (what the charts draw beside the counts). */
  demandMembers(): number;
  /** Statistics up to the current time; work still waiting counts with its wait so far. */
  summary(): WorkloadSummary;
}

export interface QueueCounts {
  /** Jobs runnable and not started (queued, scheduled, enqueued). */
  waiting: number;
  /** Jobs running on a member. */
  running: number;
  /** Ready members with no job. */
  idle: number;
  /** Members started and not ready yet. */
  starting: number;
}

export interface WorkloadSummary {
  waitP50Ms: number;
  waitP95Ms: number;
  waitMaxMs: number;
  /** Time during which demand exceeded ready capacity. */
  overCapacityMs: number;
  /** Jobs (or units of work) that arrived. */
  arrived: number;
  /** Jobs stopped with their member and queued again. */
  interrupted: number;
}

export interface Sample {
  value: number;
  weight: number;
}

/**
 * Weighted nearest-rank percentiles (p in 0..1): the smallest value whose cumulative weight
 * reaches p of the total. Jobs weigh 1; fluid work weighs its amount. Empty: all zeros.
 */
export function percentiles(samples: Sample[], ps: number[]): number[] {
  const sorted = samples.filter((s) => s.weight > 0).sort((a, b) => a.value - b.value);
  const total = sorted.reduce((sum, s) => sum + s.weight, 0);
  if (total === 0) return ps.map(() => 0);
  return ps.map((p) => {
    const goal = p * total;
    let cumulative = 0;
    for (const s of sorted) {
      cumulative += s.weight;
      // A relative epsilon keeps p=0.5 of two equal weights on the first, despite float sums.
      if (cumulative >= goal - total * 1e-12) return s.value;
    }
    return (sorted.at(-1) as Sample).value;
  });
}

/** A binary min-heap keyed by a number; small and allocation-light for event times. */
export class MinHeap<T> {
  private items: { key: number; seq: number; value: T }[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  push(key: number, value: T): void {
    const items = this.items;
    items.push({ key, seq: this.seq++, value });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  peekKey(): number | undefined {
    return this.items[0]?.key;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    if (!top) return undefined;
    const last = items.pop() as (typeof items)[number];
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < items.length && this.less(l, smallest)) smallest = l;
        if (r < items.length && this.less(r, smallest)) smallest = r;
        if (smallest === i) break;
        this.swap(i, smallest);
        i = smallest;
      }
    }
    return top.value;
  }

  private less(a: number, b: number): boolean {
    const x = this.items[a] as { key: number; seq: number };
    const y = this.items[b] as { key: number; seq: number };
    return x.key < y.key || (x.key === y.key && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const items = this.items;
    const t = items[a] as (typeof items)[number];
    items[a] = items[b] as (typeof items)[number];
    items[b] = t;
  }
}
