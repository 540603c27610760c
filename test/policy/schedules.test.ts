import { describe, expect, it } from 'vitest';
import { activeBounds, type ScheduleWindow, windowOpenedAt } from '../../src/policy/schedules.js';

// Monday 5 January 2026; Berlin is UTC+1 in winter.
const monday = (h: number, m = 0) => Date.UTC(2026, 0, 5, h, m);
const workday: ScheduleWindow = {
  name: 'workday',
  cron: '0 8 * * 1-5',
  duration: 10 * 3_600_000,
  min: 5,
  max: 20,
  timezone: 'Europe/Berlin',
};
const base = { min: 1, max: 10 };

describe('schedule windows', () => {
  it.each([
    ['before 8:00 Berlin (6:59 UTC) the window is closed', monday(6, 59), null],
    ['at 8:00 Berlin (7:00 UTC) it opens', monday(7), monday(7)],
    ['at noon it is open', monday(11), monday(7)],
    ['at 18:00 Berlin (17:00 UTC) it has closed', monday(17), null],
    ['on Saturday it stays closed', Date.UTC(2026, 0, 10, 10), null],
  ])('%s', (_name, now, opened) => {
    expect(windowOpenedAt(workday, now)).toBe(opened);
  });

  it('an open window replaces min and max', () => {
    expect(activeBounds(base, [workday], monday(9))).toEqual({
      min: 5,
      max: 20,
      windows: ['schedule "workday" (10h until 2026-01-05T17:00:00Z)'],
    });
  });

  it('a closed window leaves the base bounds', () => {
    expect(activeBounds(base, [workday], monday(20))).toEqual({ ...base, windows: [] });
  });

  it('a window with only min keeps the base max, lifted to that min when lower', () => {
    const night: ScheduleWindow = { cron: '0 0 * * *', duration: 3_600_000, min: 15 };
    expect(activeBounds(base, [night], Date.UTC(2026, 0, 5, 0, 30))).toMatchObject({ min: 15, max: 15 });
  });

  it('overlapping windows combine to the larger bounds', () => {
    const peak: ScheduleWindow = { cron: '0 11 * * *', duration: 3_600_000, min: 8, max: 12 };
    expect(activeBounds(base, [workday, peak], monday(11, 30))).toMatchObject({ min: 8, max: 20 });
  });

  it('time zones default to UTC', () => {
    const utc: ScheduleWindow = { cron: '0 8 * * *', duration: 3_600_000, min: 3 };
    expect(windowOpenedAt(utc, monday(8, 30))).toBe(monday(8));
  });
});
