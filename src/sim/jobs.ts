/**
 * The job model: jobs arrive (from the trace), wait in one FIFO queue, and each runs on one
 * ready member for its duration. A discrete-event simulation over three event sources —
 * arrivals (sorted), completions (a heap) and members becoming ready (a heap) — so a day of
 * trace costs time in proportion to its jobs and scale actions, never to its seconds.
 *
 * A member stopped while it runs a job (scale-in that respects nothing) sends the job back
 * to the head of the queue to start over: a killed CI job is retried, its time is lost.
 * A job's wait is all the time it spent queued, before its first start and after any
 * interruption.
 */
import type { EventData } from '../core/types.js';
import type { Job } from './trace.js';
import {
  MinHeap,
  percentiles,
  type QueueCounts,
  type Sample,
  type Workload,
  type WorkloadSummary,
} from './workload.js';

interface QueuedJob {
  job: Job;
  waitedMs: number;
  queuedAt: number;
}

interface RunningJob {
  entry: QueuedJob;
  endAt: number;
}

export class JobQueue implements Workload {
  private now = 0;
  private nextArrival = 0;
  /** Jobs interrupted by a member's removal: served before the FIFO queue. */
  private retry: QueuedJob[] = [];
  private queue: QueuedJob[] = [];
  private queueHead = 0;
  /** Ready members with nothing to do, in the order they became free. */
  private free = new Set<string>();
  private running = new Map<string, RunningJob>();
  private completions = new MinHeap<{ member: string; run: RunningJob }>();
  private readies = new MinHeap<string>();
  /** Members started and not yet ready (a removal cancels their pending ready event). */
  private starting = new Set<string>();
  private waits: Sample[] = [];
  private overCapacityMs = 0;
  private interrupted = 0;

  constructor(private readonly jobs: readonly Job[]) {}

  get waiting(): number {
    return this.retry.length + this.queue.length - this.queueHead;
  }

  get busy(): number {
    return this.running.size;
  }

  advanceTo(t: number): void {
    for (;;) {
      const next = this.nextEventAt();
      if (next === undefined || next > t) break;
      this.moveTo(next);
      this.processEventsAt(next);
      this.dispatch();
    }
    this.moveTo(Math.max(this.now, t));
  }

  memberAdded(id: string, readyAt: number): void {
    this.starting.add(id);
    this.readies.push(readyAt, id);
    if (readyAt <= this.now) this.advanceTo(this.now);
  }

  memberRemoved(id: string): void {
    this.starting.delete(id);
    this.free.delete(id);
    const run = this.running.get(id);
    if (!run) return;
    this.running.delete(id);
    this.interrupted++;
    this.retry.push({ job: run.entry.job, waitedMs: run.entry.waitedMs, queuedAt: this.now });
    this.dispatch();
  }

  isBusy(id: string): boolean {
    return this.running.has(id);
  }

  demand(): EventData {
    const waiting = this.waiting;
    const running = this.busy;
    return { value: waiting + running, waiting, running };
  }

  counts(): QueueCounts {
    return { waiting: this.waiting, running: this.busy, idle: this.free.size, starting: this.starting.size };
  }

  demandMembers(): number {
    return this.waiting + this.busy;
  }

  summary(): WorkloadSummary {
    const samples = [...this.waits];
    for (const entry of [...this.retry, ...this.queue.slice(this.queueHead)])
      samples.push({ value: entry.waitedMs + (this.now - entry.queuedAt), weight: 1 });
    for (const run of this.running.values()) samples.push({ value: run.entry.waitedMs, weight: 1 });
    const [p50, p95, max] = percentiles(samples, [0.5, 0.95, 1]) as [number, number, number];
    return {
      waitP50Ms: p50,
      waitP95Ms: p95,
      waitMaxMs: max,
      overCapacityMs: this.overCapacityMs,
      arrived: this.nextArrival,
      interrupted: this.interrupted,
    };
  }

  private nextEventAt(): number | undefined {
    const candidates = [this.jobs[this.nextArrival]?.arrival, this.completions.peekKey(), this.readies.peekKey()];
    let best: number | undefined;
    for (const c of candidates) if (c !== undefined && (best === undefined || c < best)) best = c;
    return best;
  }

  /** Time passes with the state unchanged: a non-empty queue means every ready member is busy. */
  private moveTo(t: number): void {
    if (t <= this.now) return;
    if (this.waiting > 0) this.overCapacityMs += t - this.now;
    this.now = t;
  }

  /** Completions free members first, then members become ready, then jobs arrive. */
  private processEventsAt(t: number): void {
    while (this.completions.peekKey() !== undefined && (this.completions.peekKey() as number) <= t) {
      const done = this.completions.pop() as { member: string; run: RunningJob };
      // A stale entry: its member was removed (and the job requeued) before it finished.
      if (this.running.get(done.member) !== done.run) continue;
      this.running.delete(done.member);
      this.waits.push({ value: done.run.entry.waitedMs, weight: 1 });
      this.free.add(done.member);
    }
    while (this.readies.peekKey() !== undefined && (this.readies.peekKey() as number) <= t) {
      const id = this.readies.pop() as string;
      if (!this.starting.delete(id)) continue;
      this.free.add(id);
    }
    for (;;) {
      const job = this.jobs[this.nextArrival];
      if (!job || job.arrival > t) break;
      this.nextArrival++;
      this.queue.push({ job, waitedMs: 0, queuedAt: job.arrival });
    }
  }

  private dispatch(): void {
    while (this.free.size > 0 && this.waiting > 0) {
      const member = this.free.values().next().value as string;
      this.free.delete(member);
      const entry = this.takeNext();
      entry.waitedMs += this.now - entry.queuedAt;
      const run: RunningJob = { entry, endAt: this.now + entry.job.duration };
      this.running.set(member, run);
      this.completions.push(run.endAt, { member, run });
    }
    // Drop served entries now and then, so the queue array does not grow without bound.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private takeNext(): QueuedJob {
    if (this.retry.length > 0) return this.retry.shift() as QueuedJob;
    return this.queue[this.queueHead++] as QueuedJob;
  }
}
