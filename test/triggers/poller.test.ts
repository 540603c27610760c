import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { Trigger } from '../../src/core/types.js';
import { createPoller, type PollControl } from '../../src/triggers/poller.js';
import { type TestContext, testContext } from '../helpers/context.js';

const started: { trigger: Trigger; t: TestContext }[] = [];

afterEach(async () => {
  for (const { trigger, t } of started.splice(0)) {
    await trigger.stop();
    t.close();
  }
});

/** A poller on `clock` whose poll answers `value` (or runs `poll`), counting its polls. */
function poller(
  clock: VirtualClock,
  id: string,
  interval: number,
  poll: (control: PollControl) => Promise<{ value: number }> = async () => ({ value: 1 }),
) {
  const t = testContext('trigger', id, { clock });
  let polls = 0;
  const trigger = createPoller(
    t.ctx,
    { interval, timeout: 5_000 },
    {
      poll: (control) => {
        polls++;
        return poll(control);
      },
    },
  );
  started.push({ trigger, t });
  return { trigger, t, polls: () => polls };
}

describe('createPoller', () => {
  it('triggers of one interval share one timer; the last to stop cancels it', async () => {
    const clock = new VirtualClock();
    const a = poller(clock, 'a', 10_000);
    const b = poller(clock, 'b', 10_000);
    const c = poller(clock, 'c', 10_000);
    const slow = poller(clock, 'slow', 30_000);
    for (const p of [a, b, c, slow]) await p.trigger.start();
    await clock.advance(0); // the first polls settle, and their timeouts are cancelled
    expect(clock.pending()).toBe(2);
    await clock.advance(30_000);
    // Once at start, then on each tick of its interval.
    expect([a.polls(), b.polls(), c.polls(), slow.polls()]).toEqual([4, 4, 4, 2]);
    await a.trigger.stop();
    await b.trigger.stop();
    expect(clock.pending()).toBe(2);
    await clock.advance(10_000);
    expect([a.polls(), b.polls(), c.polls()]).toEqual([4, 4, 5]);
    await c.trigger.stop();
    expect(clock.pending()).toBe(1);
    await slow.trigger.stop();
    expect(clock.pending()).toBe(0);
  });

  it('a trigger started late joins the running tick: polled at start, then with the others', async () => {
    const clock = new VirtualClock();
    const first = poller(clock, 'first', 10_000);
    await first.trigger.start();
    await clock.advance(4_000);
    const late = poller(clock, 'late', 10_000);
    await late.trigger.start();
    expect(late.polls()).toBe(1);
    await clock.advance(6_000);
    expect([first.polls(), late.polls()]).toEqual([2, 2]);
    await clock.advance(0);
    expect(clock.pending()).toBe(1);
  });

  it('adds no listener to the shutdown signal per poll, and stop ends a poll in flight without an error event', async () => {
    const clock = new VirtualClock();
    let seen: AbortSignal | undefined;
    const hang = poller(clock, 'hang', 10_000, (control) => {
      seen = control.signal;
      return new Promise(() => undefined); // a source that never answers
    });
    const before = getEventListeners(hang.t.ctx.signal, 'abort').length;
    await hang.trigger.start();
    expect(hang.polls()).toBe(1);
    expect(getEventListeners(hang.t.ctx.signal, 'abort').length).toBe(before);
    await hang.trigger.stop();
    expect(seen?.aborted).toBe(true);
    expect(String(seen?.reason)).toContain('the trigger is stopping');
    expect(hang.t.events.filter((e) => e.topic.endsWith('.error'))).toEqual([]);
    expect(clock.pending()).toBe(0);
  });

  it('a poll that outlives its timeout is an error event, and the next tick polls again', async () => {
    const clock = new VirtualClock();
    const hang = poller(clock, 'slowsource', 10_000, () => new Promise(() => undefined));
    await hang.trigger.start();
    await clock.advance(5_000);
    const errors = hang.t.events.filter((e) => e.topic === 'trigger.slowsource.error');
    expect(errors.map((e) => String(e.data.error))).toEqual(['poll failed: poll timed out after 5000 ms']);
    await clock.advance(5_000);
    expect(hang.polls()).toBe(2);
  });

  it('a hook that throws before it awaits anything is an error event, and does not block the next poll', async () => {
    const clock = new VirtualClock();
    let calls = 0;
    const flaky = poller(clock, 'flaky', 10_000, (() => {
      calls++;
      if (calls === 1) throw new Error('bad config');
      return Promise.resolve({ value: 3 });
    }) as (control: PollControl) => Promise<{ value: number }>);
    await flaky.trigger.start();
    await clock.advance(10_000);
    expect(flaky.t.events.map((e) => e.topic)).toEqual(['trigger.flaky.error', 'trigger.flaky.output']);
  });
});
