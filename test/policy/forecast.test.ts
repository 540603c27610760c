import { describe, expect, it } from 'vitest';
import { type PolicyConfigInput, parsePolicyConfig, policyConfigProblems } from '../../src/policy/config.js';
import { evaluatePolicy, initialPolicyState, type PolicyState } from '../../src/policy/evaluate.js';
import {
  type ArrivalProfile,
  bucketLabel,
  forecastAt,
  learnArrivals,
  profileJobDuration,
  weekBucket,
} from '../../src/policy/forecast.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 2026-01-05 00:00 UTC. */
const MONDAY = Date.UTC(2026, 0, 5);
const settings = { bucketMs: 15 * MIN, minHistoryMs: DAY };

/** A day of 15 s readings: `perMinute(hourOfDay)` arrivals a minute, `running` jobs running throughout. */
function learnDay(profile: ArrivalProfile | null, dayStart: number, perMinute: (hour: number) => number, running = 0) {
  let p = profile;
  for (let t = dayStart; t < dayStart + DAY; t += 15_000) {
    const arrivals = perMinute((t - dayStart) / HOUR) / 4;
    p = learnArrivals(p, settings, { arrivals, jobs: running, running }, t, t + 15_000);
  }
  return p as ArrivalProfile;
}

/** Busy from 09:00 to 10:00 at 8 jobs a minute, quiet otherwise. */
const morning = (hour: number) => (hour >= 9 && hour < 10 ? 8 : 0);

describe('arrival profile', () => {
  it('forecasts nothing before min_history, and says how much is learned', () => {
    let p: ArrivalProfile | null = null;
    for (let t = MONDAY; t < MONDAY + 3 * HOUR; t += 15_000)
      p = learnArrivals(p, settings, { arrivals: 1, jobs: 0, running: 0 }, t, t + 15_000);
    expect(forecastAt(p, settings, MONDAY + 3 * HOUR)).toEqual({ none: '3h of 24h history learned' });
  });

  it('after one day, the next day is forecast from the same time of day; after a week, from its own day', () => {
    const monday = learnDay(null, MONDAY, morning);
    const tuesdayNine = forecastAt(monday, settings, MONDAY + DAY + 9 * HOUR + 5 * MIN);
    expect(tuesdayNine).toMatchObject({ bucket: '09:00-09:15 on any day', match: 1 });
    expect(('rate' in tuesdayNine ? tuesdayNine.rate : 0) * MIN).toBeCloseTo(8, 6);
    const tuesdayNoon = forecastAt(monday, settings, MONDAY + DAY + 12 * HOUR);
    expect('rate' in tuesdayNoon ? tuesdayNoon.rate : -1).toBe(0);

    // A week of weekdays like Monday, then a quiet weekend: the next Monday has its own bucket.
    let week = monday;
    for (let d = 1; d < 7; d++) week = learnDay(week, MONDAY + d * DAY, d < 5 ? morning : () => 0);
    const nextMonday = forecastAt(week, settings, MONDAY + 7 * DAY + 9 * HOUR);
    expect(nextMonday).toMatchObject({ bucket: 'Mon 09:00-09:15' });
    expect(('rate' in nextMonday ? nextMonday.rate : 0) * MIN).toBeCloseTo(8, 6);
  });

  it('a day that does not come as forecast (a quiet Saturday) scales the forecast down within the hour', () => {
    const friday = learnDay(null, MONDAY + 4 * DAY, morning);
    // Saturday, nothing arrives from 09:00 on: after half an hour the profile expected ~240 and saw 0.
    let p = friday;
    const saturday = MONDAY + 5 * DAY;
    for (let t = saturday; t < saturday + 9.5 * HOUR; t += 15_000)
      p = learnArrivals(p, settings, { arrivals: 0, jobs: 0, running: 0 }, t, t + 15_000);
    const at = forecastAt(p, settings, saturday + 9.5 * HOUR + 90_000);
    expect(at).toMatchObject({ bucket: '09:30-09:45 on any day' });
    expect('match' in at ? at.match : 1).toBeLessThan(1e-6);
    expect('rate' in at ? at.rate * MIN : 1).toBeLessThan(1e-6);
  });

  it('the job duration by Little’s law over the day: running job-time over arrivals', () => {
    // 2 arrivals a minute all day with 10 running: D = 10 / 2 per minute = 5 minutes.
    const p = learnDay(null, MONDAY, () => 2, 10);
    expect((profileJobDuration(p) ?? 0) / MIN).toBeCloseTo(5, 3);
  });

  it('buckets: index 0 is Sunday 00:00 UTC; labels name the day and the time', () => {
    expect(weekBucket(Date.UTC(2026, 0, 4), 15 * MIN)).toBe(0); // a Sunday
    expect(bucketLabel(weekBucket(MONDAY + 9 * HOUR, 15 * MIN), 15 * MIN, true)).toBe('Mon 09:00-09:15');
    expect(bucketLabel(95, 15 * MIN, false)).toBe('23:45-00:00');
  });

  it('a gap longer than a bucket (the daemon was stopped) is not learned from', () => {
    const p = learnArrivals(null, settings, { arrivals: 100, jobs: 5, running: 5 }, MONDAY, MONDAY + HOUR);
    expect(p.learnedMs).toBe(0);
    expect(p.week).toEqual({});
  });
});

describe('strategy = "jobs" with forecast', () => {
  const config = (extra: Partial<PolicyConfigInput> = {}) =>
    parsePolicyConfig({
      strategy: 'jobs',
      include: 'running',
      target_wait: '30s',
      startup: '90s',
      job_duration: '4m',
      forecast: { min_history: '24h' },
      ...extra,
    });

  /** Monday learned through evaluatePolicy itself (the queue's jobs run at once), then Tuesday up to `until`. */
  function run(c: ReturnType<typeof config>, until: number) {
    let state: PolicyState = initialPolicyState();
    let current = 0;
    let last: ReturnType<typeof evaluatePolicy> | undefined;
    for (let t = MONDAY; t <= until; t += 15_000) {
      const hour = ((t - MONDAY) % DAY) / HOUR;
      // 8 jobs a minute from 09:00 to 10:00 on Monday only, each 4 minutes: ~32 running.
      const monday = t < MONDAY + DAY;
      const running = monday && hour >= 9 && hour < 10.07 ? Math.min(32, Math.round((hour - 9) * 60 * 8)) : 0;
      last = evaluatePolicy(c, state, { current, metric: 0, include: running, label: 'ci' }, t);
      state = last.state;
      if (last.desired !== null) current = last.desired;
    }
    return { last: last as ReturnType<typeof evaluatePolicy>, current, state };
  }

  it('before min_history it says so; from then on it warms members one start-up before the learned load', () => {
    const early = run(config(), MONDAY + 10 * HOUR);
    expect(early.last.reason).toContain('no forecast: 10h of 24h history learned');
    // Tuesday 08:59: nothing waits or runs, but the 09:00 bucket learned Monday is 90 s away.
    const ahead = run(config(), MONDAY + DAY + 9 * HOUR - 90_000);
    expect(ahead.current).toBeGreaterThan(20);
    expect(ahead.last.reason).toMatch(
      /ci: 0 waiting \+ 0 running, .*forecast 09:00-09:15 on any day in 90s: [\d.]+ jobs, [\d.]+ arriving\/min → \d+ busy \+ \d+ spare = \d+, adds \d+/,
    );
    // Without the forecast the same readings keep nothing.
    const blind = run(config({ forecast: undefined }), MONDAY + DAY + 9 * HOUR - 90_000);
    expect(blind.current).toBe(0);
    // The profile is plain JSON in the state (the connector persists it with the component's state).
    expect(JSON.parse(JSON.stringify(ahead.state.profile))).toEqual(ahead.state.profile);
  }, 20_000);

  it('a target at or above the start-up needs no warm members: the forecast says so and adds nothing', () => {
    const r = run(config({ target_wait: '2m' }), MONDAY + DAY + 9 * HOUR - 90_000);
    expect(r.current).toBe(0);
    expect(r.last.reason).toContain('no forecast: target_wait ≥ startup, not needed');
  }, 20_000);

  it('config: forecast belongs to strategy jobs; a bucket must divide a day', () => {
    const wrong = parsePolicyConfig({ strategy: 'per_replica', per_replica: 1 });
    expect(policyConfigProblems({ ...wrong, forecast: config().forecast })).toEqual([
      { path: ['forecast'], message: '`forecast` applies to strategy jobs, not per_replica' },
    ]);
    expect(() => config({ forecast: { bucket: '7m' } })).toThrow(/a bucket from 1m to 1h that divides a day/);
    expect(config().forecast).toEqual({ mode: 'arrivals', min_history: DAY, lookahead: 'startup', bucket: 15 * MIN });
    expect(config({ forecast: { lookahead: '5m' } }).forecast?.lookahead).toBe(5 * MIN);
  });

  it('upcoming: jobs of started builds not runnable yet get members now when the target is tighter than a start-up', () => {
    const c = config({ forecast: { upcoming: 'waiting_jobs_count' } });
    const d = evaluatePolicy(
      c,
      initialPolicyState(),
      { current: 2, metric: 0, include: 2, upcoming: 3, label: 'ci' },
      MONDAY,
    );
    expect(d.desired).toBe(5);
    expect(d.reason).toContain('3 not runnable yet (waiting_jobs_count) → +3');
    // A target a new member can meet: they can wait for members started when they become runnable.
    const loose = config({ target_wait: '2m', forecast: { upcoming: 'waiting_jobs_count' } });
    const held = evaluatePolicy(
      loose,
      initialPolicyState(),
      { current: 2, metric: 0, include: 2, upcoming: 3, label: 'ci' },
      MONDAY,
    );
    expect(held.desired).toBeNull();
  });
});
