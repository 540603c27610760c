/**
 * The HPA's scaling behaviour, as pure functions over explicit history:
 *
 * 1. Stabilization: every raw recommendation is remembered with its time. Scaling up goes
 *    only as high as the lowest recommendation inside the up window; scaling down only as
 *    low as the highest inside the down window (default 300s), so a brief dip does not
 *    remove members that a moment later are needed again.
 * 2. Rate limits: each policy allows `value` members (or percent) of change per `period`,
 *    counted from the count at the start of the period, i.e. current minus what was added
 *    plus what was removed inside the period. `select` picks the policy that allows the most
 *    change (`max`), the least (`min`), or forbids the direction (`disabled`).
 * 3. Cooldown (not in the HPA; AWS and Nomad have it): after a change in one direction,
 *    no further change in that direction until the cooldown has passed.
 */

export type Direction = 'up' | 'down';

export interface RatePolicy {
  type: 'count' | 'percent';
  value: number;
  /** Milliseconds. */
  period: number;
}

export interface ScalingRules {
  /** Milliseconds. */
  stabilization_window: number;
  /** Absent: the HPA defaults for the direction. */
  policies?: RatePolicy[] | undefined;
  select: 'max' | 'min' | 'disabled';
  /** Milliseconds. */
  cooldown: number;
}

export interface TimedRecommendation {
  time: number;
  value: number;
}

/** One change the policy decided: positive up, negative down. */
export interface ScaleEvent {
  time: number;
  change: number;
}

/** The HPA defaults: up by max(100%, 4 members) per 15s; down by 100% per 15s. */
export function defaultRatePolicies(direction: Direction): RatePolicy[] {
  return direction === 'up'
    ? [
        { type: 'percent', value: 100, period: 15_000 },
        { type: 'count', value: 4, period: 15_000 },
      ]
    : [{ type: 'percent', value: 100, period: 15_000 }];
}

export interface Stabilized {
  value: number;
  /** Lowest recommendation inside the up window (scale up no further than this). */
  upBound: number;
  /** Highest recommendation inside the down window (scale down no further than this). */
  downBound: number;
}

/**
 * Bounds `recommendation` by the history, as the HPA does: a record counts when it is
 * strictly newer than `now - window`, so a 0s window sees only the new recommendation.
 */
export function stabilize(
  current: number,
  recommendation: number,
  history: readonly TimedRecommendation[],
  upWindow: number,
  downWindow: number,
  now: number,
): Stabilized {
  let upBound = recommendation;
  let downBound = recommendation;
  for (const record of history) {
    if (record.time > now - upWindow) upBound = Math.min(upBound, record.value);
    if (record.time > now - downWindow) downBound = Math.max(downBound, record.value);
  }
  let value = current;
  if (value < upBound) value = upBound;
  if (value > downBound) value = downBound;
  return { value, upBound, downBound };
}

/** Keeps the records either window can still see, plus the new one. */
export function rememberRecommendation(
  history: readonly TimedRecommendation[],
  recommendation: number,
  longestWindow: number,
  now: number,
): TimedRecommendation[] {
  return [...history.filter((r) => r.time > now - longestWindow), { time: now, value: recommendation }];
}

/** Members added (direction up) or removed (down) by events strictly newer than `now - period`. */
export function changedInPeriod(
  events: readonly ScaleEvent[],
  direction: Direction,
  period: number,
  now: number,
): number {
  let total = 0;
  for (const event of events) {
    if (event.time <= now - period) continue;
    if (direction === 'up' && event.change > 0) total += event.change;
    if (direction === 'down' && event.change < 0) total -= event.change;
  }
  return total;
}

export function ratePoliciesFor(rules: ScalingRules, direction: Direction): RatePolicy[] {
  return rules.policies ?? defaultRatePolicies(direction);
}

/**
 * The highest count scaling up may reach now. Percent proposals round up, as in the HPA,
 * or a small count would never grow. Never below `current`: a spent budget means "wait".
 */
export function scaleUpLimit(current: number, events: readonly ScaleEvent[], rules: ScalingRules, now: number): number {
  if (rules.select === 'disabled') return current;
  const proposals = ratePoliciesFor(rules, 'up').map((policy) => {
    const start = periodStart(current, events, policy.period, now);
    return policy.type === 'count' ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
  });
  const limit = rules.select === 'min' ? Math.min(...proposals) : Math.max(...proposals);
  return Math.max(limit, current);
}

/**
 * The lowest count scaling down may reach now. Percent proposals round toward zero (the
 * HPA truncates), so a percentage never removes the last member by rounding alone.
 */
export function scaleDownLimit(
  current: number,
  events: readonly ScaleEvent[],
  rules: ScalingRules,
  now: number,
): number {
  if (rules.select === 'disabled') return current;
  const proposals = ratePoliciesFor(rules, 'down').map((policy) => {
    const start = periodStart(current, events, policy.period, now);
    return policy.type === 'count' ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
  });
  // For scaling down, the policy allowing most change proposes the lowest count.
  const limit = rules.select === 'min' ? Math.max(...proposals) : Math.min(...proposals);
  return Math.max(0, Math.min(limit, current));
}

function periodStart(current: number, events: readonly ScaleEvent[], period: number, now: number): number {
  return current - changedInPeriod(events, 'up', period, now) + changedInPeriod(events, 'down', period, now);
}

/** Keeps the events the longest rate-limit period can still see. */
export function pruneEvents(events: readonly ScaleEvent[], longestPeriod: number, now: number): ScaleEvent[] {
  return events.filter((e) => e.time > now - longestPeriod);
}

/** Milliseconds of cooldown left in `direction`, 0 when none. */
export function cooldownLeft(lastChangeAt: number | null, cooldown: number, now: number): number {
  if (lastChangeAt === null || cooldown <= 0) return 0;
  return Math.max(0, lastChangeAt + cooldown - now);
}
