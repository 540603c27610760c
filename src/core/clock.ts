/**
 * Every timer in waymond goes through a Clock, so the simulator and the tests can run
 * hours of behaviour in milliseconds, deterministically, on a VirtualClock.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
  /**
   * Calls `fn` every `intervalMs` on a tick shared by every callback of the same interval
   * (one timer per distinct interval, however many components ask), in registration order.
   * The first call comes on the bucket's next tick, so at most `intervalMs` from now. A
   * callback that throws does not keep the others of its tick from running.
   */
  every(intervalMs: number, fn: () => void): TimerHandle;
  /** Resolves after `ms`; rejects with the signal's reason when aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Callbacks grouped by interval, each group on one interval timer of the clock underneath:
 * 10,000 scalers on a 1 s resync are one timer, not 10,000.
 */
export class TickBuckets {
  private readonly buckets = new Map<number, { timer: TimerHandle; entries: Set<{ fn: () => void }> }>();

  constructor(private readonly setInterval: (fn: () => void, ms: number) => TimerHandle) {}

  every(intervalMs: number, fn: () => void): TimerHandle {
    const ms = Math.max(1, intervalMs);
    let bucket = this.buckets.get(ms);
    if (!bucket) {
      const entries = new Set<{ fn: () => void }>();
      bucket = { entries, timer: this.setInterval(() => runTick(entries), ms) };
      this.buckets.set(ms, bucket);
    }
    const entry = { fn };
    const { entries } = bucket;
    entries.add(entry);
    return {
      cancel: () => {
        if (!entries.delete(entry) || entries.size > 0) return;
        const current = this.buckets.get(ms);
        if (current?.entries === entries) {
          current.timer.cancel();
          this.buckets.delete(ms);
        }
      },
    };
  }

  /** Distinct intervals with a timer running (one per interval in use). */
  timers(): number {
    return this.buckets.size;
  }
}

/** Runs one tick: each callback still registered, in order; the first error is rethrown after all ran. */
function runTick(entries: Set<{ fn: () => void }>): void {
  let failure: { error: unknown } | undefined;
  // A snapshot, so a callback registered during the tick waits for the next one.
  for (const entry of [...entries]) {
    if (!entries.has(entry)) continue; // cancelled by an earlier callback of this tick
    try {
      entry.fn();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class RealClock implements Clock {
  private readonly ticks = new TickBuckets((fn, ms) => this.setInterval(fn, ms));
  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    // A yearly cron is further away than one Node timer can wait: wait in hops.
    let timer: NodeJS.Timeout;
    const deadline = Date.now() + Math.max(0, ms);
    const arm = () => {
      const left = deadline - Date.now();
      timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
    };
    arm();
    return { cancel: () => clearTimeout(timer) };
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const t = setInterval(fn, Math.max(1, ms));
    return { cancel: () => clearInterval(t) };
  }
  every(intervalMs: number, fn: () => void): TimerHandle {
    return this.ticks.every(intervalMs, fn);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }
}

interface VirtualTimer {
  id: number;
  at: number;
  fn: () => void;
  every?: number;
  cancelled?: boolean;
}

/** Earlier first; the same due time fires in the order the timers were made. */
function firesBefore(a: VirtualTimer, b: VirtualTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}

/**
 * A binary min-heap of timers by (due time, id): the next timer in O(log n) instead of a
 * scan of every timer for each one fired (the simulator runs thousands).
 */
export class TimerHeap {
  private items: VirtualTimer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): VirtualTimer | undefined {
    return this.items[0];
  }

  push(timer: VirtualTimer): void {
    const items = this.items;
    items.push(timer);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!firesBefore(items[i] as VirtualTimer, items[parent] as VirtualTimer)) break;
      [items[i], items[parent]] = [items[parent] as VirtualTimer, items[i] as VirtualTimer];
      i = parent;
    }
  }

  pop(): VirtualTimer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && firesBefore(items[left] as VirtualTimer, items[smallest] as VirtualTimer))
        smallest = left;
      if (right < items.length && firesBefore(items[right] as VirtualTimer, items[smallest] as VirtualTimer))
        smallest = right;
      if (smallest === i) break;
      [items[i], items[smallest]] = [items[smallest] as VirtualTimer, items[i] as VirtualTimer];
      i = smallest;
    }
    return top;
  }

  /** Drops cancelled timers and rebuilds the heap (when they outnumber the live ones). */
  compact(): void {
    const live = this.items.filter((t) => !t.cancelled);
    this.items = [];
    for (const t of live) this.push(t);
  }
}

/**
 * A clock that only moves when told to. `advance(ms)` fires every timer due within the
 * window in time order, letting promise callbacks settle between timers so async code
 * driven by the timers behaves as it would in real time.
 */
export class VirtualClock implements Clock {
  private current: number;
  private readonly heap = new TimerHeap();
  private live = 0;
  private nextId = 1;
  private readonly ticks = new TickBuckets((fn, ms) => this.setInterval(fn, ms));

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add({ id: this.nextId++, at: this.current + Math.max(0, ms), fn });
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const every = Math.max(1, ms);
    return this.add({ id: this.nextId++, at: this.current + every, fn, every });
  }

  every(intervalMs: number, fn: () => void): TimerHandle {
    return this.ticks.every(intervalMs, fn);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** Number of timers waiting to fire. */
  pending(): number {
    return this.live;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    await settle();
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      if (next.every !== undefined) {
        next.at += next.every;
        this.heap.push(next);
      } else {
        next.cancelled = true;
        this.live--;
      }
      next.fn();
      await settle();
    }
    this.current = end;
    await settle();
  }

  /** Sets the time without firing anything (for starting a simulation at a trace's origin). */
  set(ms: number): void {
    this.current = ms;
  }

  private add(timer: VirtualTimer): TimerHandle {
    this.heap.push(timer);
    this.live++;
    return {
      cancel: () => {
        if (timer.cancelled) return;
        timer.cancelled = true;
        this.live--;
        // Cancelled timers leave the heap when they reach its top, or all at once here
        // when they are most of it (sleeps aborted long before they were due).
        if (this.heap.size > 64 && this.live < this.heap.size / 2) this.heap.compact();
      },
    };
  }

  /** Takes the next live timer due by `end` off the heap (an interval is pushed back by the caller). */
  private nextDue(end: number): VirtualTimer | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top || (!top.cancelled && top.at > end)) return undefined;
      this.heap.pop();
      if (!top.cancelled) return top;
    }
  }
}

/** Lets pending promise callbacks run (several microtask and one macrotask turn). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      handle.cancel();
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
