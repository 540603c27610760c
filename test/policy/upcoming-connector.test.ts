/** forecast.upcoming through the real policy connector: the field is read from each event. */
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningEngine, runEngine } from '../connectors/run-engine.js';

const running: RunningEngine[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

const config = `[[trigger]]
type = "http_endpoint"
id = "queue"

[[connect]]
type = "policy"
id = "jobs"
from = "trigger.queue"
to = "scaler.agents"
metric = "scheduled_jobs_count"
include = "running_jobs_count"
strategy = "jobs"
target_wait = "20s"
startup = "90s"
forecast = { upcoming = "waiting_jobs_count" }

[[scaler]]
type = "noop"
id = "agents"
`;

describe('forecast.upcoming through the connector', () => {
  it('jobs behind a wait step, as the Buildkite trigger reports them, start members now', async () => {
    const r = await runEngine(config);
    running.push(r);
    await r.engine.fire('trigger.queue', { scheduled_jobs_count: 1, running_jobs_count: 2, waiting_jobs_count: 4 });
    await r.settle();
    const [first] = r.on('scaler.agents.input');
    expect(first?.desired).toBe(7);
    expect(String(first?.reason)).toMatch(
      /^queue: 1 waiting \+ 2 running, .*, 4 not runnable yet \(waiting_jobs_count\) → \+4, .*: 7;/,
    );
    // Without the field in the event the policy sizes by what is runnable only.
    await r.engine.fire('trigger.queue', { scheduled_jobs_count: 10, running_jobs_count: 2 });
    await r.settle();
    const second = r.on('scaler.agents.input').at(-1);
    expect(second?.desired).toBeGreaterThanOrEqual(12);
    expect(String(second?.reason)).toMatch(/^queue: 10 waiting \+ 2 running, /);
    expect(String(second?.reason)).not.toContain('not runnable yet');
  });
});
