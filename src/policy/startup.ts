/**
 * The observed start-up time of new members: from start to ready, measured on the members
 * the scaler reports, for `strategy = "jobs"` to use instead of its `startup` setting (which
 * seeds it).
 *
 * A scaler's observation lists its members with `startedAt` and `ready` (false while
 * starting). A member seen starting at one reading and ready at a later one became ready
 * between the two: the sample is the midpoint of those two readings minus its `startedAt`,
 * so it is within half a reading interval (plus the age of the scaler's last observation,
 * at most its resync interval) of the truth. Members never seen starting (adopted, or
 * started and ready between two readings) give no sample. Scalers that do not report
 * `ready` give none either: the setting stays in force.
 *
 *   estimate ← estimate + 0.1 × (sample − estimate)   seeded by `startup`
 *
 * so the last twenty or so start-ups weigh most (a slower image or region shows within about
 * ten: 65 % of the way), while one sample is off by up to a reading interval.
 * Plain JSON in the policy's state: it survives a restart.
 */
import type { Member } from '../core/types.js';

export interface StartupEstimate {
  /** Members seen starting: id → [startedAt, last reading they were seen starting at]. */
  pending: Record<string, [number, number]>;
  /** Milliseconds, start to ready; the `startup` setting until a first sample. */
  estimate: number;
  samples: number;
}

/** Weight of each new sample. */
const SAMPLE_WEIGHT = 0.1;
/** A fleet starting more members than this at once is followed through its first ones only. */
const MAX_PENDING = 1000;

/** The estimate with one observation folded in (`members` undefined: the scaler lists none). */
export function observeStartups(
  previous: StartupEstimate | null | undefined,
  seed: number,
  members: readonly Member[] | undefined,
  now: number,
): StartupEstimate {
  const base: StartupEstimate = previous ?? { pending: {}, estimate: seed, samples: 0 };
  if (!members) return base;
  // The usual reading: every member ready and none followed: nothing to do, nothing to copy.
  if (isEmpty(base.pending) && !members.some((m) => m.ready === false)) return base;
  const pending: Record<string, [number, number]> = {};
  let { estimate, samples } = base;
  let tracked = 0;
  for (const member of members) {
    const startedAt = member.startedAt;
    if (startedAt === undefined || member.ready === undefined) continue;
    const seen = base.pending[member.id];
    if (member.ready === false) {
      if (tracked < MAX_PENDING && startedAt <= now) {
        pending[member.id] = [startedAt, now];
        tracked++;
      }
    } else if (seen && seen[0] === startedAt) {
      const sample = (seen[1] + now) / 2 - startedAt;
      if (sample >= 0) {
        estimate += SAMPLE_WEIGHT * (sample - estimate);
        samples++;
      }
    }
  }
  return { pending, estimate: Math.round(estimate), samples };
}

function isEmpty(record: Record<string, unknown>): boolean {
  for (const _ in record) return false;
  return true;
}
