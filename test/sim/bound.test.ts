import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { zeroWaitBoundMs } from '../../src/sim/bound.js';
import type { Job } from '../../src/sim/trace.js';

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
