/**
 * Linux process identity: a pid alone can be reused after a process exits, so waymond
 * remembers (pid, start time in clock ticks since boot) and only trusts a pid whose start
 * time still matches. Used by the process scaler to adopt members after a restart.
 */
import { existsSync, readFileSync } from 'node:fs';

export interface ProcStat {
  state: string;
  startTime: number;
}

/** Parses /proc/<pid>/stat; `comm` may contain spaces and parentheses, so split after the last ")". */
export function parseProcStat(text: string): ProcStat | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const state = fields[0];
  const startTime = Number(fields[19]);
  if (!state || !Number.isFinite(startTime)) return undefined;
  return { state, startTime };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive (not a zombie) and is the same process that started at `startTime`. */
export function isSameLiveProcess(pid: number, startTime: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X' && stat.startTime === startTime;
}

/**
 * Why members cannot be identified here, or undefined when they can. Without /proc a pid
 * cannot be told apart from a reused one, so every observe would lose all members and
 * start replacements while the originals keep running: refuse instead.
 */
export function procUnavailableReason(platform: NodeJS.Platform, hasProcSelfStat: boolean): string | undefined {
  if (hasProcSelfStat) return undefined;
  const needs = 'it identifies its members by pid and start time from /proc/<pid>/stat';
  if (platform === 'linux') return `/proc is not mounted here (linux), and ${needs}`;
  return `it runs only on Linux, and this platform is ${platform}: ${needs}, which ${platform} does not have`;
}

/** The reason for this machine (process.platform, /proc/self/stat). */
export function procUnavailableHere(): string | undefined {
  return procUnavailableReason(process.platform, existsSync('/proc/self/stat'));
}
