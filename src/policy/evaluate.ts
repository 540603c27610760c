/**
 * Policy: the pure decision maths between a metric and a scaler. No clocks, no I/O: the
 * caller passes the config, the state returned last time, one reading and the time.
 *
 *   evaluatePolicy(config: PolicyConfig, state: PolicyState, input: PolicyInput, now: number)
 *     → { desired: number | null, reason: string, state: PolicyState }
 *
 * - `desired`: the count to ask the scaler for; `null` means hold: send nothing, the count
 *   stays as it is (no change, a failing source, a cooldown). Holding rather than re-sending
 *   the current count matters: a stale `current` must never cancel a scale-up in flight.
 * - `reason`: one sentence a person can check, e.g. "queue 42 / 3 per replica = 14, capped
 *   by max 10".
 * - `state`: plain JSON (persist it with the component's state to survive restarts); start
 *   from `initialPolicyState()`.
 * - `input.current` MUST count members that are still starting (not yet ready): strategies
 *   are relative to it, and a slow start must not look like missing capacity and be
 *   provisioned twice. Pass `{ metric }` for a reading, or `{ error }` when the source failed
 *   or the event lacked the field. A metric that is NaN, infinite or negative counts as an
 *   error. `include` carries the running-work field for `per_replica` with `include`.
 *
 * One evaluation, in order:
 *
 *   reading ─bad/failed─▶ on_error: hold until error_after failures, then hold or fallback
 *      │                  (never below current)
 *      ▼
 *   metric ≤ activation and min 0? ─yes─▶ recommend 0 (KEDA: inactive goes to zero)
 *      │ no
 *      ▼
 *   strategy (target_value, per_replica, steps, threshold, fixed, pass_through); from zero
 *   above activation at least 1
 *      ▼
 *   idle_after: below 1 only once idle that long (then straight to 0, as KEDA does,
 *   unless scale_down is disabled)
 *      ▼
 *   stabilization windows (a new policy's history starts with the current count, as the
 *   HPA's) ─▶ rate-limit policies ─▶ min/max (schedules override) ─▶ cooldowns
 *      ▼
 *   desired (null when equal to current)
 *
 * Other exports: `combineInputs` (combine.ts) merges several named sources into one metric;
 * `allocateTiers` and `trackOverflow` (cascade.ts) split a desired count over tiers;
 * `policySchemaShape` and `refinePolicy` (config.ts) are the config fields.
 */
import { formatDuration } from '../core/duration.js';
import type { Member } from '../core/types.js';
import {
  cooldownLeft,
  pruneEvents,
  ratePoliciesFor,
  rememberRecommendation,
  type ScaleEvent,
  scaleDownLimit,
  scaleUpLimit,
  stabilize,
  type TimedRecommendation,
} from './behaviour.js';
import type { PolicyConfig } from './config.js';
import {
  type ArrivalProfile,
  type ForecastSettings,
  forecastAt,
  learnArrivals,
  profileJobDuration,
} from './forecast.js';
import {
  type JobsEstimate,
  type JobsForecast,
  type JobsSettings,
  jobsHold,
  jobsStrategy,
  updateJobsEstimate,
} from './jobs.js';
import { type ActiveBounds, activeBounds } from './schedules.js';
import { observeStartups, type StartupEstimate } from './startup.js';
import {
  formatNumber as fmt,
  perReplica,
  type StrategyResult,
  steps,
  type ThresholdAction,
  targetValue,
  threshold,
} from './strategies.js';

export interface PolicyState {
  /** Raw recommendations inside the longest stabilization window. */
  recommendations: TimedRecommendation[];
  /** Changes this policy asked for inside the longest rate-limit period. */
  events: ScaleEvent[];
  lastScaleUpAt: number | null;
  lastScaleDownAt: number | null;
  /** Consecutive failed readings. */
  failures: number;
  /** Since when the metric has been at or below activation (zero); null when it is not. */
  idleSince: number | null;
  /** threshold strategy: consecutive readings within bounds. */
  withinBounds: number;
  /** jobs strategy: arrival rate and running-jobs estimates (absent in older states). */
  jobs?: JobsEstimate | null;
  /** jobs strategy with `forecast`: the learned arrival profile (absent until learned). */
  profile?: ArrivalProfile | null;
  /** jobs strategy: the observed start-up time of new members (absent until observed). */
  startup?: StartupEstimate | null;
}

export function initialPolicyState(): PolicyState {
  return {
    recommendations: [],
    events: [],
    lastScaleUpAt: null,
    lastScaleDownAt: null,
    failures: 0,
    idleSince: null,
    withinBounds: 0,
    jobs: null,
  };
}

export type PolicyInput = {
  /** Members that count now, starting ones included. */
  current: number;
  /** How reasons name the metric ("queue"); default "metric". */
  label?: string;
  /**
   * The target's members as last observed (with `startedAt` and `ready`): a jobs policy
   * measures their start-up from them (src/policy/startup.ts).
   */
  members?: readonly Member[] | undefined;
  /** `forecast.upcoming`: jobs of started builds not runnable yet (undefined: not in the event). */
  upcoming?: number | undefined;
} & ({ metric: number; include?: number | undefined } | { error: string });

export interface PolicyDecision {
  desired: number | null;
  reason: string;
  state: PolicyState;
}

const isCount = (n: number): boolean => Number.isInteger(n) && n >= 0;

function describeBad(name: string, value: number): string | undefined {
  if (Number.isNaN(value)) return `${name} is not a number`;
  if (!Number.isFinite(value)) return `${name} is ${value > 0 ? 'infinite' : 'negative infinity'}`;
  if (value < 0) return `${name} ${value} is negative`;
  return undefined;
}

/** Why the reading cannot be used, or undefined when it can. */
function readingProblem(config: PolicyConfig, input: PolicyInput, label: string): string | undefined {
  if ('error' in input) return `${label} failed: ${input.error}`;
  const bad = describeBad(label, input.metric);
  if (bad) return bad;
  if ((config.strategy === 'per_replica' || config.strategy === 'jobs') && config.include !== undefined) {
    if (input.include === undefined) return `running work "${config.include}" is missing`;
    return describeBad(`running work "${config.include}"`, input.include);
  }
  return undefined;
}

function runStrategy(
  config: PolicyConfig,
  label: string,
  metric: number,
  include: number | undefined,
  current: number,
  withinBounds: number,
  estimate: JobsEstimate | null,
  forecast: JobsForecast | undefined,
  state: PolicyState,
  upcoming: { field: string; count: number } | undefined,
): StrategyResult & { withinBounds: number } {
  switch (config.strategy) {
    case 'jobs': {
      const reading = jobsReading(config, metric, include, current);
      return {
        ...jobsStrategy(
          label,
          reading.waiting + reading.running,
          reading.running,
          current,
          jobsSettings(config, state),
          estimate ?? updateJobsEstimate(null, reading.waiting, reading.running, 0),
          forecast,
          upcoming,
        ),
        withinBounds,
      };
    }
    case 'target_value':
      return { ...targetValue(label, metric, current, config.target ?? 1, config.tolerance ?? 0.1), withinBounds };
    case 'per_replica':
      return {
        ...perReplica(
          label,
          metric,
          config.per_replica ?? 1,
          config.include === undefined ? undefined : include,
          current,
          config.tolerance ?? 0.1,
        ),
        withinBounds,
      };
    case 'steps':
      return {
        ...steps(label, metric, current, config.threshold ?? 0, config.steps ?? [], config.min_adjustment ?? 0),
        withinBounds,
      };
    case 'threshold': {
      const action: ThresholdAction =
        config.delta !== undefined
          ? { delta: config.delta }
          : config.percentage !== undefined
            ? { percentage: config.percentage }
            : { value: config.value ?? current };
      const result = threshold(
        label,
        metric,
        current,
        { lower: config.lower_bound, upper: config.upper_bound },
        config.within_bounds_trigger ?? 5,
        action,
        withinBounds,
      );
      return { recommendation: result.recommendation, reason: result.reason, withinBounds: result.withinCount };
    }
    case 'fixed':
      return {
        recommendation: config.value ?? current,
        reason: `fixed count ${config.value ?? current}`,
        withinBounds,
      };
    case 'pass_through': {
      const desired = Math.ceil(metric);
      const rounded = desired === metric ? '' : ` (rounded up to ${desired})`;
      return { recommendation: desired, reason: `${label} ${fmt(metric)} passed through${rounded}`, withinBounds };
    }
  }
}

/**
 * A jobs policy's reading: with `include`, the metric is the jobs waiting and `include` the
 * running ones; without, the metric is every job in the system and what runs is at most
 * what is there (the members, starting ones included: an upper bound).
 */
function jobsReading(
  config: PolicyConfig,
  metric: number,
  include: number | undefined,
  current: number,
): { waiting: number; running: number } {
  if (config.include !== undefined) return { waiting: metric, running: include ?? 0 };
  const running = Math.min(metric, current);
  return { waiting: metric - running, running };
}

/** The jobs settings in force: the observed start-up once there is a sample, else the setting. */
function jobsSettings(config: PolicyConfig, state: PolicyState): JobsSettings {
  const setting = config.startup ?? 0;
  const observed = state.startup && state.startup.samples > 0 ? state.startup : undefined;
  return {
    // Whole seconds: the estimate moves by the reading interval anyway, and reasons print it.
    startup: observed ? Math.round(observed.estimate / 1000) * 1000 : setting,
    observed: observed ? { samples: observed.samples, setting } : undefined,
    targetWait: config.target_wait ?? 0,
    jobDuration: config.job_duration,
  };
}

function forecastSettings(forecast: NonNullable<PolicyConfig['forecast']>): ForecastSettings {
  return { bucketMs: forecast.bucket, minHistoryMs: forecast.min_history };
}

/**
 * Learns the reading interval since the last one into the arrival profile, and reads the
 * forecast one look-ahead from now. The arrivals are the rise in jobs in the system, as
 * the rate estimate counts them.
 */
function forecastStep(
  config: PolicyConfig,
  state: PolicyState,
  previous: JobsEstimate | null | undefined,
  profile: ArrivalProfile | null | undefined,
  total: number,
  running: number,
  now: number,
): { profile: ArrivalProfile; forecast: JobsForecast } | undefined {
  const block = config.forecast;
  if (config.strategy !== 'jobs' || !block) return undefined;
  const settings = forecastSettings(block);
  const learned =
    previous && now > previous.lastAt
      ? learnArrivals(
          profile,
          settings,
          { arrivals: Math.max(0, total - previous.lastTotal), jobs: total, running },
          previous.lastAt,
          now,
        )
      : learnArrivals(profile, settings, { arrivals: 0, jobs: total, running }, now, now);
  const lookahead = block.lookahead === 'startup' ? jobsSettings(config, state).startup : block.lookahead;
  const at = forecastAt(learned, settings, now + lookahead);
  const duration = config.job_duration ?? profileJobDuration(learned);
  return { profile: learned, forecast: 'none' in at ? at : { ...at, lookahead, duration } };
}

/** The jobs not runnable yet that `forecast.upcoming` names, when the event carries a usable count. */
function upcomingOf(config: PolicyConfig, input: PolicyInput): { field: string; count: number } | undefined {
  const field = config.forecast?.upcoming;
  const count = input.upcoming;
  if (field === undefined || count === undefined || !Number.isFinite(count) || count <= 0) return undefined;
  return { field, count };
}

/** The scale-down window in force: a jobs policy chooses its own (the hold). */
function downWindowOf(config: PolicyConfig, state: PolicyState): number {
  return config.strategy === 'jobs' ? jobsHold(jobsSettings(config, state)) : config.scale_down.stabilization_window;
}

function boundsFor(config: PolicyConfig, now: number): ActiveBounds {
  return activeBounds({ min: config.min, max: config.max ?? Number.POSITIVE_INFINITY }, config.schedules ?? [], now);
}

const by = (bounds: ActiveBounds): string => (bounds.windows.length > 0 ? ` of ${bounds.windows.join(' and ')}` : '');

function clampToBounds(value: number, bounds: ActiveBounds, notes: string[]): number {
  if (value > bounds.max) {
    notes.push(`capped by max ${bounds.max}${by(bounds)}`);
    return bounds.max;
  }
  if (value < bounds.min) {
    notes.push(`raised to min ${bounds.min}${by(bounds)}`);
    return bounds.min;
  }
  return value;
}

/** Records a decided change so rate limits and cooldowns see it. */
function recordChange(
  config: PolicyConfig,
  state: PolicyState,
  current: number,
  desired: number,
  now: number,
): PolicyState {
  const longest = Math.max(
    ...ratePoliciesFor(config.scale_up, 'up').map((p) => p.period),
    ...ratePoliciesFor(config.scale_down, 'down').map((p) => p.period),
  );
  return {
    ...state,
    events: [...pruneEvents(state.events, longest, now), { time: now, change: desired - current }],
    lastScaleUpAt: desired > current ? now : state.lastScaleUpAt,
    lastScaleDownAt: desired < current ? now : state.lastScaleDownAt,
  };
}

function onFailure(
  config: PolicyConfig,
  state: PolicyState,
  current: number,
  why: string,
  now: number,
): PolicyDecision {
  const failures = state.failures + 1;
  const next: PolicyState = { ...state, failures, withinBounds: 0 };
  if (failures < config.error_after) {
    return {
      desired: null,
      reason: `${why} (${failures} of ${config.error_after} failures before on_error applies), holds at ${current}`,
      state: next,
    };
  }
  const mode = config.on_error ?? (config.fallback !== undefined ? 'fallback' : 'hold');
  if (mode === 'hold' || config.fallback === undefined) {
    return { desired: null, reason: `${why}, holds at ${current}`, state: next };
  }
  const notes: string[] = [];
  const fallback = clampToBounds(config.fallback, boundsFor(config, now), notes);
  const clamped = notes.length > 0 ? ` (${notes.join(', ')})` : '';
  if (fallback > current) {
    return {
      desired: fallback,
      reason: `${why}, fallback ${fallback}${clamped}`,
      state: recordChange(config, next, current, fallback, now),
    };
  }
  if (fallback === current)
    return { desired: null, reason: `${why}, fallback ${fallback}${clamped} = current`, state: next };
  // Never scale down because a source is failing: the failure says nothing about the load.
  const reason =
    config.fallback_mode === 'current_if_higher'
      ? `${why}, keeps current ${current} (higher than fallback ${fallback}${clamped})`
      : `${why}, holds at ${current}: fallback ${fallback}${clamped} is lower and a failing source never scales down`;
  return { desired: null, reason, state: next };
}

/** See the top of this file. */
export function evaluatePolicy(
  config: PolicyConfig,
  state: PolicyState,
  input: PolicyInput,
  now: number,
): PolicyDecision {
  const label = input.label ?? 'metric';
  const current = input.current;
  if (!isCount(current)) {
    return { desired: null, reason: `current count ${current} is not a whole number ≥ 0, holds`, state };
  }
  const problem = readingProblem(config, input, label);
  if (problem !== undefined || 'error' in input) return onFailure(config, state, current, problem ?? label, now);

  const metric = input.metric;
  const activation = config.activation ?? 0;
  const idle = metric <= activation;
  const idleSince = idle ? (state.idleSince ?? now) : null;
  let next: PolicyState = { ...state, failures: 0, idleSince };
  let estimate: JobsEstimate | null = null;
  let forecast: JobsForecast | undefined;
  if (config.strategy === 'jobs') {
    const reading = jobsReading(config, metric, input.include, current);
    estimate = updateJobsEstimate(state.jobs, reading.waiting, reading.running, now);
    const startup = observeStartups(state.startup, config.startup ?? 0, input.members, now);
    next = { ...next, jobs: estimate, startup };
    const step = forecastStep(
      config,
      next,
      state.jobs,
      state.profile,
      reading.waiting + reading.running,
      reading.running,
      now,
    );
    if (step) {
      forecast = step.forecast;
      next = { ...next, profile: step.profile };
    }
  }
  const bounds = boundsFor(config, now);
  const down = config.scale_down;

  let recommendation: number;
  let reason: string;
  let bypass = false;
  if (config.activation !== undefined && metric <= config.activation && bounds.min === 0) {
    // KEDA: a trigger at or below its activation threshold is inactive, and an inactive
    // target goes to zero (once its cooldown has passed), whatever the scaling maths says.
    recommendation = 0;
    reason =
      current === 0
        ? `${label} ${fmt(metric)} ≤ activation ${fmt(config.activation)}, stays at zero`
        : `${label} ${fmt(metric)} ≤ activation ${fmt(config.activation)}: inactive, to zero`;
  } else {
    const result = runStrategy(
      config,
      label,
      metric,
      input.include,
      current,
      state.withinBounds,
      estimate,
      forecast,
      next,
      upcomingOf(config, input),
    );
    next = { ...next, withinBounds: result.withinBounds };
    recommendation = result.recommendation ?? current;
    reason = result.reason;
    if (current === 0 && config.activation !== undefined && recommendation < 1) {
      recommendation = 1;
      reason += `, above activation ${fmt(config.activation)}: starts 1`;
    }
  }

  if (config.idle_after !== undefined && current > 0 && recommendation < 1) {
    const idleFor = idleSince === null ? 0 : now - idleSince;
    if (idle && idleFor >= config.idle_after) {
      // As KEDA: once idle long enough, go to zero at once rather than through the windows,
      // unless scale-down is disabled, which nothing bypasses (KEDA's paused-scale-in).
      bypass = down.select !== 'disabled';
      reason += `, idle for ${formatDuration(idleFor)} ≥ idle_after ${formatDuration(config.idle_after)}: to zero`;
    } else {
      recommendation = 1;
      reason += idle
        ? `, idle for ${formatDuration(idleFor)} of idle_after ${formatDuration(config.idle_after)}: keeps 1`
        : ', keeps 1 until idle';
    }
  }

  // As the HPA: a policy with no history yet takes the current count as its first
  // recommendation, so it scales down only after one full window (a restart or a new
  // policy must not read as "the load just vanished").
  const history = state.recommendations.length === 0 ? [{ time: now, value: current }] : state.recommendations;

  const notes: string[] = [];
  const up = config.scale_up;
  const downWindow = downWindowOf(config, next);
  const stabilized = stabilize(current, recommendation, history, up.stabilization_window, downWindow, now);
  next = {
    ...next,
    recommendations: rememberRecommendation(
      history,
      recommendation,
      Math.max(up.stabilization_window, downWindow),
      now,
    ),
  };
  let value = bypass ? recommendation : stabilized.value;
  if (value !== recommendation) {
    notes.push(
      recommendation > value
        ? `held to ${value}, the lowest recommendation in the last ${formatDuration(up.stabilization_window)}`
        : `held at ${value}, the highest recommendation in the last ${formatDuration(downWindow)}`,
    );
  }

  // As the HPA: a rate limit is only the reason when it binds before min/max do.
  if (!bypass && value > current) {
    // A jobs policy counts jobs, each of which needs its member now: no default rate limit
    // (the HPA's guards against a noisy utilisation metric). Configured policies still apply.
    const unlimited = config.strategy === 'jobs' && up.policies === undefined && up.select !== 'disabled';
    const limit = unlimited ? Number.POSITIVE_INFINITY : scaleUpLimit(current, next.events, up, now);
    if (value > limit && limit < bounds.max) {
      notes.push(up.select === 'disabled' ? 'scale_up is disabled' : `limited to ${limit} by scale_up policies`);
      value = limit;
    }
  } else if (!bypass && value < current) {
    const limit = scaleDownLimit(current, next.events, down, now);
    if (value < limit && limit > bounds.min) {
      notes.push(down.select === 'disabled' ? 'scale_down is disabled' : `limited to ${limit} by scale_down policies`);
      value = limit;
    }
  }

  value = clampToBounds(value, bounds, notes);

  // Cooldowns block a direction, except to bring the count back inside min/max.
  if (value > current) {
    const left = cooldownLeft(state.lastScaleUpAt, up.cooldown, now);
    const allowed = Math.max(current, bounds.min);
    if (left > 0 && value > allowed) {
      value = allowed;
      const only = allowed > current ? `, up to min ${allowed} only` : '';
      notes.push(`scale-up cooldown ${formatDuration(up.cooldown)} has ${formatDuration(left)} left${only}`);
    }
  } else if (value < current) {
    const left = cooldownLeft(state.lastScaleDownAt, down.cooldown, now);
    const allowed = Math.min(current, bounds.max);
    if (left > 0 && value < allowed) {
      value = allowed;
      const only = allowed < current ? `, down to max ${allowed} only` : '';
      notes.push(`scale-down cooldown ${formatDuration(down.cooldown)} has ${formatDuration(left)} left${only}`);
    }
  }

  const sentence = [reason, ...notes].join(', ');
  if (value === current) return { desired: null, reason: `${sentence}, keeps ${current}`, state: next };
  return {
    desired: value,
    reason: sentence,
    state: recordChange(config, next, current, value, now),
  };
}
