import { describe, expect, it } from 'vitest';
import { FluidQueue } from '../../src/sim/fluid.js';
import { JobQueue } from '../../src/sim/jobs.js';
import { MinHeap, percentiles } from '../../src/sim/workload.js';

const s = (seconds: number) => seconds * 1000;

describe('percentiles (weighted nearest rank)', () => {
  it.each([
    { name: 'empty is all zeros', samples: [], expected: [0, 0, 0] },
    { name: 'one sample is every percentile', samples: [[7, 1]], expected: [7, 7, 7] },
    {
      name: 'p50 of 1..4 is 2, p95 and max are 4',
      samples: [
        [4, 1],
        [1, 1],
        [3, 1],
        [2, 1],
      ],
      expected: [2, 4, 4],
    },
    {
      name: 'weights count: a heavy zero holds p50, not p95',
      samples: [
        [0, 94],
        [100, 6],
      ],
      expected: [0, 100, 100],
    },
    {
      name: 'zero weights are ignored',
      samples: [
        [0, 1],
        [999, 0],
      ],
      expected: [0, 0, 0],
    },
  ])('$name', ({ samples, expected }) => {
    expect(
      percentiles(
        samples.map(([value, weight]) => ({ value: value as number, weight: weight as number })),
        [0.5, 0.95, 1],
      ),
    ).toEqual(expected);
  });
});

describe('MinHeap', () => {
  it('pops in key order, ties in insertion order', () => {
    const heap = new MinHeap<string>();
    for (const [k, v] of [
      [5, 'e'],
      [1, 'a'],
      [3, 'c1'],
      [3, 'c2'],
      [2, 'b'],
    ] as const)
      heap.push(k, v);
    const out: string[] = [];
    while (heap.size > 0) out.push(heap.pop() as string);
    expect(out).toEqual(['a', 'b', 'c1', 'c2', 'e']);
  });
});

describe('JobQueue', () => {
  it('a job waits when no member is free, and runs when one becomes ready', () => {
    const q = new JobQueue([{ arrival: 0, duration: s(10) }]);
    q.advanceTo(0);
    expect(q.demand()).toEqual({ value: 1, waiting: 1, running: 0 });
    q.memberAdded('m1', s(30));
    q.advanceTo(s(30));
    expect(q.demand()).toEqual({ value: 1, waiting: 0, running: 1 });
    expect(q.isBusy('m1')).toBe(true);
    q.advanceTo(s(40));
    expect(q.demand()).toEqual({ value: 0, waiting: 0, running: 0 });
    expect(q.summary()).toMatchObject({ waitP50Ms: s(30), waitMaxMs: s(30), overCapacityMs: s(30), arrived: 1 });
  });

  it('a job that finds a free ready member does not wait', () => {
    const q = new JobQueue([{ arrival: s(5), duration: s(10) }]);
    q.memberAdded('m1', 0);
    q.advanceTo(s(20));
    expect(q.summary()).toMatchObject({ waitMaxMs: 0, overCapacityMs: 0 });
  });

  it('serves FIFO: with one member, each job waits for the ones before it', () => {
    const q = new JobQueue([0, 1, 2, 3].map((i) => ({ arrival: s(i), duration: s(10) })));
    q.memberAdded('m1', 0);
    q.advanceTo(s(100));
    // Starts at 0, 10, 20, 30: waits 0, 9, 18, 27.
    expect(q.summary()).toMatchObject({ waitP50Ms: s(9), waitP95Ms: s(27), waitMaxMs: s(27), overCapacityMs: s(29) });
  });

  it('several members take jobs in parallel', () => {
    const q = new JobQueue([0, 0, 0].map((arrival) => ({ arrival, duration: s(10) })));
    for (const id of ['a', 'b', 'c']) q.memberAdded(id, 0);
    q.advanceTo(0);
    expect(q.demand()).toEqual({ value: 3, waiting: 0, running: 3 });
    q.advanceTo(s(10));
    expect(q.summary()).toMatchObject({ waitMaxMs: 0, overCapacityMs: 0 });
  });

  it('a member removed while running sends its job back to the head of the queue, to start over', () => {
    const q = new JobQueue([
      { arrival: 0, duration: s(10) },
      { arrival: s(1), duration: s(10) },
    ]);
    q.memberAdded('m1', 0);
    q.advanceTo(s(5));
    q.memberRemoved('m1');
    expect(q.demand()).toEqual({ value: 2, waiting: 2, running: 0 });
    q.memberAdded('m2', s(8));
    q.advanceTo(s(8));
    // The interrupted job goes first: it waited 3 s (5 → 8); the other keeps waiting.
    expect(q.isBusy('m2')).toBe(true);
    q.advanceTo(s(28));
    const summary = q.summary();
    expect(summary.interrupted).toBe(1);
    // Waits: job 1 = 3 s, job 2 = 18 − 1 = 17 s.
    expect(summary.waitMaxMs).toBe(s(17));
    expect(summary.waitP50Ms).toBe(s(3));
  });

  it('removing a starting member cancels it: it never serves', () => {
    const q = new JobQueue([{ arrival: 0, duration: s(10) }]);
    q.memberAdded('m1', s(30));
    q.memberRemoved('m1');
    q.advanceTo(s(60));
    expect(q.demand()).toEqual({ value: 1, waiting: 1, running: 0 });
    // Still waiting at the end: counted with its wait so far.
    expect(q.summary()).toMatchObject({ waitMaxMs: s(60), overCapacityMs: s(60) });
  });

  it('does work per event: a million idle seconds cost nothing', () => {
    const q = new JobQueue([{ arrival: s(1_000_000), duration: s(1) }]);
    q.memberAdded('m1', 0);
    q.advanceTo(s(2_000_000));
    expect(q.summary()).toMatchObject({ arrived: 1, waitMaxMs: 0 });
  });
});

describe('FluidQueue', () => {
  it('demand at or under capacity never waits and is never over capacity', () => {
    const q = new FluidQueue(
      [
        { t: 0, value: 2 },
        { t: s(10), value: 4 },
      ],
      2,
    );
    q.memberAdded('a', 0);
    q.memberAdded('b', 0);
    q.advanceTo(s(20));
    expect(q.summary()).toMatchObject({ waitMaxMs: 0, overCapacityMs: 0, arrived: 60 });
    expect(q.demand()).toEqual({ value: 4 });
    expect(q.demandMembers()).toBe(2);
  });

  it('excess demand queues and waits until capacity clears it', () => {
    // 2/s for 10 s against one member serving 1/s, then nothing.
    const q = new FluidQueue(
      [
        { t: 0, value: 2 },
        { t: s(10), value: 0 },
      ],
      1,
    );
    q.memberAdded('a', 0);
    q.advanceTo(s(30));
    const summary = q.summary();
    expect(summary.overCapacityMs).toBe(s(10));
    expect(summary.arrived).toBe(20);
    // One chunk of 20 arriving at 0, served from 0: the chunk itself starts at once.
    expect(summary.waitMaxMs).toBe(0);
  });

  it('work arriving behind a backlog waits for it to clear', () => {
    const points = [0, 1, 2, 3].map((i) => ({ t: s(i), value: i === 0 ? 4 : 0 }));
    const q = new FluidQueue([...points, { t: s(4), value: 1 }, { t: s(5), value: 0 }], 1);
    q.memberAdded('a', 0);
    q.advanceTo(s(10));
    // 4 units at 0 take 4 s to serve; the unit arriving at 4 starts at 4: no wait.
    expect(q.summary().waitMaxMs).toBe(0);
    const slow = new FluidQueue(
      [
        { t: 0, value: 4 },
        { t: s(1), value: 1 },
        { t: s(2), value: 0 },
      ],
      1,
    );
    slow.memberAdded('a', 0);
    slow.advanceTo(s(10));
    // The unit arriving at 1 s finds 3 units ahead of it: it starts at 4 s, 3 s later.
    expect(slow.summary().waitMaxMs).toBe(s(3));
  });

  it('members serve only once ready', () => {
    const q = new FluidQueue(
      [
        { t: 0, value: 1 },
        { t: s(10), value: 0 },
      ],
      1,
    );
    q.memberAdded('a', s(5));
    q.advanceTo(s(20));
    expect(q.summary()).toMatchObject({ overCapacityMs: s(5), waitMaxMs: s(5) });
  });
});
