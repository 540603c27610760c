/**
 * The `jobs` strategy: a job queue (CI jobs, worker jobs) sized to meet a queue-wait target
 * at the least agent time, rather than one agent per queued job.
 *
 * Per reading it knows the jobs waiting (W) and running (R), the members there are (current,
 * starting ones included: capacity already bought), the start-up time S of a new member,
 * the wait target T (p95), and two estimates kept in state from the readings: the arrival
 * rate λ and the job duration D.
 *
 *   desired = R                              every running job keeps its member
 *           + ceil(W × f)                    waiting work, sized by what a new member can do
 *           + ceil(q95(λB) × min(1, D / B))  spare for the arrivals of B = max(0, S − T), the
 *                                            time a new member cannot cover
 *   f = min(1, D / S)                        a job shorter than a start-up needs only D / S of
 *                                            one new member over that start-up (its busy
 *                                            agent-seconds), not a whole one
 *   hold = S / 2 × max(0, 1 − T / S)         the scale-down window: none when a job may wait
 *                                            a start-up, up to half a start-up for T → 0
 *
 * The spare covers the arrivals of the "blind" part of a start-up: a job arriving now that
 * finds no free member waits about S for a new one; when S ≤ T that wait is within the
 * target and no spare is kept. q95 is the larger of the Poisson 95th percentile of the
 * arrivals expected in that time and the one the observed burstiness gives (mean + 1.645
 * standard deviations of the rises per reading): real queues arrive in bursts. The
 * burstiness above the Poisson quantile is capped by the recent peak of jobs in the system
 * (a maximum decaying over about ten minutes) less what is already asked for.
 *
 * Estimates: λ from the rises in jobs in the system (waiting + running) between readings,
 * and D = mean running / λ (Little's law) over the intervals when nothing waited (while jobs
 * queue, running is capped by the members, not set by the load), both as exponentially
 * weighted averages over about ten minutes. Counts alone under-count jobs that arrive and
 * finish between two readings, so D errs long (f toward 1, more members): the safe side.
 * Until four queue-free intervals are seen, D is unknown and f is 1. `job_duration` sets D
 * when it is known.
 */
import { formatDuration } from '../core/duration.js';
import { formatNumber as fmt, type StrategyResult } from './strategies.js';

export interface JobsEstimate {
  /** Jobs in the system (waiting + running) at the last reading. */
  lastTotal: number;
  /** Jobs waiting at the last reading. */
  lastWaiting: number;
  lastAt: number;
  /** Arrivals per millisecond, EWMA over every interval. */
  arrivalRate: number;
  /** Arrivals per reading interval: mean and mean square (EWMA), and the interval (ms): how bursty. */
  riseMean: number;
  riseSquare: number;
  interval: number;
  /** Over intervals with nothing waiting (where Little's law holds): arrivals per ms and running jobs, EWMA. */
  freeRate: number;
  freeBusy: number;
  /** Intervals with nothing waiting folded in. */
  freeIntervals: number;
  /** The most jobs in the system lately: a maximum that decays over about ten minutes. */
  peak?: number;
}

export interface JobsSettings {
  /** Milliseconds: the start-up in force (observed, else the setting). */
  startup: number;
  /** When `startup` is observed: from how many members, and the setting it replaced. */
  observed?: { samples: number; setting: number } | undefined;
  /** Milliseconds; the p95 queue wait to meet. */
  targetWait: number;
  /** Milliseconds; known job duration, else estimated. */
  jobDuration?: number | undefined;
}

/** How long the estimates remember: long enough to smooth bursts, short enough to follow a day. */
const TIME_CONSTANT_MS = 600_000;
/** Intervals without a queue before the duration estimate is trusted. */
const MIN_FREE_INTERVALS = 4;

/** Updates the estimates with one reading: `waiting` and `running` jobs at `now`. */
export function updateJobsEstimate(
  previous: JobsEstimate | null | undefined,
  waiting: number,
  running: number,
  now: number,
): JobsEstimate {
  const total = waiting + running;
  if (!previous || now <= previous.lastAt) {
    return {
      lastTotal: total,
      lastWaiting: waiting,
      lastAt: now,
      arrivalRate: previous?.arrivalRate ?? 0,
      riseMean: previous?.riseMean ?? 0,
      riseSquare: previous?.riseSquare ?? 0,
      interval: previous?.interval ?? 0,
      freeRate: previous?.freeRate ?? 0,
      freeBusy: previous?.freeBusy ?? 0,
      freeIntervals: previous?.freeIntervals ?? 0,
      peak: Math.max(total, previous?.peak ?? 0),
    };
  }
  const dt = now - previous.lastAt;
  const alpha = 1 - Math.exp(-dt / TIME_CONSTANT_MS);
  const rise = Math.max(0, total - previous.lastTotal);
  const rate = rise / dt;
  const seeded = previous.interval > 0;
  const next: JobsEstimate = {
    ...previous,
    lastTotal: total,
    lastWaiting: waiting,
    lastAt: now,
    arrivalRate: previous.arrivalRate + alpha * (rate - previous.arrivalRate),
    riseMean: seeded ? previous.riseMean + alpha * (rise - previous.riseMean) : rise,
    riseSquare: seeded ? previous.riseSquare + alpha * (rise * rise - previous.riseSquare) : rise * rise,
    interval: seeded ? previous.interval + alpha * (dt - previous.interval) : dt,
    peak: Math.max(total, (previous.peak ?? total) * (1 - alpha)),
  };
  // While jobs queue, running is capped by the members there are, not set by the load:
  // R / λ would read the shortage as short jobs. Only queue-free intervals estimate D.
  if (waiting === 0 && previous.lastWaiting === 0) {
    const first = previous.freeIntervals === 0;
    next.freeRate = first ? rate : previous.freeRate + alpha * (rate - previous.freeRate);
    next.freeBusy = first ? running : previous.freeBusy + alpha * (running - previous.freeBusy);
    next.freeIntervals = previous.freeIntervals + 1;
  }
  return next;
}

/**
 * The smallest k with P(Poisson(mean) ≤ k) ≥ p (p near 0.95). Summed exactly up to a mean
 * of 30; beyond, the Cornish-Fisher normal approximation, within one of it there (checked
 * for means 30-6,000 in steps of 0.1: 0.5 % are one off). Summing costs O(mean) per
 * evaluation, which the 50,000 evaluations/s floor does not allow for large queues.
 */
export function poissonQuantile(mean: number, p: number): number {
  if (!(mean > 0)) return 0;
  if (mean > 30) {
    const z = 1.6449;
    return Math.ceil(mean + z * Math.sqrt(mean) + (z * z - 1) / 6 - 0.5);
  }
  let k = 0;
  let term = Math.exp(-mean);
  let cumulative = term;
  while (cumulative < p) {
    k++;
    term *= mean / k;
    cumulative += term;
  }
  return k;
}

/**
 * The scale-down window of a jobs policy: half a start-up time scaled by how much of a
 * start-up the target cannot cover, so none when a job may wait a whole start-up (T ≥ S: a
 * new member started when the job arrives is in time) and up to S / 2 for a zero-wait
 * target. The spare already keeps members for the arrivals of the next start-up, so the
 * hold only bridges the gaps inside a burst. On the repository's traces a whole start-up
 * (ski rental's break-even) cost 3-26 % more agent time for the same p95 wait, and a
 * quarter of one (the previous rule) 2.5 % more on the CI traces at 90 s (bench/README.md).
 */
export function jobsHold(settings: JobsSettings): number {
  const { startup, targetWait } = settings;
  if (startup <= 0) return 0;
  const hold = (startup / 2) * Math.max(0, 1 - targetWait / startup);
  // Whole seconds: reasons print it, and "23s" reads better than "22500ms".
  return Math.round(hold / 1000) * 1000;
}

/** The job duration in ms: the configured one, else estimated, else undefined (not known yet). */
export function jobDuration(settings: JobsSettings, estimate: JobsEstimate): number | undefined {
  if (settings.jobDuration !== undefined) return settings.jobDuration;
  if (estimate.freeIntervals < MIN_FREE_INTERVALS || estimate.freeRate <= 0) return undefined;
  return Math.min(86_400_000, Math.max(1000, estimate.freeBusy / estimate.freeRate));
}

/**
 * The 95th percentile of arrivals in `window` ms from the observed rises per reading
 * interval (mean + 1.645 standard deviations, the windows' intervals taken as independent):
 * real queues arrive in bursts (a push starts a whole pipeline), which a Poisson count
 * with the same mean badly under-states.
 */
export function burstQuantile(estimate: JobsEstimate, window: number): number {
  if (window <= 0 || estimate.interval <= 0) return 0;
  const intervals = window / estimate.interval;
  const variance = Math.max(0, estimate.riseSquare - estimate.riseMean * estimate.riseMean);
  return intervals * estimate.riseMean + 1.6449 * Math.sqrt(variance * Math.max(1, intervals));
}

/**
 * Arrivals per ms: the rises between readings, or, when the duration is known, Little's
 * law over the queue-free intervals (running / D) if that says more: rises miss the jobs
 * that come and go between two readings, which for jobs shorter than the reading interval
 * is most of them.
 */
export function arrivalRate(settings: JobsSettings, estimate: JobsEstimate, duration: number | undefined): number {
  const little =
    settings.jobDuration !== undefined && duration !== undefined && estimate.freeIntervals >= MIN_FREE_INTERVALS
      ? estimate.freeBusy / duration
      : 0;
  return Math.max(estimate.arrivalRate, little);
}

/** What the arrival profile says for one look-ahead from now (src/policy/forecast.ts), or why it says nothing. */
export type JobsForecast =
  | {
      rate: number;
      /** Jobs in the system the profile expects then (mean waiting + running). */
      jobs: number;
      bucket: string;
      match: number;
      lookahead: number;
      /** The job duration the forecast sizes by: job_duration, else the profile's day-long Little's law. */
      duration: number | undefined;
    }
  | { none: string };

/**
 * See the top of this file. `running` undefined: the running share of `total` is taken as
 * min(total, current). With a forecast, the count is at least what the forecast rate will
 * keep busy one look-ahead from now (λf × D, Little's law) plus the spare for λf: members
 * started now are ready when that load arrives.
 */
export function jobsStrategy(
  label: string,
  total: number,
  running: number | undefined,
  current: number,
  settings: JobsSettings,
  estimate: JobsEstimate,
  forecast?: JobsForecast,
  upcoming?: { field: string; count: number },
): StrategyResult {
  const r = Math.min(total, running ?? Math.min(total, current));
  const w = Math.max(0, total - r);
  const duration = jobDuration(settings, estimate);
  const f = duration === undefined || settings.startup <= 0 ? 1 : Math.min(1, duration / settings.startup);
  const queueMembers = Math.ceil(w * f - 1e-9);
  const blind = Math.max(0, settings.startup - settings.targetWait);
  const expected = arrivalRate(settings, estimate, duration) * blind;
  // Arrivals in the blind time must find a member already there; a job shorter than that
  // time needs only D / blind of one (a member serves several in turn).
  const perArrival = duration === undefined || blind <= 0 ? 1 : Math.min(1, duration / blind);
  // The Poisson quantile is the floor: what independent arrivals need. Burstiness above it
  // is capped by what the system held lately (the recent peak of jobs in the system, less
  // what is asked for already): a burst larger than the recent peak is rare, and for jobs
  // shorter than the blind time a burst's arrivals do not each need a member. Without the
  // cap, bursts of hundreds of requests of seconds asked for 3 × the zero-wait bound.
  const poisson = Math.ceil(poissonQuantile(expected, 0.95) * perArrival - 1e-9);
  const bursty = Math.ceil(burstQuantile(estimate, blind) * perArrival - 1e-9);
  const recent = Math.max(0, Math.ceil((estimate.peak ?? 0) - 1e-9) - r - queueMembers);
  const spare = Math.max(poisson, Math.min(bursty, recent));
  let desired = r + queueMembers + spare;
  const parts = [`${label}: ${fmt(w)} waiting + ${fmt(r)} running`];
  if (settings.observed)
    parts.push(
      `start-up ${formatDuration(settings.startup)} observed over ${settings.observed.samples} member${settings.observed.samples === 1 ? '' : 's'} (setting ${formatDuration(settings.observed.setting)})`,
    );
  if (f < 1 && w > 0) {
    const seconds = formatDuration(Math.max(1, Math.round((duration ?? 0) / 1000)) * 1000);
    parts.push(`waiting sized by work × ${fmt(f)} (jobs of ~${seconds}, start-up ${formatDuration(settings.startup)})`);
  }
  if (blind > 0)
    parts.push(
      `spare ${spare} for ${fmt(expected)} arrivals expected in the ${formatDuration(blind)} a new member cannot cover`,
    );
  if (upcoming && blind > 0) {
    // Jobs of started builds behind a wait step: members started now are ready when the
    // build reaches them, sized like waiting jobs (a short job needs D / S of one).
    const add = Math.ceil(upcoming.count * f - 1e-9);
    parts.push(`${fmt(upcoming.count)} not runnable yet (${upcoming.field}) → +${add}`);
    desired += add;
  }
  if (forecast) {
    // With a target at or above a start-up, a job can wait for a member started when it
    // arrives: warming members ahead would only cost more.
    const warm = blind > 0 ? forecastMembers(forecast, blind, spare) : { none: 'target_wait ≥ startup, not needed' };
    if ('none' in warm) parts.push(`no forecast: ${warm.none}`);
    else {
      const perMinute = fmt(Math.round(warm.rate * 60_000 * 100) / 100);
      const matched =
        warm.match < 1 ? ` (× ${fmt(Math.round(warm.match * 100) / 100)}, as the last hour matched it)` : '';
      const says = `forecast ${warm.bucket} in ${formatDuration(warm.lookahead)}: ${fmt(Math.round(warm.jobs * 10) / 10)} jobs, ${perMinute} arriving/min${matched} → ${warm.busy} busy + ${warm.spare} spare = ${warm.members}`;
      parts.push(warm.members > desired ? `${says}, adds ${warm.members - desired}` : `${says}, adds nothing`);
      desired = Math.max(desired, warm.members);
    }
  }
  return { recommendation: desired, reason: `${parts.join(', ')}: ${desired}` };
}

/**
 * The members the forecast asks for: the jobs the profile expects in the system then (its
 * mean waiting + running, measured), plus the spare for its arrival rate's arrivals in the
 * blind time (at least the reactive spare).
 */
function forecastMembers(
  forecast: JobsForecast,
  blind: number,
  reactiveSpare: number,
): { none: string } | (Exclude<JobsForecast, { none: string }> & { busy: number; spare: number; members: number }) {
  if ('none' in forecast) return forecast;
  // A job shorter than the blind time needs only D / blind of a spare; not known: a whole one.
  const perArrival = forecast.duration === undefined ? 1 : Math.min(1, forecast.duration / blind);
  // A hundredth of a job expected (a profile the last hour did not match) asks for none.
  const busy = Math.ceil(forecast.jobs - 0.01);
  const spare = Math.max(reactiveSpare, Math.ceil(poissonQuantile(forecast.rate * blind, 0.95) * perArrival - 1e-9));
  return { ...forecast, busy, spare, members: busy + spare };
}
