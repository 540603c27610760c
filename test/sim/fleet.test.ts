import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import { VirtualClock } from '../../src/core/clock.js';
import type { Member, Plan } from '../../src/core/types.js';
import { defaultRegistry } from '../../src/registry.js';
import { eventsFor } from '../../src/sim/emit.js';
import { SimFleet } from '../../src/sim/fleet.js';
import { JobQueue } from '../../src/sim/jobs.js';
import { simulateConfig } from '../../src/sim/run.js';
import { parseTrace } from '../../src/sim/trace.js';
import { queueEvents } from '../../src/triggers/ci/buildkite.js';

const ORIGIN = Date.UTC(2026, 0, 1);
const s = (seconds: number) => seconds * 1000;

function plan(fleet: SimFleet, desired: number, remove: Member[], add = 0): Plan {
  return {
    desired,
    observed: { count: fleet.count, members: [] },
    add,
    remove,
    data: {},
    reason: 'test',
  };
}

describe('SimFleet.apply removes exactly what the plan names', () => {
  async function twoBusyAgents() {
    const clock = new VirtualClock(ORIGIN);
    // Two 10-minute jobs at 0 s; agents ready after 10 s pick them up.
    const workload = new JobQueue([
      { arrival: 0, duration: s(600) },
      { arrival: 0, duration: s(600) },
    ]);
    const fleet = new SimFleet({ id: 'agents', clock, originMs: ORIGIN, startupMs: s(10), workload });
    await fleet.apply(plan(fleet, 2, [], 2));
    await clock.advance(s(20));
    fleet.sync();
    const observed = await fleet.observe();
    return { clock, workload, fleet, members: observed.members ?? [] };
  }

  it('a plan that names no member while the count is above desired (all busy) keeps them all', async () => {
    const { workload, fleet, members } = await twoBusyAgents();
    expect(members.map((m) => workload.isBusy(m.id))).toEqual([true, true]);
    await fleet.apply(plan(fleet, 0, []));
    expect(fleet.count).toBe(2);
    expect(workload.summary().interrupted).toBe(0);
    expect(fleet.actions).toBe(1); // only the scale-up changed the count
  });

  it('a plan that names a member removes that one only', async () => {
    const { workload, fleet, members } = await twoBusyAgents();
    const [first, second] = members as [Member, Member];
    await fleet.apply(plan(fleet, 0, [first]));
    expect(fleet.count).toBe(1);
    expect((await fleet.observe()).members?.map((m) => m.id)).toEqual([second.id]);
    expect(workload.summary().interrupted).toBe(1);
  });

  it('through the engine, busy_check with every agent busy stops no job', async () => {
    // Ten 20-minute jobs arrive at once; a policy with no scale-down window would drop to
    // 0 as soon as the queue reading says so (pass_through of `scheduled_jobs_count`, which
    // is 0 once every job runs), but every agent is busy, so the reconciler names none.
    const loaded = loadConfigText(
      `[[trigger]]
type = "buildkite"
id = "ci"
token_env = "BK_TOKEN"
interval = "15s"

[[connect]]
type = "policy"
id = "p"
from = "trigger.ci"
to = "scaler.agents"
metric = "scheduled_jobs_count"
strategy = "pass_through"
max = 10
[connect.scale_down]
stabilization_window = "0s"

[[scaler]]
type = "process"
id = "agents"
command = "true"
max = 10
busy_check = "is-busy"
`,
      '/tmp/fleet-test.toml',
      defaultRegistry(),
      { BK_TOKEN: 'x' },
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const trace = parseTrace(Array.from({ length: 10 }, () => '0,1200').join('\n'), 'burst.csv', { kind: 'jobs' });
    const result = await simulateConfig(loaded.config, trace, {
      startupMs: s(30),
      speed: 'max',
      memberCapacity: 1,
      logger: pino({ level: 'silent' }),
      tickMs: s(15),
    });
    expect(result.interrupted).toBe(0);
    // It scaled up to the burst (8 by the default rate limits before the queue emptied);
    // before this fix the fleet stopped the newest busy agents and 52 jobs restarted.
    expect(Math.max(...result.series.map((p) => p.current))).toBe(8);
    expect(result.errors).toBe(0);
  });
});

describe('the simulator emits what each trigger type emits', () => {
  const counts = { waiting: 3, running: 2, idle: 1, starting: 4 };

  it('buildkite: the same fields as the real trigger’s queueEvents, one event for the queue', () => {
    const real = queueEvents(
      {
        jobs: { queues: { default: { scheduled: 3, running: 2, waiting: 0, total: 5 } } },
        agents: { queues: { default: { idle: 1, busy: 2, total: 3 } } },
      },
      undefined,
    );
    const simulated = eventsFor({ type: 'buildkite', config: {} }, counts);
    expect(simulated).toEqual(real);
    expect(eventsFor({ type: 'buildkite', config: { filter_by_queue_name: 'linux' } }, counts)[0]?.queue).toBe('linux');
  });

  it('github_actions and gitlab: queued and in_progress, value = queued + in_progress', () => {
    expect(eventsFor({ type: 'github_actions', config: { labels: ['self-hosted'] } }, counts)).toEqual([
      { value: 5, queued: 3, waiting: 0, in_progress: 2, labels: ['self-hosted'], source: 'poll' },
    ]);
    expect(eventsFor({ type: 'gitlab', config: { tags: ['docker'] } }, counts)).toEqual([
      { value: 5, queued: 3, waiting: 0, in_progress: 2, tags: ['docker'], source: 'poll' },
    ]);
  });

  it('redis: bullmq waiting and active, sidekiq enqueued and busy, a list only what waits', () => {
    expect(eventsFor({ type: 'redis', config: { mode: 'bullmq', queue: 'builds' } }, counts)[0]).toMatchObject({
      value: 5,
      queue: 'builds',
      waiting: 3,
      active: 2,
    });
    expect(eventsFor({ type: 'redis', config: { mode: 'sidekiq', queue: 'default' } }, counts)[0]).toMatchObject({
      value: 5,
      enqueued: 3,
      busy: 2,
    });
    expect(eventsFor({ type: 'redis', config: { mode: 'list', key: 'jobs' } }, counts)).toEqual([
      { value: 3, key: 'jobs', length: 3 },
    ]);
  });

  it('any other trigger gets value = waiting + running with both', () => {
    expect(eventsFor({ type: 'interval', config: {} }, counts)).toEqual([{ value: 5, waiting: 3, running: 2 }]);
  });
});
