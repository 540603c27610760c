/**
 * Running out of file descriptors is silent: an accept that fails with EMFILE is dropped
 * by libuv (the client sees a reset), and a member start fails with "spawn EMFILE". So the
 * daemon checks its own open descriptors against its soft limit every few seconds
 * (/proc/self/fd and /proc/self/limits, Linux) and, at 90 % or more, logs one clear
 * line at most once a minute and counts every such check (waymond_fd_exhausted_total).
 * Reading /proc needs descriptors too, so one is held in reserve and freed for the check
 * (the same trick libuv uses for accept): the check works exactly when it matters.
 */
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';

export const FD_CHECK_MS = 5_000;
const REPORT_EVERY_MS = 60_000;

/** Open descriptors and the soft limit, or undefined where /proc cannot say. */
export function fdUsage(): { open: number; limit: number } | undefined {
  try {
    // Less the one readdir itself holds while it lists.
    const open = readdirSync('/proc/self/fd').length - 1;
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const limit = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(limit) && limit > 0 ? { open, limit } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `open` descriptors of `limit` is close enough to fail accepts and spawns. */
export function nearLimit(open: number, limit: number): boolean {
  return open >= limit * 0.9;
}

/** Starts the check; returns the function that stops it. */
export function watchFileDescriptors(logger: Logger, onExhausted: () => void): () => void {
  let lastReport = 0;
  let seen = 0;
  const openReserve = () => {
    try {
      return openSync('/dev/null', 'r');
    } catch {
      return undefined;
    }
  };
  let reserve = openReserve();
  const timer = setInterval(() => {
    // Synchronous from here to the reopen: no accept can take the freed descriptor meanwhile.
    if (reserve !== undefined) closeSync(reserve);
    const usage = fdUsage();
    reserve = openReserve();
    if (!usage || !nearLimit(usage.open, usage.limit)) return;
    seen++;
    onExhausted();
    const now = Date.now();
    if (now - lastReport < REPORT_EVERY_MS) return;
    lastReport = now;
    logger.error(
      { open_fds: usage.open, fd_limit: usage.limit, checks_near_limit: seen },
      `out of file descriptors: ${usage.open} of ${usage.limit} open; new connections and member starts fail with EMFILE (raise the limit: LimitNOFILE= in the service, ulimit -n)`,
    );
  }, FD_CHECK_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (reserve !== undefined) closeSync(reserve);
    reserve = undefined;
  };
}
