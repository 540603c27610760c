/**
 * The learned arrival profile lives in the policy connector's component state, in the
 * daemon's SQLite store: a restarted daemon forecasts from what the stopped one learned.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import { settle, VirtualClock } from '../../src/core/clock.js';
import { createDaemon } from '../../src/daemon.js';
import type { PolicyState } from '../../src/policy/evaluate.js';
import { defaultRegistry } from '../../src/registry.js';

const HOUR = 3_600_000;
const MONDAY = Date.UTC(2026, 0, 5);

const config = `[[trigger]]
type = "http_endpoint"
id = "queue"

[[connect]]
type = "policy"
id = "jobs"
from = "trigger.queue"
to = "scaler.agents"
metric = "waiting"
include = "running"
strategy = "jobs"
target_wait = "30s"
startup = "90s"
job_duration = "4m"
forecast = { mode = "arrivals", min_history = "1h", lookahead = "startup", bucket = "15m" }

[[scaler]]
type = "noop"
id = "agents"
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function daemon(dir: string, clock: VirtualClock) {
  const loaded = loadConfigText(config, join(dir, 'w.toml'), defaultRegistry(), {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  const { engine, stop } = createDaemon(loaded.config, {
    logger: pino({ level: 'silent' }),
    clock,
    http: false,
    statePath: join(dir, 'state.db'),
    shutdownGraceMs: 5000,
  });
  await engine.start();
  const reasons: string[] = [];
  engine.bus.subscribeAll((e) => {
    if (e.topic === 'scaler.agents.input') reasons.push(String(e.data.reason));
  });
  const read = async (waiting: number, running: number) => {
    await engine.fire('trigger.queue', { waiting, running });
    for (let i = 0; i < 10; i++) await settle();
  };
  return { engine, reasons, read, stop };
}

describe('forecast across a restart', () => {
  it('the profile learned before a restart is read from the store after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-forecast-'));
    dirs.push(dir);
    const clock = new VirtualClock(MONDAY);
    const first = await daemon(dir, clock);
    // Two hours of readings: 20 jobs in the system from 01:00 to 01:30, quiet otherwise.
    for (let t = 0; t < 2 * HOUR; t += 15_000) {
      const busy = t >= HOUR && t < 1.5 * HOUR;
      await first.read(0, busy ? 20 : 0);
      await clock.advance(15_000);
    }
    const learned = first.engine.store.getState<PolicyState>('connector.jobs', 'policy')?.profile;
    expect(learned?.learnedMs).toBeGreaterThanOrEqual(2 * HOUR - 15_000);
    await first.stop();

    // A new daemon on the same state file, the next day at 00:58:30: 90 s before 01:00.
    clock.set(MONDAY + 24 * HOUR + HOUR - 90_000);
    const second = await daemon(dir, clock);
    expect(second.engine.store.getState<PolicyState>('connector.jobs', 'policy')?.profile).toEqual(learned);
    await second.read(0, 0);
    expect(second.reasons.at(-1)).toMatch(
      /forecast 01:00-01:15 on any day in 90s: 20 jobs, .* → 20 busy \+ \d+ spare = \d+, adds \d+/,
    );
    await second.stop();
  }, 30_000);
});
