/**
 * The metric model: a trace value is work arriving per second (requests/s), each ready
 * member serves `memberCapacity` of it per second, and what is not served queues, FIFO, as
 * a fluid. Time is cut into segments at trace points and at member changes; in each segment
 * the rate of arrival and of service are constant, so the work is one chunk arriving at the
 * segment's start. A chunk's wait is the time from its arrival until service begins on it,
 * weighted by its amount; over-capacity time is where the arrival rate exceeds the service
 * rate. Cost per trace point and member change, not per millisecond.
 */
import type { EventData } from '../core/types.js';
import type { MetricPoint } from './trace.js';
import { MinHeap, percentiles, type Sample, type Workload, type WorkloadSummary } from './workload.js';

interface Chunk {
  at: number;
  remaining: number;
  started: boolean;
  amount: number;
}

export class FluidQueue implements Workload {
  private now = 0;
  private pointIndex = -1;
  private ready = new Set<string>();
  private readies = new MinHeap<string>();
  private starting = new Set<string>();
  private backlog: Chunk[] = [];
  private backlogHead = 0;
  private waits: Sample[] = [];
  private overCapacityMs = 0;
  private arrived = 0;

  constructor(
    private readonly points: readonly MetricPoint[],
    private readonly memberCapacity = 1,
  ) {}

  /** The rate now (0 before the first point). */
  private get rate(): number {
    return this.points[this.pointIndex]?.value ?? 0;
  }

  private get serviceRate(): number {
    return this.ready.size * this.memberCapacity;
  }

  advanceTo(t: number): void {
    for (;;) {
      const nextPoint = this.points[this.pointIndex + 1]?.t;
      const nextReady = this.readies.peekKey();
      let next = nextPoint;
      if (nextReady !== undefined && (next === undefined || nextReady < next)) next = nextReady;
      if (next === undefined || next > t) break;
      this.flow(next);
      while (
        this.points[this.pointIndex + 1] !== undefined &&
        (this.points[this.pointIndex + 1] as MetricPoint).t <= next
      )
        this.pointIndex++;
      while (this.readies.peekKey() !== undefined && (this.readies.peekKey() as number) <= next) {
        const id = this.readies.pop() as string;
        if (this.starting.delete(id)) this.ready.add(id);
      }
    }
    this.flow(Math.max(this.now, t));
  }

  memberAdded(id: string, readyAt: number): void {
    this.starting.add(id);
    this.readies.push(readyAt, id);
    if (readyAt <= this.now) this.advanceTo(this.now);
  }

  memberRemoved(id: string): void {
    this.starting.delete(id);
    this.ready.delete(id);
  }

  /** With a fluid there is no job to point at: a member is busy when there is any work. */
  isBusy(id: string): boolean {
    return this.ready.has(id) && (this.rate > 0 || this.backlogHead < this.backlog.length);
  }

  demand(): EventData {
    return { value: this.rate };
  }

  demandMembers(): number {
    return this.rate / this.memberCapacity;
  }

  summary(): WorkloadSummary {
    const samples = [...this.waits];
    for (let i = this.backlogHead; i < this.backlog.length; i++) {
      const chunk = this.backlog[i] as Chunk;
      if (!chunk.started) samples.push({ value: this.now - chunk.at, weight: chunk.amount });
    }
    const [p50, p95, max] = percentiles(samples, [0.5, 0.95, 1]) as [number, number, number];
    return {
      waitP50Ms: p50,
      waitP95Ms: p95,
      waitMaxMs: max,
      overCapacityMs: this.overCapacityMs,
      arrived: this.arrived,
      interrupted: 0,
    };
  }

  /** One segment [now, t) at constant rates: the arriving chunk joins the queue, service drains it. */
  private flow(t: number): void {
    if (t <= this.now) return;
    const seconds = (t - this.now) / 1000;
    const rate = this.rate;
    const service = this.serviceRate;
    if (rate > service) this.overCapacityMs += t - this.now;
    const amount = rate * seconds;
    if (amount > 0) {
      this.arrived += amount;
      this.backlog.push({ at: this.now, remaining: amount, started: false, amount });
    }
    let budget = service * seconds;
    let cursor = this.now;
    while (budget > 1e-12 && this.backlogHead < this.backlog.length) {
      const head = this.backlog[this.backlogHead] as Chunk;
      if (!head.started) {
        head.started = true;
        this.waits.push({ value: Math.max(0, cursor - head.at), weight: head.amount });
      }
      const take = Math.min(head.remaining, budget);
      head.remaining -= take;
      budget -= take;
      cursor += (take / service) * 1000;
      if (head.remaining <= 1e-12) this.backlogHead++;
    }
    if (this.backlogHead > 1024 && this.backlogHead * 2 > this.backlog.length) {
      this.backlog = this.backlog.slice(this.backlogHead);
      this.backlogHead = 0;
    }
    this.now = t;
  }
}
