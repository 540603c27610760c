/**
 * Scheduled bounds: a window opens at each time its cron expression fires and stays open for
 * `duration`; while open, its `min`/`max` replace the policy's. One form only (cron plus
 * duration) because it says both "when" and "how long" without a second expression to keep
 * in step, and it covers "weekdays 8:00–18:00" (`0 8 * * 1-5`, `10h`) as well as one-offs.
 *
 * Overlapping windows combine to the larger bounds (highest min, highest max), so adding a
 * window can only ever make room for more members, never starve another window.
 * Time zones default to UTC, so a decision never depends on the host's settings.
 */
import { Cron } from 'croner';
import { formatDuration } from '../core/duration.js';

export interface ScheduleWindow {
  name?: string | undefined;
  cron: string;
  /** Milliseconds the window stays open after each firing. */
  duration: number;
  min?: number | undefined;
  max?: number | undefined;
  timezone?: string | undefined;
}

export interface Bounds {
  min: number;
  /** Infinity when unbounded. */
  max: number;
}

export interface ActiveBounds extends Bounds {
  /** One phrase per open window, for reasons; empty when none is open. */
  windows: string[];
}

const jobs = new Map<string, Cron>();

function job(cron: string, timezone: string | undefined): Cron {
  const key = `${timezone ?? 'UTC'}\u0000${cron}`;
  let found = jobs.get(key);
  if (!found) {
    // croner parses once; the paused job is only used to compute run times.
    found = new Cron(cron, { paused: true, timezone: timezone ?? 'UTC' });
    jobs.set(key, found);
  }
  return found;
}

/**
 * When the window holding `now` opened, or null when it is closed: the window is open when
 * the cron fired in (now - duration, now].
 */
export function windowOpenedAt(window: ScheduleWindow, now: number): number | null {
  if (window.duration <= 0) return null;
  const cron = job(window.cron, window.timezone);
  const first = cron.nextRun(new Date(now - window.duration));
  if (!first || first.getTime() > now) return null;
  // The latest firing at or before now is the one whose window ends last.
  const latest = cron.previousRuns(1, new Date(now + 1))[0];
  return latest ? latest.getTime() : first.getTime();
}

/** The policy's bounds at `now`, with open windows applied. */
export function activeBounds(base: Bounds, windows: readonly ScheduleWindow[], now: number): ActiveBounds {
  let min: number | undefined;
  let max: number | undefined;
  const open: string[] = [];
  for (const window of windows) {
    const openedAt = windowOpenedAt(window, now);
    if (openedAt === null) continue;
    if (window.min !== undefined) min = Math.max(min ?? 0, window.min);
    if (window.max !== undefined) max = Math.max(max ?? 0, window.max);
    const until = new Date(openedAt + window.duration).toISOString().replace('.000Z', 'Z');
    const label = window.name ? `schedule "${window.name}"` : `schedule "${window.cron}"`;
    open.push(`${label} (${formatDuration(window.duration)} until ${until})`);
  }
  const effectiveMin = min ?? base.min;
  // A window that raises min above the other bound lifts the max with it, so min ≤ max holds.
  const effectiveMax = Math.max(max ?? base.max, effectiveMin);
  return { min: effectiveMin, max: effectiveMax, windows: open };
}
