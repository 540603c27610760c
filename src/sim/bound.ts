/**
 * The zero-wait bound of a job trace: the least agent time (start-up included) that serves
 * every job the moment it arrives, when arrivals and durations are known in advance.
 *
 * Every job runs on an agent that is ready at its arrival. An agent either was started for
 * it (start-up S billed before the job) or finished an earlier job and waited idle for it
 * (the gap billed). Waiting idle longer than S costs more than stopping and starting again,
 * so a job that follows another on the same agent costs min(gap, S), a job that starts an
 * agent costs S, and
 *
 *   bound = Σ durations + Σ over jobs of (S, or min(gap, S) after the job whose agent it takes)
 *
 * Which earlier job's agent to take: the one that finished last before the arrival. With a
 * concave cost of the gap (min(gap, S) is), pairing the nearest end with the arrival never
 * costs more than any other pairing (for ends e1 < e2 ≤ a < b, f(a − e2) + f(b − e1) ≤
 * f(a − e1) + f(b − e2): the extremes of equal sums), so this greedy choice is exact.
 */
import type { Job, MetricPoint, Trace } from './trace.js';
import { MinHeap } from './workload.js';

/** Agent-milliseconds of the zero-wait bound for `jobs` (any order) with start-up `startupMs`. */
export function zeroWaitBoundMs(jobs: readonly Job[], startupMs: number): number {
  const sorted = [...jobs].sort((a, b) => a.arrival - b.arrival);
  // Ends not yet reached (min-heap by time), and ends reached but not yet taken (max-heap: negated keys).
  const pending = new MinHeap<number>();
  const free = new MinHeap<number>();
  let total = 0;
  for (const job of sorted) {
    while (pending.size > 0 && (pending.peekKey() as number) <= job.arrival) {
      const end = pending.pop() as number;
      free.push(-end, end);
    }
    const latest = free.size > 0 ? (free.pop() as number) : undefined;
    total += job.duration + (latest === undefined ? startupMs : Math.min(job.arrival - latest, startupMs));
    const end = job.arrival + job.duration;
    pending.push(end, end);
  }
  return total;
}

/**
 * A metric trace as unit jobs: where ceil(value / capacity) members are needed, each
 * level k of that need (the time spans with need ≥ k) is one job. Zero wait in the fluid
 * model means ready capacity ≥ the arrival rate at every moment, so these jobs are exactly
 * what must be covered; which level a member serves does not change the bound (the starts
 * and ends are the need's up and down steps whatever the decomposition).
 */
export function metricNeedJobs(points: readonly MetricPoint[], endMs: number, capacity: number): Job[] {
  const jobs: Job[] = [];
  const openedAt: number[] = [];
  const stepTo = (need: number, t: number) => {
    while (openedAt.length > need) {
      const start = openedAt.pop() as number;
      if (t > start) jobs.push({ arrival: start, duration: t - start });
    }
    while (openedAt.length < need) openedAt.push(t);
  };
  for (const point of points) stepTo(Math.ceil(Math.max(0, point.value) / capacity - 1e-9), point.t);
  stepTo(0, endMs);
  return jobs;
}

/** Agent-seconds of the zero-wait bound of a trace (jobs or metric) with start-up `startupMs`. */
export function zeroWaitBoundSeconds(trace: Trace, startupMs: number, memberCapacity: number): number {
  const jobs = trace.kind === 'jobs' ? trace.jobs : metricNeedJobs(trace.points, trace.endMs, memberCapacity);
  return zeroWaitBoundMs(jobs, startupMs) / 1000;
}
