import { describe, expect, it } from 'vitest';
import { RealClock, VirtualClock } from '../../src/core/clock.js';

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
