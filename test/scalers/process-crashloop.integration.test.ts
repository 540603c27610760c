/**
 * Crash loops end, and say so: a member that exits within min_uptime puts its slot in
 * backoff (1 s doubling to 5 min) instead of being restarted on every reconcile; apply
 * notes why it did not start it, status() reports crash_looping with the exit code, and a
 * member that stays up past min_uptime clears the backoff. Real `sh` members; the
 * VirtualClock decides what "soon" and "later" mean.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { Scaler, ScalerStatus } from '../../src/core/types.js';
import { crashBackoff, processScaler } from '../../src/scalers/process.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';

const id = `crash_${process.pid}`;
let harness: Harness | undefined;
let clock: VirtualClock;
const dirs: string[] = [];

afterEach(async () => {
  // close() waits for stopping members on the clock's 50 ms polls: keep virtual time moving.
  const ticking = setInterval(() => void clock.advance(100), 5);
  try {
    await harness?.close();
  } finally {
    clearInterval(ticking);
  }
  harness = undefined;
  killAll(pidsWithEnv('WAYMOND_SCALER', id));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const status = (h: Harness): ScalerStatus => (h.scaler as Required<Pick<Scaler, 'status'>>).status();

/** Waits until no member of the scaler is alive (the real `sh` has exited). */
async function allExited(h: Harness): Promise<void> {
  await waitUntil(async () => (await h.scaler.observe({})).count === 0, 'the member to exit', 10_000);
}

describe('process scaler: crash-loop backoff', () => {
  it('backs a slot off 1 s doubling to 5 min, notes it, and reports crash_looping with the exit code', async () => {
    clock = new VirtualClock();
    harness = await startHarness(
      processScaler,
      id,
      { command: 'sh', args: ['-c', 'exit 3'], max: 3, min_uptime: '10s' },
      { clock },
    );
    const h = harness;
    expect(status(h)).toMatchObject({ health: 'ok', restarts: 0 });
    await h.reconciler.reconcileNow(1, {});
    const waits: number[] = [];
    for (let crash = 1; crash <= 11; crash++) {
      await allExited(h);
      const held = await h.reconciler.reconcileNow(1, {});
      const wait = crashBackoff(crash);
      waits.push(wait);
      const times = crash === 1 ? '1 time' : `${crash} times`;
      expect(held.reason).toContain(
        `crash looping: slot 1 exited with code 3 within 10s, ${times}; next start in ${wait / 1000}s`,
      );
      expect(status(h)).toMatchObject({ health: 'crash_looping', lastExitCode: 3, restarts: crash - 1 });
      expect(pidsWithEnv('WAYMOND_SCALER', id)).toHaveLength(0);
      // Just before the backoff ends the slot is still held; at its end it is started again.
      await clock.advance(wait - 1);
      const still = await h.reconciler.reconcileNow(1, {});
      expect(still.reason).toContain('next start in 1s');
      expect(status(h).restarts).toBe(crash - 1);
      await clock.advance(1);
      await h.reconciler.reconcileNow(1, {});
      expect(status(h).restarts).toBe(crash);
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map((s) => s * 1000));
  }, 60_000);

  it('a member that stays up past min_uptime clears the backoff', async () => {
    clock = new VirtualClock();
    const dir = mkdtempSync(join(tmpdir(), 'waymond-crashloop-'));
    dirs.push(dir);
    const ok = join(dir, 'token-is-good');
    // Exits with 7 until the file exists (a bad agent token fixed), then stays up.
    harness = await startHarness(
      processScaler,
      id,
      {
        command: 'sh',
        args: ['-c', `test -f ${ok} || exit 7; exec sleep 60`],
        max: 2,
        min_uptime: '10s',
        stop_timeout: '1s',
      },
      { clock },
    );
    const h = harness;
    await h.reconciler.reconcileNow(1, {});
    for (let crash = 1; crash <= 3; crash++) {
      await allExited(h);
      await h.reconciler.reconcileNow(1, {});
      expect(status(h)).toMatchObject({ health: 'crash_looping', lastExitCode: 7 });
      await clock.advance(crashBackoff(crash));
      if (crash < 3) await h.reconciler.reconcileNow(1, {});
    }
    expect(status(h).reason).toContain('exited with code 7 within 10s, 3 times');
    writeFileSync(ok, '');
    await h.reconciler.reconcileNow(1, {});
    await waitUntil(() => pidsWithEnv('WAYMOND_SCALER', id).length === 1, 'the fixed member to run', 10_000);
    // Up, but not yet for min_uptime: still crash looping as far as anyone knows.
    await clock.advance(9_000);
    await h.reconciler.reconcileNow(1, {});
    expect(status(h).health).toBe('crash_looping');
    await clock.advance(1_000);
    await h.reconciler.reconcileNow(1, {});
    expect(status(h)).toMatchObject({ health: 'ok', restarts: 3 });
    expect(status(h).reason).toBeUndefined();
    // Cleared, not merely paused: the next early exit starts again at 1 s.
    killAll(pidsWithEnv('WAYMOND_SCALER', id));
    rmSync(ok);
    await allExited(h);
    // It had been up past min_uptime: replaced at once, no backoff. Its replacement fails.
    const replaced = await h.reconciler.reconcileNow(1, {});
    expect(replaced.reason).not.toContain('crash looping');
    expect(status(h).restarts).toBe(4);
    await allExited(h);
    const held = await h.reconciler.reconcileNow(1, {});
    expect(held.reason).toContain('1 time; next start in 1s');
  }, 60_000);
});
