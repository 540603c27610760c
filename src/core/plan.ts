/**
 * Pure pieces of a reconcile: reading the desired count from an event, clamping it,
 * choosing members to remove, naming the action, the retry delay, the notes of a decision,
 * and the one observation of a scaler with several targets.
 */
import type { EventData, Member, Observation, Plan, TargetStatus } from './types.js';

export type DesiredResult = { ok: true; desired: number; field: string } | { ok: false; error: string };

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value);
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * `desired` (or the original's `desired_count`) from event data, else the scaler's static
 * `count`. Anything but a finite integer >= 0 is rejected, so a broken signal never
 * touches the target.
 */
export function readDesired(data: EventData, staticCount: number | undefined): DesiredResult {
  const field = 'desired' in data ? 'desired' : 'desired_count' in data ? 'desired_count' : undefined;
  if (field === undefined) {
    if (staticCount !== undefined) return { ok: true, desired: staticCount, field: 'count' };
    return { ok: false, error: 'missing desired count: expected "desired" (an integer >= 0) in the event data' };
  }
  const value = data[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    return { ok: false, error: `invalid ${field}: expected an integer >= 0, found ${describeValue(value)}` };
  }
  return { ok: true, desired: value, field };
}

export function clampDesired(desired: number, min: number, max: number): { value: number; note?: string } {
  if (desired > max) return { value: max, note: `capped by max ${max}` };
  if (desired < min) return { value: min, note: `raised to min ${min}` };
  return { value: desired };
}

const REMOVABLE = new Set(['starting', 'running', 'unknown']);

/** Newest first: the youngest members have done the least work and are the cheapest to lose. */
export function newestFirst(members: Member[], count: number): Member[] {
  if (count <= 0) return [];
  return members
    .filter((m) => REMOVABLE.has(m.state))
    .sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0) || b.id.localeCompare(a.id))
    .slice(0, count);
}

export function describeAction(observed: number, desired: number): string {
  if (desired > observed) return `scale_up +${desired - observed} (${observed} -> ${desired})`;
  if (desired < observed) return `scale_down -${observed - desired} (${observed} -> ${desired})`;
  return `none (${observed})`;
}

/** Exponential backoff with equal jitter: half the delay fixed, half random. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

export function needsChange(observed: Observation, desired: number): boolean {
  return observed.count !== desired;
}

/**
 * The one observation of a scaler with several targets: counts add up; members keep their
 * own ids, with the target they belong to in `info.target`. One target: its own observation.
 */
export function sumObservations(targets: readonly TargetStatus[]): Observation | undefined {
  const observed = targets.filter((t): t is TargetStatus & { observed: Observation } => t.observed !== undefined);
  if (observed.length === 0) return undefined;
  if (observed.length === 1) return (observed[0] as { observed: Observation }).observed;
  const hasMembers = observed.some((t) => t.observed.members);
  return {
    count: observed.reduce((sum, t) => sum + t.observed.count, 0),
    ready: observed.reduce((sum, t) => sum + (t.observed.ready ?? t.observed.count), 0),
    ...(hasMembers
      ? {
          members: observed.flatMap((t) =>
            (t.observed.members ?? []).map((m) => ({ ...m, info: { ...m.info, target: t.target } })),
          ),
        }
      : {}),
  };
}

/** Says so when scale-in released fewer members than the surplus (busy ones are kept). */
export function keptNote(observed: Observation, plan: Plan): string | undefined {
  const surplus = observed.count - plan.desired;
  if (surplus <= 0 || !observed.members) return undefined;
  const kept = surplus - plan.remove.length;
  return kept > 0 ? `kept ${kept} of ${surplus} surplus members: busy, or not confirmed idle` : undefined;
}

export function joinNotes(...notes: (string | undefined)[]): string | undefined {
  const present = notes.filter((n): n is string => !!n);
  return present.length > 0 ? present.join('; ') : undefined;
}

export function summarisePlan(plan: Plan): Record<string, unknown> {
  return { desired: plan.desired, observed: plan.observed.count, add: plan.add, remove: plan.remove.map((m) => m.id) };
}
