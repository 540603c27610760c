/**
 * A crash-looping slot that is no longer wanted does not keep the scaler `crash_looping`
 * (src/scalers/process-backoff.ts): a scale-down that stops members forgets it at once, one
 * that needs no apply (the live members already match) at the next reconcile. A slot still
 * wanted keeps its backoff. Real `sh` members; the VirtualClock decides what "soon" means.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { Scaler, ScalerStatus } from '../../src/core/types.js';
import { processScaler } from '../../src/scalers/process.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';

const id = `crashdown_${process.pid}`;
let harness: Harness | undefined;
let clock: VirtualClock;

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
});

const status = (h: Harness): ScalerStatus => (h.scaler as Required<Pick<Scaler, 'status'>>).status();

/** Slot 2 exits with 5 at once (its per-slot port is taken); every other slot stays up. */
async function boot(): Promise<Harness> {
  clock = new VirtualClock();
  harness = await startHarness(
    processScaler,
    id,
    {
      command: 'sh',
      args: ['-c', 'test "$WAYMOND_INDEX" = 2 && exit 5; exec sleep 60'],
      max: 4,
      min_uptime: '10s',
      stop_timeout: '1s',
    },
    { clock },
  );
  return harness;
}

async function crashLooping(h: Harness, live: number): Promise<void> {
  await h.reconciler.reconcileNow(3, {});
  await waitUntil(async () => (await h.scaler.observe({})).count === live, `${live} live members`, 10_000);
  const held = await h.reconciler.reconcileNow(3, {});
  expect(held.reason).toContain('crash looping: slot 2 exited with code 5');
  expect(status(h)).toMatchObject({ health: 'crash_looping', lastExitCode: 5 });
}

describe('process scaler: a crash-looping slot no longer wanted', () => {
  it('is forgotten by the next reconcile when the live members already match the lower count', async () => {
    const h = await boot();
    await crashLooping(h, 2); // slots 1 and 3 up, slot 2 backing off
    // Desired 2: two live members already, so no apply; this reconcile is the last to see slot 2 wanted.
    await h.reconciler.reconcileNow(2, {});
    await h.reconciler.reconcileNow(2, {}); // the resync
    expect(status(h)).toMatchObject({ health: 'ok' });
    expect(status(h).reason).toBeUndefined();
    // Wanted again later: judged afresh, starting at 1 s.
    await h.reconciler.reconcileNow(3, {});
    await waitUntil(async () => (await h.scaler.observe({})).count === 2, 'slot 2 to exit again', 10_000);
    const again = await h.reconciler.reconcileNow(3, {});
    expect(again.reason).toContain('1 time; next start in 1s');
  }, 60_000);

  it('is forgotten at once by a scale-down that stops members', async () => {
    const h = await boot();
    await crashLooping(h, 2);
    const down = await h.reconciler.reconcileNow(1, {});
    expect(down.outcome).toBe('ok');
    expect(status(h)).toMatchObject({ health: 'ok' });
  }, 60_000);

  it('is kept while the slot is still wanted, however many reconciles run', async () => {
    const h = await boot();
    await crashLooping(h, 2);
    for (let i = 0; i < 5; i++) {
      await clock.advance(100);
      await h.reconciler.reconcileNow(3, {});
      expect(status(h).health).toBe('crash_looping');
    }
    // And after its backoff it is started again (and crashes again: 2 times).
    await clock.advance(1_000);
    await h.reconciler.reconcileNow(3, {});
    await waitUntil(async () => (await h.scaler.observe({})).count === 2, 'slot 2 to exit again', 10_000);
    const held = await h.reconciler.reconcileNow(3, {});
    expect(held.reason).toContain('2 times');
  }, 60_000);
});
