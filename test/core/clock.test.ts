import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealClock, TickBuckets, TimerHeap, VirtualClock } from '../../src/core/clock.js';

describe('RealClock', () => {
  it('does not fire a timer further away than Node can hold (a yearly cron) right away', async () => {
    const clock = new RealClock();
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 40 * 86_400_000);
    await new Promise((r) => setTimeout(r, 50));
    handle.cancel();
    expect(fired).toBe(false);
  });
});

describe('VirtualClock', () => {
  it('fires due timers in time order while advancing', async () => {
    const clock = new VirtualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@20'), 20);
    clock.setTimeout(() => fired.push('a@10'), 10);
    const every = clock.setInterval(() => fired.push(`tick@${clock.now()}`), 15);
    await clock.advance(31);
    every.cancel();
    expect(fired).toEqual(['a@10', 'tick@15', 'b@20', 'tick@30']);
    expect(clock.now()).toBe(31);
  });

  it('sleep resolves on advance and rejects on abort', async () => {
    const clock = new VirtualClock(0);
    const abort = new AbortController();
    const slept = clock.sleep(100);
    const aborted = clock.sleep(100, abort.signal);
    abort.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await clock.advance(100);
    await expect(slept).resolves.toBeUndefined();
  });
});

/**
 * The VirtualClock before its heap, kept as the model the heap must match: a scan of every
 * timer for the earliest due one, ties broken by creation order.
 */
class ScanClock {
  private current = 0;
  now(): number {
    return this.current;
  }
  private timers = new Map<number, { id: number; at: number; fn: () => void; every?: number }>();
  private nextId = 1;
  setTimeout(fn: () => void, ms: number) {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), fn });
    return { cancel: () => this.timers.delete(id) };
  }
  setInterval(fn: () => void, ms: number) {
    const id = this.nextId++;
    const every = Math.max(1, ms);
    this.timers.set(id, { id, at: this.current + every, fn, every });
    return { cancel: () => this.timers.delete(id) };
  }
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let best: { id: number; at: number; fn: () => void; every?: number } | undefined;
      for (const t of this.timers.values()) {
        if (t.at > end) continue;
        if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
      }
      if (!best) break;
      this.current = Math.max(this.current, best.at);
      if (best.every !== undefined) best.at += best.every;
      else this.timers.delete(best.id);
      best.fn();
    }
    this.current = end;
  }
  pending(): number {
    return this.timers.size;
  }
}

type Op =
  | { kind: 'timeout' | 'interval'; ms: number; cancelOnFire?: number }
  | { kind: 'cancel'; which: number }
  | { kind: 'advance'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('timeout' as const),
    ms: fc.integer({ min: 0, max: 50 }),
    cancelOnFire: fc.option(fc.nat(30), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('interval' as const),
    ms: fc.integer({ min: 0, max: 30 }),
    cancelOnFire: fc.option(fc.nat(30), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('cancel' as const), which: fc.nat(30) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }),
);

describe('VirtualClock against the scan it replaced', () => {
  it('fires the same timers at the same times in the same order, cancels included', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const run = async (clock: {
          now(): number;
          setTimeout(fn: () => void, ms: number): { cancel(): void };
          setInterval(fn: () => void, ms: number): { cancel(): void };
          advance(ms: number): unknown;
          pending(): number;
        }) => {
          const log: string[] = [];
          const handles: { cancel(): void }[] = [];
          for (const [i, o] of ops.entries()) {
            if (o.kind === 'timeout' || o.kind === 'interval') {
              const fire = () => {
                log.push(`${i}@${clock.now()}`);
                // A callback may cancel another timer (or itself) while the clock fires.
                if (o.cancelOnFire !== undefined) handles[o.cancelOnFire % handles.length]?.cancel();
              };
              handles.push(o.kind === 'timeout' ? clock.setTimeout(fire, o.ms) : clock.setInterval(fire, o.ms));
            } else if (o.kind === 'cancel') handles[o.which % Math.max(1, handles.length)]?.cancel();
            else await clock.advance(o.ms);
            log.push(`pending ${clock.pending()}`);
          }
          for (const h of handles) h.cancel();
          return log;
        };
        const expected = await run(new ScanClock());
        expect(await run(new VirtualClock(0))).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});

describe('TimerHeap', () => {
  it('pops in (due time, creation) order whatever the push order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (ats) => {
        const heap = new TimerHeap();
        const timers = ats.map((at, id) => ({ id, at, fn: () => undefined }));
        for (const t of [...timers].reverse()) heap.push(t);
        const popped: number[] = [];
        for (let t = heap.pop(); t; t = heap.pop()) popped.push(t.id);
        const sorted = [...timers].sort((a, b) => a.at - b.at || a.id - b.id).map((t) => t.id);
        expect(popped).toEqual(sorted);
      }),
    );
  });
});

describe('every(): one tick per interval', () => {
  it('runs every callback of one interval on one timer, in registration order', async () => {
    const clock = new VirtualClock(0);
    const fired: string[] = [];
    const handles = Array.from({ length: 1000 }, (_, i) => clock.every(1000, () => fired.push(`a${i}`)));
    const other = clock.every(250, () => fired.push('b'));
    expect(clock.pending()).toBe(2);
    await clock.advance(1000);
    expect(fired.filter((f) => f === 'b')).toHaveLength(4);
    expect(fired.filter((f) => f.startsWith('a'))).toEqual(handles.map((_, i) => `a${i}`));
    for (const h of handles) h.cancel();
    expect(clock.pending()).toBe(1);
    other.cancel();
    expect(clock.pending()).toBe(0);
    fired.length = 0;
    await clock.advance(5000);
    expect(fired).toEqual([]);
  });

  it('a callback cancelled by an earlier one of the same tick does not run; one added waits for the next tick', async () => {
    const clock = new VirtualClock(0);
    const fired: string[] = [];
    let late: { cancel(): void } | undefined;
    const first = clock.every(100, () => {
      fired.push(`first@${clock.now()}`);
      second.cancel();
      late ??= clock.every(100, () => fired.push(`late@${clock.now()}`));
    });
    const second = clock.every(100, () => fired.push('second'));
    await clock.advance(200);
    expect(fired).toEqual(['first@100', 'first@200', 'late@200']);
    first.cancel();
    late?.cancel();
  });

  it('a callback that throws does not stop the others of its tick', async () => {
    const clock = new VirtualClock(0);
    const fired: string[] = [];
    const a = clock.every(10, () => {
      throw new Error('broken component');
    });
    const b = clock.every(10, () => fired.push('b'));
    await expect(clock.advance(10)).rejects.toThrow('broken component');
    expect(fired).toEqual(['b']);
    a.cancel();
    b.cancel();
  });

  it('on the real clock: one Node interval timer for many callbacks of one interval', async () => {
    const real = new RealClock();
    let armed = 0;
    const ticks = new TickBuckets((fn, ms) => {
      armed++;
      const handle = real.setInterval(fn, ms);
      return {
        cancel: () => {
          armed--;
          handle.cancel();
        },
      };
    });
    const calls = new Array<number>(100).fill(0);
    const handles = calls.map((_, i) =>
      ticks.every(20, () => {
        calls[i] = (calls[i] as number) + 1;
      }),
    );
    expect(armed).toBe(1);
    const deadline = Date.now() + 5000;
    while (calls.some((c) => c < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(calls.every((c) => c >= 2)).toBe(true);
    for (const h of handles) h.cancel();
    expect(armed).toBe(0);
    expect(ticks.timers()).toBe(0);
  });

  it('RealClock.every calls back until cancelled', async () => {
    const clock = new RealClock();
    let calls = 0;
    const handle = clock.every(10, () => calls++);
    const deadline = Date.now() + 5000;
    while (calls < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    handle.cancel();
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});
