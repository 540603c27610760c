/**
 * A learned arrival profile, for starting members before the load that needs them arrives.
 *
 * Job queues are periodic: the same pushes every working morning, the same nightly builds.
 * The profile learns, from the readings the policy already sees, the arrival rate per
 * time-of-week bucket (day of week × time of day, `bucket` wide, UTC) and per time-of-day
 * bucket (the same time on any day), and the mean number of jobs in the system (waiting +
 * running) in each: that number is what members will be busy with, measured, so it needs no
 * job duration and is not fooled by arrivals that the counts do not show. The forecast for a moment is the rate of its
 * time-of-week bucket once that bucket has been seen, else of its time-of-day bucket: after
 * one day, Tuesday is forecast from Monday; after a week, each day from its own last weeks.
 *
 *   learn:    each reading interval (dt, arrivals = the rise in jobs in the system, jobs in
 *             the system) is summed into the bucket of its midpoint; when the next bucket
 *             starts, that visit is folded into the time-of-week and time-of-day buckets,
 *             whose earlier visits (a day or a week before) are first decayed × 0.7, so
 *             recent days and weeks weigh most (about the last three visits)
 *   forecast: nothing before `min_history` of readings has been learned (AWS predictive
 *             scaling likewise needs 24 h of data); then the rate at now + lookahead,
 *             times how well the profile matched the last hour: min(1, arrivals seen /
 *             arrivals the profile expected), both decayed over an hour. A Saturday
 *             forecast from weekdays, or a holiday, stops warming members within the hour;
 *             a load above the forecast is the reactive part's to follow.
 *
 * Arrivals are counted from the rises between readings, so jobs that come and go between two
 * readings are not seen: for jobs much shorter than the reading interval the profile errs low.
 * Gaps longer than a bucket (the daemon stopped) are not learned from.
 *
 * Plain JSON, kept in the policy's state (the component state in the Store): it survives a
 * restart, and a policy whose config changes keeps what it learned.
 */

export interface ProfileBucket {
  /** Arrivals learned (decayed per visit). */
  arrivals: number;
  /** Job-milliseconds in the system (waiting + running) learned (decayed alike). */
  jobsMs: number;
  /** Milliseconds of readings learned (decayed alike). */
  ms: number;
  /** When this bucket was last learned into (epoch ms). */
  at: number;
}

export interface ArrivalProfile {
  /** Milliseconds of readings learned in all. */
  learnedMs: number;
  /** Bucket width the profile was learned with; a profile of another width starts again. */
  bucketMs: number;
  /** By time-of-week bucket index (as a string: JSON keys). */
  week: Record<string, ProfileBucket>;
  /** By time-of-day bucket index. */
  day: Record<string, ProfileBucket>;
  /** Arrivals seen and arrivals the profile expected, decayed over an hour: how well it matches now. */
  recentSeen: number;
  recentExpected: number;
  /** Job-milliseconds run and arrivals, decayed over a day: the job duration by Little's law. */
  busyMs: number;
  arrivals: number;
  /** The bucket being learned now, folded into `week` and `day` when the next one starts. */
  open?: OpenBucket;
}

export interface OpenBucket {
  week: number;
  day: number;
  arrivals: number;
  jobsMs: number;
  ms: number;
  /** Epoch ms of the last reading learned into it. */
  at: number;
}

export interface ForecastSettings {
  bucketMs: number;
  minHistoryMs: number;
}

export interface Forecast {
  /** Arrivals per ms expected at the moment asked about. */
  rate: number;
  /** Jobs in the system (waiting + running) expected then, on average. */
  jobs: number;
  /** Which profile said it: "Thu 09:00-09:15" (time of week) or "09:00-09:15 on any day". */
  bucket: string;
  /** The profile's rate times this is `rate`: how well it matched the last hour (≤ 1). */
  match: number;
}

const WEEK_MS = 7 * 86_400_000;
const DAY_MS = 86_400_000;
/** What a bucket keeps of its sums when it is visited again: recent days and weeks weigh most. */
const DECAY_PER_VISIT = 0.7;
/** A bucket counts once this share of its width has been learned into it. */
const SEEN_SHARE = 0.5;
/** How long the match between profile and readings remembers. */
const MATCH_TIME_CONSTANT_MS = 3_600_000;
/** Expected arrivals below this say too little to judge the match by. */
const MATCH_MIN_EXPECTED = 2;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export function emptyProfile(bucketMs: number): ArrivalProfile {
  return { learnedMs: 0, bucketMs, week: {}, day: {}, recentSeen: 0, recentExpected: 0, busyMs: 0, arrivals: 0 };
}

/** One visit of a bucket folded in: earlier visits (a day or a week ago) decayed first. */
function learnInto(
  buckets: Record<string, ProfileBucket>,
  key: number,
  arrivals: number,
  jobsMs: number,
  ms: number,
  now: number,
  bucketMs: number,
): Record<string, ProfileBucket> {
  const old = buckets[key];
  const keep = old && now - old.at > bucketMs ? DECAY_PER_VISIT : 1;
  return {
    ...buckets,
    [key]: {
      arrivals: (old?.arrivals ?? 0) * keep + arrivals,
      jobsMs: (old?.jobsMs ?? 0) * keep + jobsMs,
      ms: (old?.ms ?? 0) * keep + ms,
      at: now,
    },
  };
}

/**
 * The profile with one reading interval learned: `arrivals` jobs arrived between `from` and
 * `to`, `jobs` were in the system (waiting + running) and `running` of them ran through it.
 */
export function learnArrivals(
  profile: ArrivalProfile | null | undefined,
  settings: ForecastSettings,
  reading: { arrivals: number; jobs: number; running: number },
  from: number,
  to: number,
): ArrivalProfile {
  const { arrivals, jobs, running } = reading;
  const base = profile && profile.bucketMs === settings.bucketMs ? profile : emptyProfile(settings.bucketMs);
  const dt = to - from;
  if (!(dt > 0) || dt > settings.bucketMs || !(arrivals >= 0) || !(jobs >= 0)) return base;
  const middle = from + dt / 2;
  const bucketMs = settings.bucketMs;
  // Before learning this interval: what the profile expected of it, against what came.
  const before = rawRateAt(base, bucketMs, middle);
  const keep = Math.exp(-dt / MATCH_TIME_CONSTANT_MS);
  const keepDay = Math.exp(-dt / DAY_MS);
  // The bucket being learned is summed apart and folded into the maps when the next one
  // starts: one visit, one fold (and copying the maps once a bucket, not once a reading,
  // keeps an evaluation cheap).
  const week = weekBucket(middle, bucketMs);
  const open = base.open;
  const same = open !== undefined && open.week === week;
  let folded: Pick<ArrivalProfile, 'week' | 'day'> = base;
  if (open && !same) {
    folded = {
      week: learnInto(base.week, open.week, open.arrivals, open.jobsMs, open.ms, open.at, bucketMs),
      day: learnInto(base.day, open.day, open.arrivals, open.jobsMs, open.ms, open.at, bucketMs),
    };
  }
  const next: OpenBucket = same
    ? { ...open, arrivals: open.arrivals + arrivals, jobsMs: open.jobsMs + jobs * dt, ms: open.ms + dt, at: to }
    : { week, day: dayBucket(middle, bucketMs), arrivals, jobsMs: jobs * dt, ms: dt, at: to };
  return {
    busyMs: (base.busyMs ?? 0) * keepDay + Math.max(0, running) * dt,
    arrivals: (base.arrivals ?? 0) * keepDay + arrivals,
    learnedMs: base.learnedMs + dt,
    bucketMs,
    recentSeen: (base.recentSeen ?? 0) * keep + arrivals,
    recentExpected: (base.recentExpected ?? 0) * keep + (before?.rate ?? 0) * dt,
    week: folded.week,
    day: folded.day,
    open: next,
  };
}

/** Time-of-week bucket: 0 is Thursday 00:00 UTC for the epoch, so it is offset to start on Sunday. */
export function weekBucket(t: number, bucketMs: number): number {
  // 1970-01-01 was a Thursday: shift by 4 days so index 0 is Sunday 00:00 UTC.
  const ofWeek = (((t + 4 * DAY_MS) % WEEK_MS) + WEEK_MS) % WEEK_MS;
  return Math.floor(ofWeek / bucketMs);
}

export function dayBucket(t: number, bucketMs: number): number {
  return Math.floor((((t % DAY_MS) + DAY_MS) % DAY_MS) / bucketMs);
}

function clock(msOfDay: number): string {
  const minutes = Math.round(msOfDay / 60_000);
  return `${String(Math.floor(minutes / 60) % 24).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** "Thu 09:00-09:15" for a time-of-week bucket, "09:00-09:15" for a time-of-day one. */
export function bucketLabel(index: number, bucketMs: number, ofWeek: boolean): string {
  const start = index * bucketMs;
  const day = ofWeek ? `${DAYS[Math.floor(start / DAY_MS) % 7]} ` : '';
  const ofDay = start % DAY_MS;
  return `${day}${clock(ofDay)}-${clock(ofDay + bucketMs)}`;
}

const seen = (b: ProfileBucket | undefined, bucketMs: number): b is ProfileBucket =>
  b !== undefined && b.ms >= bucketMs * SEEN_SHARE;

/**
 * The forecast rate at `t`, or why there is none: too little history, or a moment of the
 * week and day never seen.
 */
export function forecastAt(
  profile: ArrivalProfile | null | undefined,
  settings: ForecastSettings,
  t: number,
): Forecast | { none: string } {
  const learned = profile && profile.bucketMs === settings.bucketMs ? profile.learnedMs : 0;
  if (!profile || learned < settings.minHistoryMs)
    return { none: `${formatHours(learned)} of ${formatHours(settings.minHistoryMs)} history learned` };
  const raw = rawRateAt(profile, settings.bucketMs, t);
  if (!raw) return { none: `${bucketLabel(weekBucket(t, settings.bucketMs), settings.bucketMs, true)} not seen yet` };
  const expected = profile.recentExpected ?? 0;
  const match = expected < MATCH_MIN_EXPECTED ? 1 : Math.min(1, (profile.recentSeen ?? 0) / expected);
  return { rate: raw.rate * match, jobs: raw.jobs * match, bucket: raw.bucket, match };
}

/** The profile's own rate at `t`: its time-of-week bucket once seen, else its time-of-day bucket. */
function rawRateAt(
  profile: ArrivalProfile,
  bucketMs: number,
  t: number,
): { rate: number; jobs: number; bucket: string } | undefined {
  const of = (b: ProfileBucket) => ({ rate: b.arrivals / b.ms, jobs: (b.jobsMs ?? 0) / b.ms });
  const w = weekBucket(t, bucketMs);
  const ofWeek = profile.week[w];
  if (seen(ofWeek, bucketMs)) return { ...of(ofWeek), bucket: bucketLabel(w, bucketMs, true) };
  const d = dayBucket(t, bucketMs);
  const ofDay = profile.day[d];
  if (seen(ofDay, bucketMs)) return { ...of(ofDay), bucket: `${bucketLabel(d, bucketMs, false)} on any day` };
  return undefined;
}

/**
 * The mean job duration over about the last day, by Little's law over all readings: every
 * job's run time is counted once, whether or not jobs queued (unlike a short-term ratio of
 * running to arrivals, which a burst or a quiet night throws far off). Arrivals are rises
 * between readings, so for jobs shorter than the reading interval it errs long.
 */
export function profileJobDuration(profile: ArrivalProfile | null | undefined): number | undefined {
  if (!profile || !(profile.arrivals >= 1)) return undefined;
  return profile.busyMs / profile.arrivals;
}

/** "3.2h", "24h": history is counted in hours. */
function formatHours(ms: number): string {
  // Rounded down: "1.9h of 2h" must not read as enough.
  const hours = ms / 3_600_000;
  if (hours >= 10 || Number.isInteger(hours)) return `${Math.floor(hours)}h`;
  return `${(Math.floor(hours * 10) / 10).toFixed(1)}h`;
}
