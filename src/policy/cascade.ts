/**
 * Splitting one desired count over ordered tiers ("processes on the big VM first, then the
 * EC2 group"). The rules, chosen so that members never move between tiers just to rebalance:
 *
 * - Room: a tier holds up to `capacity` (null: unlimited). A failed or unavailable tier can
 *   hold only what it has now (`min(current, capacity)`): nothing new goes there, and its
 *   members are not thrown away because its API is briefly unreachable.
 * - Keep: each tier keeps its current members, up to its room (members above a lowered
 *   capacity are let go, and their count is placed again below).
 * - Grow: new members go to the earliest tier with room, then overflow to the next. What no
 *   tier can hold is reported as `unplaced`.
 * - Shrink: members are removed from the last tier first, then the one before, so the
 *   preferred (cheapest) tiers are the last to lose members.
 *
 * `trackOverflow` adds time: a tier that stays below what it was asked for longer than
 * `overflow_after` (a VM that is full, a quota that is hit) counts as full at its current
 * count, so the shortfall overflows to the next tier. Once its count meets what it is asked
 * for, the clock resets: new members try it first again, which probes whether room came back.
 */
import { formatDuration } from '../core/duration.js';

export interface Tier {
  /** Shown in reasons; default "tier N". */
  name?: string | undefined;
  /** Most members the tier can hold; null: unlimited. */
  capacity: number | null;
  /** Members it has now, starting ones included. */
  current: number;
  /** The tier cannot take new members now (API failing, marked unavailable). */
  failed?: boolean | undefined;
}

export interface Allocation {
  /** Desired count per tier, in the order given. */
  perTier: number[];
  /** Members no tier has room for. */
  unplaced: number;
  reason: string;
}

const nameOf = (tier: Tier, index: number): string => tier.name ?? `tier ${index + 1}`;

/** Most members `tier` may hold now (Infinity when unlimited). */
export function tierRoom(tier: Tier): number {
  const capacity = tier.capacity ?? Number.POSITIVE_INFINITY;
  return tier.failed ? Math.min(tier.current, capacity) : capacity;
}

/** Splits `desired` over `tiers` by the rules at the top of this file. */
export function allocateTiers(desired: number, tiers: readonly Tier[]): Allocation {
  if (!Number.isInteger(desired) || desired < 0)
    throw new RangeError(`desired must be a whole number ≥ 0, got ${desired}`);
  for (const [i, tier] of tiers.entries()) {
    if (!Number.isInteger(tier.current) || tier.current < 0) {
      throw new RangeError(`${nameOf(tier, i)}: current must be a whole number ≥ 0, got ${tier.current}`);
    }
  }
  const rooms = tiers.map(tierRoom);
  const perTier = tiers.map((tier, i) => Math.min(tier.current, rooms[i] as number));
  const kept = perTier.reduce((a, b) => a + b, 0);
  const notes: string[] = [];
  for (const [i, tier] of tiers.entries()) {
    if (tier.failed) notes.push(`${nameOf(tier, i)} failed, holds at most its ${perTier[i]}`);
    else if ((perTier[i] as number) < tier.current) notes.push(`${nameOf(tier, i)} over capacity ${tier.capacity}`);
  }
  let unplaced = 0;
  if (desired >= kept) {
    let extra = desired - kept;
    for (let i = 0; i < tiers.length && extra > 0; i++) {
      const add = Math.min(extra, (rooms[i] as number) - (perTier[i] as number));
      perTier[i] = (perTier[i] as number) + add;
      extra -= add;
    }
    unplaced = extra;
    if (unplaced > 0) notes.push(`${unplaced} cannot be placed: every tier is full`);
  } else {
    let remove = kept - desired;
    for (let i = tiers.length - 1; i >= 0 && remove > 0; i--) {
      const take = Math.min(remove, perTier[i] as number);
      perTier[i] = (perTier[i] as number) - take;
      remove -= take;
    }
  }
  const split = tiers
    .map((tier, i) => {
      const full = rooms[i] !== Number.POSITIVE_INFINITY && perTier[i] === rooms[i] && !tier.failed ? ' (full)' : '';
      const change = perTier[i] === tier.current ? `${perTier[i]}` : `${tier.current} → ${perTier[i]}`;
      return `${nameOf(tier, i)} ${change}${full}`;
    })
    .join(', ');
  const reason = `${desired} over ${tiers.length} tier${tiers.length === 1 ? '' : 's'}: ${split}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
  return { perTier, unplaced, reason };
}

export interface OverflowInput {
  name?: string | undefined;
  /** What the tier was last asked for. */
  asked: number;
  /** What it has now. */
  current: number;
  /** Configured capacity; null: unlimited. */
  capacity: number | null;
}

export interface OverflowResult {
  /** The capacity to pass to `allocateTiers`: the current count once limited. */
  capacity: number | null;
  /** Since when the tier has been short; keep it in state for the next call. */
  shortSince: number | null;
  limited: boolean;
  reason: string;
}

/** Tracks how long a tier has been short of what it was asked for (see the top of this file). */
export function trackOverflow(
  tier: OverflowInput,
  shortSince: number | null,
  overflowAfter: number,
  now: number,
): OverflowResult {
  const name = tier.name ?? 'tier';
  if (tier.current >= tier.asked) {
    return { capacity: tier.capacity, shortSince: null, limited: false, reason: `${name} has what it was asked for` };
  }
  const since = shortSince ?? now;
  const shortFor = now - since;
  const head = `${name} has ${tier.current} of ${tier.asked} asked for ${formatDuration(shortFor)}`;
  if (shortFor >= overflowAfter) {
    const capacity = Math.min(tier.capacity ?? Number.POSITIVE_INFINITY, tier.current);
    return {
      capacity,
      shortSince: since,
      limited: true,
      reason: `${head} ≥ overflow_after ${formatDuration(overflowAfter)}: treated as full at ${capacity}`,
    };
  }
  return {
    capacity: tier.capacity,
    shortSince: since,
    limited: false,
    reason: `${head}, overflows after ${formatDuration(overflowAfter)}`,
  };
}
