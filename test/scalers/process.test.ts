import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { procUnavailableHere, procUnavailableReason } from '../../src/scalers/proc.js';
import { lowestFreeSlots } from '../../src/scalers/process.js';

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
