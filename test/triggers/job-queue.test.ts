import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { ComponentState } from '../../src/core/types.js';
import { retryAfterMs } from '../../src/triggers/ci/api-client.js';
import { DeliveryLog, JobBook } from '../../src/triggers/ci/job-queue.js';

function memoryState(): ComponentState & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return {
    data,
    get: <T>(key: string) => data.get(key) as T | undefined,
    set: (key, value) => void data.set(key, JSON.parse(JSON.stringify(value))),
  };
}

describe('JobBook', () => {
  it('forgets an unfinished job not heard of for forget_after, so a missed "completed" cannot pin the count', async () => {
    const clock = new VirtualClock();
    const book = new JobBook(memoryState(), clock, 60_000);
    book.apply('1', 'queued', ['linux']);
    await clock.advance(59_000);
    expect(book.counts().queued).toBe(1);
    await clock.advance(2_000);
    expect(book.counts().queued).toBe(0);
  });

  it('keeps a completed tombstone so a poll that raced with the delivery cannot revive the job', () => {
    const book = new JobBook(memoryState(), new VirtualClock(), 60_000);
    book.apply('1', 'in_progress', []);
    book.apply('1', 'completed', []);
    book.replaceUnfinished(new Map([['1', { status: 'in_progress', labels: [] }]]));
    expect(book.counts()).toEqual({ queued: 0, waiting: 0, in_progress: 0 });
  });

  it('reloads its jobs from the state it was saved in', () => {
    const state = memoryState();
    const clock = new VirtualClock();
    new JobBook(state, clock, 60_000).apply('9', 'queued', []);
    expect(new JobBook(state, clock, 60_000).counts().queued).toBe(1);
  });
});

describe('DeliveryLog', () => {
  it('remembers only the last `capacity` ids', () => {
    const log = new DeliveryLog(2);
    for (const id of ['a', 'b', 'c']) log.add(id);
    expect([log.has('a'), log.has('b'), log.has('c')]).toEqual([false, true, true]);
  });
});

describe('retryAfterMs', () => {
  it.each([
    ['120', 120_000],
    ['0', 0],
    ['Thu, 01 Jan 2026 00:01:00 GMT', 60_000],
    ['soon', undefined],
    [null, undefined],
  ])('%s → %s', (value, ms) => {
    expect(retryAfterMs(value, Date.UTC(2026, 0, 1))).toBe(ms);
  });
});
