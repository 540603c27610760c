/**
 * Finding a scaler's members by what they carry, not by what was saved: every member the
 * process scaler starts gets `WAYMOND_MEMBER_OF` (one random id per scaler, kept in its state),
 * `WAYMOND_SCALER` and `WAYMOND_INDEX` in its environment and leads its own process group.
 * Scanning /proc for group leaders with exactly those markers finds every member that is
 * alive, including one started a moment before waymond was killed and never saved, and
 * never a process that is not ours (a reused pid carries another environment).
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface MarkedProcess {
  pid: number;
  startTime: number;
  env: Record<string, string>;
}

/**
 * /proc/<pid>/stat after the command's closing ")" (`comm` may hold spaces and
 * parentheses): field 3 state, field 5 pgrp, field 22 starttime.
 */
export function parseStatFields(text: string): { state: string; pgrp: number; startTime: number } | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = Number(fields[19]);
  if (!state || !Number.isInteger(pgrp) || !Number.isFinite(startTime)) return undefined;
  return { state, pgrp, startTime };
}

export function parseEnviron(raw: Buffer | string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of raw.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/**
 * Live process-group leaders whose environment has every `markers` entry. Processes this
 * user may not read are skipped (they are not ours).
 */
export function findMarkedProcesses(markers: Record<string, string>, procRoot = '/proc'): MarkedProcess[] {
  const found: MarkedProcess[] = [];
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return found;
  }
  const wanted = Object.entries(markers);
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const stat = parseStatFields(readFileSync(`${procRoot}/${name}/stat`, 'utf8'));
      if (!stat || stat.pgrp !== pid || stat.state === 'Z' || stat.state === 'X') continue;
      const env = parseEnviron(readFileSync(`${procRoot}/${name}/environ`));
      if (wanted.every(([k, v]) => env[k] === v)) found.push({ pid, startTime: stat.startTime, env });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** This boot's id: pids and start times from another boot mean nothing. */
export function bootId(procRoot = '/proc'): string | undefined {
  try {
    return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface SlotClaim {
  slot: number;
  pid: number;
  startTime: number;
}

/**
 * Which live marked processes keep their slot: one per slot, the oldest (lowest start
 * time, then lowest pid); every other one on the same slot is a duplicate to stop. A
 * process without a valid WAYMOND_INDEX is a duplicate too (it is ours, but has no slot).
 */
export function assignSlots(found: MarkedProcess[]): { keep: SlotClaim[]; duplicates: SlotClaim[] } {
  const bySlot = new Map<number, SlotClaim[]>();
  const duplicates: SlotClaim[] = [];
  for (const p of found) {
    const slot = Number(p.env.WAYMOND_INDEX);
    const claim = { slot, pid: p.pid, startTime: p.startTime };
    if (!Number.isInteger(slot) || slot < 1) duplicates.push(claim);
    else bySlot.set(slot, [...(bySlot.get(slot) ?? []), claim]);
  }
  const keep: SlotClaim[] = [];
  for (const claims of bySlot.values()) {
    claims.sort((a, b) => a.startTime - b.startTime || a.pid - b.pid);
    keep.push(claims[0] as SlotClaim);
    duplicates.push(...claims.slice(1));
  }
  keep.sort((a, b) => a.slot - b.slot);
  return { keep, duplicates };
}

/** The environment of a live process, or undefined when it is gone or not ours to read. */
export function readEnviron(pid: number, procRoot = '/proc'): Record<string, string> | undefined {
  try {
    return parseEnviron(readFileSync(`${procRoot}/${pid}/environ`));
  } catch {
    return undefined;
  }
}
