/**
 * Strategies turn one metric reading and the target's current count into a recommended
 * count and a sentence saying how. They know nothing of min/max, windows or cooldowns:
 * behaviour.ts applies those afterwards, for every strategy alike.
 *
 * A strategy returns `recommendation: null` when it sees no reason to change (inside the
 * tolerance, in no step band, not yet enough points within bounds); the caller then treats
 * the current count as the recommendation, as the HPA does.
 */

/** How a step or a threshold action changes the count. */
export type Change =
  | { kind: 'count'; value: number }
  | { kind: 'percent'; value: number }
  | { kind: 'exact'; value: number };

const CHANGE_PATTERN = /^([+-]?)(\d+(?:\.\d+)?)(%?)$|^=(\d+)$/;

/**
 * Parses `+2`, `-1`, `+25%`, `-10%` or `=5` (exact capacity). A bare number (TOML `change = 2`)
 * is a count. Returns undefined when the text is none of these.
 */
export function parseChange(input: string | number): Change | undefined {
  if (typeof input === 'number') return Number.isInteger(input) ? { kind: 'count', value: input } : undefined;
  const m = CHANGE_PATTERN.exec(input.trim());
  if (!m) return undefined;
  if (m[4] !== undefined) return { kind: 'exact', value: Number(m[4]) };
  const magnitude = Number(m[2]);
  const value = m[1] === '-' ? -magnitude : magnitude;
  if (m[3] === '%') return { kind: 'percent', value };
  return Number.isInteger(value) ? { kind: 'count', value } : undefined;
}

export function formatChange(change: Change): string {
  const sign = change.value < 0 ? '-' : '+';
  const magnitude = Math.abs(change.value);
  if (change.kind === 'exact') return `=${change.value}`;
  return change.kind === 'percent' ? `${sign}${magnitude}%` : `${sign}${magnitude}`;
}

/**
 * AWS's rounding of a PercentChangeInCapacity adjustment: toward zero, except that any
 * non-zero change smaller than one member becomes one member (else a small group would
 * never move).
 */
export function roundAwsPercent(adjustment: number): number {
  if (adjustment > 0 && adjustment < 1) return 1;
  if (adjustment < 0 && adjustment > -1) return -1;
  return Math.trunc(adjustment);
}

/**
 * Applies an AWS step adjustment to `current`. `minAdjustment` (MinAdjustmentMagnitude)
 * only applies to percentages, as in AWS.
 */
export function applyAwsChange(current: number, change: Change, minAdjustment = 0): number {
  if (change.kind === 'exact') return change.value;
  if (change.kind === 'count') return current + change.value;
  let adjustment = roundAwsPercent((current * change.value) / 100);
  if (adjustment !== 0 && Math.abs(adjustment) < minAdjustment) adjustment = Math.sign(adjustment) * minAdjustment;
  return current + adjustment;
}

export interface StrategyResult {
  /** null: no reason to change; the current count stands. */
  recommendation: number | null;
  reason: string;
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : String(Number(n.toFixed(3))));

/**
 * The HPA's rule: ratio = metric / target; inside [1 - tolerance, 1 + tolerance] nothing
 * changes, otherwise ceil(ratio × current). From zero the ratio alone is the count, since
 * ratio × 0 would keep a scaled-to-zero target at zero forever.
 */
export function targetValue(
  label: string,
  metric: number,
  current: number,
  target: number,
  tolerance: number,
): StrategyResult {
  const ratio = metric / target;
  const head = `${label} ${fmt(metric)} / target ${fmt(target)} = ratio ${fmt(ratio)}`;
  // The epsilon keeps 110 / 100 inside a 0.1 tolerance despite binary floating point.
  if (current > 0 && Math.abs(1 - ratio) <= tolerance + 1e-9) {
    return { recommendation: null, reason: `${head}, within tolerance ${fmt(tolerance)}` };
  }
  if (current === 0)
    return { recommendation: Math.ceil(ratio), reason: `${head}, from zero ceil(ratio) = ${Math.ceil(ratio)}` };
  const desired = Math.ceil(ratio * current);
  return { recommendation: desired, reason: `${head} × ${current} current = ${desired}` };
}

/**
 * Work queues (the HPA's AverageValue): one member per `perReplicaValue` units of work.
 * `running` is work already being done, which still needs its members.
 *
 * As the HPA does for AverageValue targets, a usage ratio (work / (per replica × current))
 * within 1 ± tolerance keeps the current count, so a metric hovering near a multiple of
 * `perReplicaValue` does not flap by one. From zero there is no ratio: the count is the work.
 */
export function perReplica(
  label: string,
  metric: number,
  perReplicaValue: number,
  running?: number,
  current = 0,
  tolerance = 0,
): StrategyResult {
  const total = metric + (running ?? 0);
  const desired = Math.ceil(total / perReplicaValue);
  const what = running === undefined ? `${label} ${fmt(metric)}` : `${label} ${fmt(metric)} + running ${fmt(running)}`;
  if (current > 0 && tolerance > 0 && desired !== current) {
    const usage = total / (perReplicaValue * current);
    // The same epsilon as targetValue: 1.1 must stay inside a 0.1 tolerance.
    if (Math.abs(1 - usage) <= tolerance + 1e-9) {
      return {
        recommendation: null,
        reason: `${what} / ${fmt(perReplicaValue)} per replica on ${current} current = usage ratio ${fmt(usage)}, within tolerance ${fmt(tolerance)}`,
      };
    }
  }
  return { recommendation: desired, reason: `${what} / ${fmt(perReplicaValue)} per replica = ${desired}` };
}

export interface StepBand {
  lower?: number | undefined;
  upper?: number | undefined;
  change: Change;
}

/**
 * Finds the band holding `offset` (metric minus threshold). As in AWS, at or above the
 * threshold a band's lower bound is inclusive and its upper exclusive; below the threshold it
 * is the other way round, so bands that share a bound never both match.
 */
export function findStepBand(bands: readonly StepBand[], offset: number): StepBand | undefined {
  return bands.find((band) => {
    const lower = band.lower ?? Number.NEGATIVE_INFINITY;
    const upper = band.upper ?? Number.POSITIVE_INFINITY;
    return offset >= 0 ? offset >= lower && offset < upper : offset > lower && offset <= upper;
  });
}

/** AWS step scaling: the band the metric falls in says how to change the current count. */
export function steps(
  label: string,
  metric: number,
  current: number,
  threshold: number,
  bands: readonly StepBand[],
  minAdjustment: number,
): StrategyResult {
  const offset = metric - threshold;
  const where =
    threshold === 0
      ? `${label} ${fmt(metric)}`
      : `${label} ${fmt(metric)} (threshold ${fmt(threshold)} ${offset < 0 ? '-' : '+'} ${fmt(Math.abs(offset))})`;
  const band = findStepBand(bands, offset);
  if (!band) return { recommendation: null, reason: `${where} is in no step band` };
  const desired = Math.max(0, applyAwsChange(current, band.change, minAdjustment));
  const range = `[${band.lower === undefined ? '-∞' : fmt(band.lower)}, ${band.upper === undefined ? '∞' : fmt(band.upper)}]`;
  return {
    recommendation: desired,
    reason: `${where} in step ${range}: ${formatChange(band.change)} on ${current} = ${desired}`,
  };
}

export type ThresholdAction = { delta: number } | { percentage: number } | { value: number };

/**
 * Nomad's threshold strategy, one data point per evaluation: once `trigger` consecutive points
 * have been within [lower, upper) the action applies (and keeps applying while they stay
 * there; cooldowns space the repeats). `withinCount` is the run length so far, kept in state.
 */
export function threshold(
  label: string,
  metric: number,
  current: number,
  bounds: { lower?: number | undefined; upper?: number | undefined },
  trigger: number,
  action: ThresholdAction,
  withinCount: number,
): StrategyResult & { withinCount: number } {
  const lower = bounds.lower ?? Number.NEGATIVE_INFINITY;
  const upper = bounds.upper ?? Number.POSITIVE_INFINITY;
  const range = `[${bounds.lower === undefined ? '-∞' : fmt(lower)}, ${bounds.upper === undefined ? '∞' : fmt(upper)})`;
  const within = metric >= lower && metric < upper;
  const count = within ? withinCount + 1 : 0;
  if (!within) return { recommendation: null, reason: `${label} ${fmt(metric)} is outside ${range}`, withinCount: 0 };
  if (count < trigger) {
    return {
      recommendation: null,
      reason: `${label} ${fmt(metric)} within ${range} for ${count} of ${trigger} points`,
      withinCount: count,
    };
  }
  let desired: number;
  let how: string;
  if ('delta' in action) {
    desired = current + action.delta;
    how = `${action.delta < 0 ? '' : '+'}${action.delta}`;
  } else if ('percentage' in action) {
    // Nomad rounds the new count up, so a positive percentage always moves a small count.
    desired = Math.ceil(current * (1 + action.percentage / 100));
    how = `${action.percentage < 0 ? '' : '+'}${fmt(action.percentage)}%`;
  } else {
    desired = action.value;
    how = `=${action.value}`;
  }
  desired = Math.max(0, desired);
  return {
    recommendation: desired,
    reason: `${label} ${fmt(metric)} within ${range} for ${count} points: ${how} on ${current} = ${desired}`,
    withinCount: count,
  };
}

export { fmt as formatNumber };
