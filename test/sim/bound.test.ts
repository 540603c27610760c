import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { metricNeedJobs, zeroWaitBoundMs, zeroWaitBoundSeconds } from '../../src/sim/bound.js';
import type { Job, Trace } from '../../src/sim/trace.js';

const job = (arrival: number, duration: number): Job => ({ arrival, duration });

/** Every way of giving each job an earlier, finished job's agent (or a new one): the minimum. */
function bruteForce(jobs: readonly Job[], startup: number): number {
  const sorted = [...jobs].sort((a, b) => a.arrival - b.arrival);
  const used = new Set<number>();
  const go = (i: number): number => {
    const current = sorted[i];
    if (!current) return 0;
    let best = current.duration + startup + go(i + 1);
    for (let j = 0; j < i; j++) {
      const before = sorted[j] as Job;
      const end = before.arrival + before.duration;
      if (used.has(j) || end > current.arrival) continue;
      used.add(j);
      best = Math.min(best, current.duration + Math.min(current.arrival - end, startup) + go(i + 1));
      used.delete(j);
    }
    return best;
  };
  return go(0);
}

describe('zeroWaitBoundMs', () => {
  it.each<[string, Job[], number, number]>([
    ['one job: its start-up and its work', [job(0, 10)], 5, 15],
    ['two overlapping jobs need two agents', [job(0, 10), job(5, 10)], 5, 30],
    ['a job 2 after another finished waits on its agent: gap 2, no start-up', [job(0, 10), job(12, 10)], 5, 27],
    ['a gap longer than a start-up costs one start-up', [job(0, 10), job(30, 10)], 5, 30],
    ['each job takes the agent that finished last', [job(0, 10), job(2, 10), job(13, 1), job(20, 1)], 10, 49],
  ])('%s', (_name, jobs, startup, expected) => {
    expect(zeroWaitBoundMs(jobs, startup)).toBe(expected);
  });

  it('equals the minimum over every assignment (brute force, up to 7 jobs)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ arrival: fc.integer({ min: 0, max: 60 }), duration: fc.integer({ min: 1, max: 20 }) }), {
          minLength: 1,
          maxLength: 7,
        }),
        fc.integer({ min: 1, max: 30 }),
        (jobs, startup) => zeroWaitBoundMs(jobs, startup) === bruteForce(jobs, startup),
      ),
      { numRuns: 400 },
    );
  });
});

describe('metric traces: the need as unit jobs', () => {
  const point = (t: number, value: number) => ({ t, value });

  it('each level of ceil(value / capacity) is one job over the time the need reaches it', () => {
    const jobs = metricNeedJobs([point(0, 3), point(10, 1), point(20, 0), point(30, 2)], 40, 1);
    expect(jobs.sort((a, b) => a.arrival - b.arrival || a.duration - b.duration)).toEqual([
      job(0, 10),
      job(0, 10),
      job(0, 20),
      job(30, 10),
      job(30, 10),
    ]);
    // A fraction of a member's capacity still needs the member: 3 / 2 → 2.
    expect(metricNeedJobs([point(0, 3)], 10, 2)).toEqual([job(0, 10), job(0, 10)]);
  });

  it('the bound of a metric trace: 3 members for 10, one kept on for 10 more, 2 restarted after a gap of 10', () => {
    const trace: Trace = {
      kind: 'metric',
      originMs: 0,
      points: [point(0, 3), point(10, 1), point(20, 0), point(30, 2)],
      stepMs: 10,
      endMs: 40,
    };
    // Work 3×10 + 10 + 2×10 = 60; start-ups: 3 at 0 (5 each), at 30 one waits the gap of 10
    // (more than a start-up: costs 5) and one starts (5): 25. 85 ms in all.
    expect(zeroWaitBoundSeconds(trace, 5, 1)).toBeCloseTo(0.085, 9);
  });

  it('the same bound whatever the order the levels close in (the decomposition does not matter)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 30 }),
        (values, startup) => {
          const points = values.map((v, i) => point(i * 10, v));
          const end = values.length * 10;
          const jobs = metricNeedJobs(points, end, 1);
          return zeroWaitBoundMs(jobs, startup) === bruteForce(jobs, startup);
        },
      ),
      { numRuns: 200 },
    );
  });
});
