/**
 * `max` caps the processes actually running: a member that is stopping still counts until
 * it has exited. Members take 2 s to exit after SIGTERM; rapid changes between 0 and max
 * must never leave more than max live members, and the fleet still reaches max after.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processScaler } from '../../src/scalers/process.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';

const MAX = 4;
const dir = mkdtempSync(join(tmpdir(), 'waymond-process-max-'));
const script = join(dir, 'slow-exit.sh');
writeFileSync(script, "#!/bin/sh\ntrap 'sleep 2; exit 0' TERM\nwhile true; do sleep 0.1; done\n");
chmodSync(script, 0o755);
const id = `max_${process.pid}`;
let harness: Harness | undefined;

afterAll(async () => {
  await harness?.close();
  killAll(pidsWithEnv('WAYMOND_SCALER', id));
  rmSync(dir, { recursive: true, force: true });
});

describe('process scaler: max caps live members', () => {
  it(`rapid changes with members that take 2 s to exit never leave more than max (${MAX}) running`, async () => {
    harness = await startHarness(processScaler, id, { command: script, max: MAX, stop_timeout: '10s' });
    const h = harness;
    h.reconciler.start(); // the resync timer, as the engine starts it
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, pidsWithEnv('WAYMOND_SCALER', id).length);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      for (let change = 0; change < 12; change++) await h.reconciler.reconcileNow(change % 2 === 0 ? MAX : 0, {});
      await h.reconciler.reconcileNow(MAX, {});
      // The resync starts the rest once the stopping members have exited.
      await waitUntil(async () => (await h.scaler.observe({})).count === MAX, `${MAX} members again`);
      await waitUntil(() => pidsWithEnv('WAYMOND_SCALER', id).length === MAX, `only ${MAX} processes left`);
    } finally {
      sampling = false;
      await sampler;
    }
    console.log(`max cap: peak ${peak} live members under max ${MAX} (12 changes, 2 s exits)`);
    expect(peak).toBeLessThanOrEqual(MAX);
    expect(peak).toBe(MAX);
  }, 60_000);
});
