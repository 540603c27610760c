import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { procUnavailableHere, procUnavailableReason } from '../../src/scalers/proc.js';
import { assignSlots, type MarkedProcess } from '../../src/scalers/proc-scan.js';
import { lowestFreeSlots, memberEnv } from '../../src/scalers/process.js';

describe('process scaler: where it can identify its members', () => {
  it.each([
    [
      'darwin',
      false,
      'it runs only on Linux, and this platform is darwin: it identifies its members by pid and start time from /proc/<pid>/stat, which darwin does not have',
    ],
    [
      'win32',
      false,
      'it runs only on Linux, and this platform is win32: it identifies its members by pid and start time from /proc/<pid>/stat, which win32 does not have',
    ],
    [
      'freebsd',
      false,
      'it runs only on Linux, and this platform is freebsd: it identifies its members by pid and start time from /proc/<pid>/stat, which freebsd does not have',
    ],
    [
      'linux',
      false,
      '/proc is not mounted here (linux), and it identifies its members by pid and start time from /proc/<pid>/stat',
    ],
  ] as const)('refuses on %s without /proc/self/stat', (platform, hasProc, reason) => {
    expect(procUnavailableReason(platform, hasProc)).toBe(reason);
  });

  it('runs wherever /proc/self/stat exists', () => {
    expect(procUnavailableReason('linux', true)).toBeUndefined();
  });

  it('decides from this machine: Linux with /proc here', () => {
    expect(procUnavailableHere()).toBe(
      existsSync('/proc/self/stat') ? undefined : procUnavailableReason(process.platform, false),
    );
  });
});

describe('process scaler: slots', () => {
  it.each([
    [[], 2, [1, 2]],
    [[1, 3], 2, [2, 4]],
    [[2], 1, [1]],
    [[1, 2, 3], 0, []],
  ])('taken %j, %i new -> %j (lowest free first)', (taken, count, slots) => {
    expect(lowestFreeSlots(taken, count)).toEqual(slots);
  });
});

describe('process scaler: which marked process keeps a slot', () => {
  const p = (pid: number, startTime: number, index?: string): MarkedProcess => ({
    pid,
    startTime,
    env: index === undefined ? {} : { WAYMOND_INDEX: index },
  });

  it('keeps the oldest on a shared slot and stops the rest', () => {
    const { keep, duplicates } = assignSlots([p(30, 300, '1'), p(10, 100, '1'), p(20, 200, '2'), p(40, 100, '1')]);
    expect(keep).toEqual([
      { slot: 1, pid: 10, startTime: 100 },
      { slot: 2, pid: 20, startTime: 200 },
    ]);
    expect(duplicates.map((d) => d.pid).sort()).toEqual([30, 40]);
  });

  it.each([undefined, '0', 'x', '-1'])('a process with WAYMOND_INDEX %j has no slot', (index) => {
    expect(assignSlots([p(7, 1, index)])).toEqual({
      keep: [],
      duplicates: [{ slot: Number(index), pid: 7, startTime: 1 }],
    });
  });
});

describe('process scaler: member environment', () => {
  const daemon = { PATH: '/bin', HOME: '/h', LC_ALL: 'C', AWS_SECRET_ACCESS_KEY: 's', TOKEN: 't' };
  const markers = { WAYMOND_SCALER: 'a', WAYMOND_INDEX: '1' };

  it('passes only the minimal set by default', () => {
    expect(memberEnv(daemon, false, { X: '1' }, markers)).toEqual({
      PATH: '/bin',
      HOME: '/h',
      LC_ALL: 'C',
      X: '1',
      ...markers,
    });
  });

  it('passes exactly the listed names', () => {
    expect(memberEnv(daemon, ['TOKEN'], {}, markers)).toEqual({ TOKEN: 't', ...markers });
  });

  it('passes everything with true; env and markers win', () => {
    expect(memberEnv({ ...daemon, WAYMOND_INDEX: '9' }, true, { TOKEN: 'mine' }, markers)).toEqual({
      ...daemon,
      TOKEN: 'mine',
      ...markers,
    });
  });
});
