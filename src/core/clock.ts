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
  /** Resolves after `ms`; rejects with the signal's reason when aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class RealClock implements Clock {
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
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }
}

interface VirtualTimer {
  id: number;
  at: number;
  fn: () => void;
  every?: number;
}

/**
 * A clock that only moves when told to. `advance(ms)` fires every timer due within the
 * window in time order, letting promise callbacks settle between timers so async code
 * driven by the timers behaves as it would in real time.
 */
export class VirtualClock implements Clock {
  private current: number;
  private timers = new Map<number, VirtualTimer>();
  private nextId = 1;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const every = Math.max(1, ms);
    this.timers.set(id, { id, at: this.current + every, fn, every });
    return { cancel: () => this.timers.delete(id) };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** Number of timers waiting to fire. */
  pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    await settle();
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      if (next.every !== undefined) next.at += next.every;
      else this.timers.delete(next.id);
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

  private nextDue(end: number): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.timers.values()) {
      if (t.at > end) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    }
    return best;
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
