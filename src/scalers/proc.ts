/**
 * Linux process identity: a pid alone can be reused after a process exits, so waymond
 * remembers (pid, start time in clock ticks since boot) and only trusts a pid whose start
 * time still matches. Used by the process scaler to adopt members after a restart.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseStatFields } from './proc-scan.js';

export interface ProcStat {
  state: string;
  startTime: number;
}

/** Parses /proc/<pid>/stat (state and start time; the parsing itself is proc-scan's). */
export function parseProcStat(text: string): ProcStat | undefined {
  const fields = parseStatFields(text);
  return fields ? { state: fields.state, startTime: fields.startTime } : undefined;
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
