import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import type { Member } from '../../src/core/types.js';
import { parsePolicyConfig } from '../../src/policy/config.js';
import { evaluatePolicy, initialPolicyState } from '../../src/policy/evaluate.js';
import { observeStartups } from '../../src/policy/startup.js';
import { defaultRegistry } from '../../src/registry.js';
import { simulateConfig } from '../../src/sim/run.js';
import { loadTraceFile } from '../../src/sim/trace.js';

const member = (id: string, startedAt: number, ready: boolean): Member => ({
  id,
  state: ready ? 'running' : 'starting',
  startedAt,
  ready,
});

describe('observed start-up', () => {
  it('a member seen starting, then ready: start to the midpoint of the two readings', () => {
    let e = observeStartups(null, 30_000, [member('a', 0, false)], 10_000);
    expect(e).toMatchObject({ estimate: 30_000, samples: 0, pending: { a: [0, 10_000] } });
    e = observeStartups(e, 30_000, [member('a', 0, false)], 80_000);
    e = observeStartups(e, 30_000, [member('a', 0, true)], 100_000);
    // Ready between 80 s and 100 s: 90 s. Seeded by the 30 s setting, weight 0.1: 30 + 0.1 × 60.
    expect(e).toMatchObject({ estimate: 36_000, samples: 1, pending: {} });
  });

  it('the last start-ups weigh most: thirty of 90 s bring a 30 s seed within 3 s of 90', () => {
    let e = observeStartups(null, 30_000, [], 0);
    for (let i = 0; i < 30; i++) {
      const start = i * 200_000;
      e = observeStartups(e, 30_000, [member(`m${i}`, start, false)], start + 85_000);
      e = observeStartups(e, 30_000, [member(`m${i}`, start, true)], start + 95_000);
    }
    expect(e.samples).toBe(30);
    expect(Math.abs(e.estimate - 90_000)).toBeLessThan(3000);
  });

  it('no sample from members never seen starting, from scalers that do not report ready, or a reused id', () => {
    let e = observeStartups(null, 30_000, [member('adopted', 0, true)], 5000);
    expect(e.samples).toBe(0);
    e = observeStartups(e, 30_000, [{ id: 'x', state: 'running', startedAt: 0 }], 6000);
    expect(e).toMatchObject({ samples: 0, pending: {} });
    e = observeStartups(e, 30_000, [member('y', 1000, false)], 7000);
    // The same id with another start time is another member: not a sample.
    e = observeStartups(e, 30_000, [member('y', 50_000, true)], 90_000);
    expect(e.samples).toBe(0);
    // A scaler that lists no members leaves the estimate as it was.
    expect(observeStartups(e, 30_000, undefined, 100_000)).toBe(e);
  });

  it('strategy jobs uses the observed start-up instead of the setting, and says so', () => {
    const config = parsePolicyConfig({ strategy: 'jobs', include: 'running', target_wait: '10s', startup: '30s' });
    const state = { ...initialPolicyState(), startup: { pending: {}, estimate: 90_400, samples: 4 } };
    const d = evaluatePolicy(config, state, { current: 0, metric: 1, include: 0, label: 'ci' }, 1_000_000);
    expect(d.reason).toContain('start-up 90s observed over 4 members (setting 30s)');
    // The blind time is the observed 90 s minus the 10 s target.
    expect(d.reason).toMatch(/in the 80s a new member cannot cover/);
  });

  it('through the simulator: a config saying 30 s against members that take 90 s learns about 90 s', async () => {
    const text = `[[trigger]]
type = "buildkite"
id = "queue"
token_env = "T"
interval = "15s"

[[connect]]
type = "policy"
id = "jobs"
from = "trigger.queue"
to = "scaler.agents"
metric = "scheduled_jobs_count"
include = "running_jobs_count"
strategy = "jobs"
target_wait = "30s"
startup = "30s"

[[scaler]]
type = "process"
id = "agents"
command = "agent"
busy_check = "busy"
`;
    const loaded = loadConfigText(text, '/sim/startup.toml', defaultRegistry(), { T: 'x' });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const reasons: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) {
          const entry = JSON.parse(line) as { msg?: string; reason?: string };
          if (entry.msg === 'policy decided' && entry.reason) reasons.push(entry.reason);
        }
        done();
      },
    });
    await simulateConfig(loaded.config, loadTraceFile('examples/traces/ci-jobs.csv', { kind: 'jobs' }), {
      startupMs: 90_000,
      speed: 'max',
      memberCapacity: 1,
      logger: pino({ level: 'info' }, sink),
    });
    const seconds = reasons
      .map((r) => /start-up (\d+)s observed over (\d+) members/.exec(r))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]));
    expect(seconds.length).toBeGreaterThan(10);
    // Within one reading interval plus one resync of the truth, on the long side.
    const last = seconds.at(-1) ?? 0;
    expect(last).toBeGreaterThanOrEqual(85);
    expect(last).toBeLessThanOrEqual(90 + 15 + 15);
  }, 60_000);
});
