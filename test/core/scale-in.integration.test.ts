/**
 * Busy-aware scale-in through the real Reconciler with real process members: each member's
 * busy state is a file the test toggles, the busy_check runs in the member's environment,
 * and a member records in a file whether it was ever sent SIGTERM.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { processScaler } from '../../src/scalers/process.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';

let dir: string;
let script: string;
let harness: Harness | undefined;
let counter = 0;

const MEMBER = `#!/bin/sh
trap 'echo term > "$DIR/term-$WAYMOND_INDEX"; exit 143' TERM
while [ ! -f "$DIR/drain-$WAYMOND_INDEX" ]; do sleep 0.1; done
exit 0
`;

async function start(extra: Record<string, unknown>): Promise<Harness> {
  const id = `scale_in_${process.pid}_${++counter}`;
  harness = await startHarness(processScaler, id, {
    command: script,
    env: { DIR: dir },
    stop_timeout: '2s',
    busy_check: 'test -f "$DIR/busy-$WAYMOND_INDEX"',
    ...extra,
  });
  return harness;
}

const slots = async (h: Harness) =>
  ((await h.scaler.observe({})).members ?? [])
    .filter((m) => m.state !== 'stopping')
    .map((m) => m.id)
    .sort();
const setBusy = (slot: number, busy: boolean) => {
  const file = join(dir, `busy-${slot}`);
  if (busy) writeFileSync(file, '1');
  else rmSync(file, { force: true });
};
const termed = (slot: number) => existsSync(join(dir, `term-${slot}`));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'waymond-scale-in-'));
  script = join(dir, 'member.sh');
  writeFileSync(script, MEMBER);
  chmodSync(script, 0o755);
});

afterEach(async () => {
  if (!harness) return;
  const id = harness.id;
  await harness.close();
  killAll(pidsWithEnv('WAYMOND_SCALER', id));
  harness = undefined;
  for (const slot of [1, 2, 3, 4])
    for (const f of ['busy', 'drain', 'term']) rmSync(join(dir, `${f}-${slot}`), { force: true });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('busy-aware scale-in (process members, real Reconciler)', () => {
  it('removes idle members even when they are not the newest, and never signals a busy one', async () => {
    const h = await start({});
    await h.reconciler.reconcileNow(4, {});
    setBusy(3, true);
    setBusy(4, true);
    const result = await h.reconciler.reconcileNow(2, {});
    expect(result.outcome).toBe('ok');
    await waitUntil(() => termed(1) && termed(2), 'the idle members to be stopped');
    expect(await slots(h)).toEqual(['slot-3', 'slot-4']);
    expect([termed(1), termed(2), termed(3), termed(4)]).toEqual([true, true, false, false]);
  });

  it('removes none while every candidate is busy, and then the idle one once it finishes', async () => {
    const h = await start({});
    await h.reconciler.reconcileNow(3, {});
    for (const slot of [1, 2, 3]) setBusy(slot, true);
    const held = await h.reconciler.reconcileNow(1, {}, null, 'asked 1');
    expect(held).toMatchObject({ outcome: 'ok', observed: 3 });
    expect(held.reason).toBe('asked 1; kept 2 of 2 surplus members: busy, or not confirmed idle');
    expect(await slots(h)).toEqual(['slot-1', 'slot-2', 'slot-3']);
    setBusy(1, false);
    await h.reconciler.reconcileNow(1, {});
    await waitUntil(() => termed(1), 'the idle member to be stopped');
    expect(await slots(h)).toEqual(['slot-2', 'slot-3']);
    expect([termed(1), termed(2), termed(3)]).toEqual([true, false, false]);
  });

  it('stops busy members once force_after has passed since scale-in was first wanted', async () => {
    const h = await start({ force_after: '1s' });
    await h.reconciler.reconcileNow(2, {});
    setBusy(1, true);
    setBusy(2, true);
    const wanted = Date.now();
    await h.reconciler.reconcileNow(1, {});
    expect(await slots(h)).toEqual(['slot-1', 'slot-2']);
    // Stopping a member waits for the real process to exit, so this runs on real time: ask
    // again until the busy member is stopped, which must not happen before force_after.
    await waitUntil(async () => {
      await h.reconciler.reconcileNow(1, {});
      return termed(2);
    }, 'the forced stop');
    expect(Date.now() - wanted).toBeGreaterThanOrEqual(1000);
    await waitUntil(() => termed(2), 'the forced stop');
    expect(await slots(h)).toEqual(['slot-1']);
    expect(termed(2)).toBe(true);
  });

  it('drains instead of stopping: the member leaves on its own and capacity is not double-counted', async () => {
    const h = await start({ drain: 'touch "$DIR/drain-$WAYMOND_INDEX"', drain_timeout: '1m' });
    await h.reconciler.reconcileNow(3, {});
    setBusy(1, true);
    const result = await h.reconciler.reconcileNow(2, {});
    expect(result.error).toBeUndefined();
    expect(existsSync(join(dir, 'drain-3'))).toBe(true);
    const observed = await h.scaler.observe({});
    expect(observed.count).toBe(2);
    const all = async () => ((await h.scaler.observe({})).members ?? []).map((m) => m.id).sort();
    await waitUntil(async () => (await all()).join() === 'slot-1,slot-2', 'the drained member to exit');
    expect((await h.reconciler.reconcileNow(2, {})).observed).toBe(2);
    expect([termed(1), termed(2), termed(3)]).toEqual([false, false, false]);
    // No replacement was started while it drained.
    expect(await all()).toEqual(['slot-1', 'slot-2']);
  });
});
