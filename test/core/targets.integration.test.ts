/**
 * The headline case of issue 9, through the engine: a cascade over a process tier capped at
 * 2 (real processes, found in /proc) and a keyed aws_ec2_asg tier (the group is named by the
 * data the cascade routes, one group per queue) against the local AWS API. Asked for 5,
 * tier 2 really has 3, and every view (the tier's handle for that target, the cascade's
 * member for that tier, /api/components, the decisions, the metrics) says 3 there.
 * Real processes and real HTTP, so a real clock; waits poll a condition with a deadline, and
 * resyncs are an hour apart so none runs behind the test's back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealClock } from '../../src/core/clock.js';
import type { Member } from '../../src/core/types.js';
import { type RunningEngine, runEngine } from '../connectors/run-engine.js';
import { type AwsApi, startAwsApi } from '../fixtures/aws-api.js';
import { useTestAwsCredentials } from '../helpers/aws-env.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { waitUntil } from '../helpers/scaler-harness.js';

const vm = `targets_vm_${process.pid}`;
const QUEUE = 'linux';

const config = (endpoint: string) => `
[[scaler]]
type = "cascade"
id = "agents"
tiers = [{ scaler = "scaler.${vm}", capacity = 2 }, { scaler = "scaler.asg" }]
resync_interval = "1h"

[[scaler]]
type = "process"
id = "${vm}"
command = "sleep"
args = ["300"]
stop_timeout = "2s"
resync_interval = "1h"
on_shutdown = "stop"

[[scaler]]
type = "aws_ec2_asg"
id = "asg"
region = "eu-west-1"
endpoint = "${endpoint}"
resync_interval = "1h"
`;

/** Decisions made, counting those folded into a row as repeats of the one before. */
function decided(decisions: { repeats?: number }[]): number {
  return decisions.reduce((n, d) => n + 1 + (d.repeats ?? 0), 0);
}

describe('cascade over a process tier and a keyed aws_ec2_asg tier (targets are first-class)', () => {
  let api: AwsApi;
  let restoreEnv: () => void;
  let r: RunningEngine;
  const processes = () => pidsWithEnv('WAYMOND_SCALER', vm).length;
  const groupDesired = (name: string) => api.groups.get(name)?.desired ?? 0;

  beforeAll(async () => {
    restoreEnv = useTestAwsCredentials();
    api = await startAwsApi();
    api.addGroup({ name: QUEUE, minSize: 0, maxSize: 10, desired: 0 });
    api.addGroup({ name: 'windows', minSize: 0, maxSize: 10, desired: 0 });
    r = await runEngine(config(api.endpoint), { clock: new RealClock() });
  });
  afterAll(async () => {
    await r?.stop();
    killAll(pidsWithEnv('WAYMOND_SCALER', vm));
    await api?.close();
    restoreEnv?.();
  });

  /** Asks the cascade for `desired` on `queue` and waits until its decision is stored. */
  async function ask(desired: number, queue = QUEUE): Promise<void> {
    const before = decided(await r.engine.store.listDecisions({ scaler: 'scaler.agents' }));
    await r.engine.fire('scaler.agents', { desired, asg_name: queue, reason: `asked ${desired}` });
    await waitUntil(
      async () => decided(await r.engine.store.listDecisions({ scaler: 'scaler.agents' })) > before,
      `the cascade's decision for ${desired}`,
      20_000,
    );
    await r.settle();
  }

  /** Every tier's observed count equals the real count of the target the cascade routes to. */
  function expectTruth(queue: string): void {
    const tier1 = r.engine.scaler(`scaler.${vm}`);
    const tier2 = r.engine.scaler('scaler.asg');
    const cascade = r.engine.scaler('scaler.agents');
    expect(tier1?.lastObserved(tier1.targetOf({ asg_name: queue }))?.count).toBe(processes());
    expect(tier2?.targetOf({ asg_name: queue })).toBe(queue);
    expect(tier2?.lastObserved(queue)?.count).toBe(groupDesired(queue));
    const members = (cascade?.lastObserved()?.members ?? []) as Member[];
    expect(members.map((m) => [m.id, m.info?.count])).toEqual([
      [`scaler.${vm}`, processes()],
      ['scaler.asg', groupDesired(queue)],
    ]);
    expect(cascade?.lastObserved()?.count).toBe(processes() + groupDesired(queue));
  }

  it('asked for 5: tier 2 really has 3, and the cascade observes 3 there', async () => {
    await ask(5);
    await waitUntil(() => processes() === 2, 'two processes on tier 1', 20_000);
    expect(groupDesired(QUEUE)).toBe(3);
    expectTruth(QUEUE);
  });

  it('stays true at every step, in and out', async () => {
    for (const desired of [7, 3, 2, 6, 0]) {
      await ask(desired);
      await waitUntil(() => processes() === Math.min(desired, 2), `${Math.min(desired, 2)} processes`, 20_000);
      expect(groupDesired(QUEUE)).toBe(Math.max(0, desired - 2));
      expectTruth(QUEUE);
    }
  });

  it('shows each target on its own: status, decisions and metrics carry the target', async () => {
    await ask(4, QUEUE);
    await ask(3, 'windows');
    // The cascade's tier 1 serves both queues from one VM; tier 2 has one group per queue.
    const asg = r.engine.listComponents().find((c) => c.address === 'scaler.asg');
    const targets = Object.fromEntries((asg?.targets ?? []).map((t) => [t.target, t.observed]));
    expect(targets).toEqual({ [QUEUE]: groupDesired(QUEUE), windows: groupDesired('windows') });
    expect(asg?.observed).toBe(groupDesired(QUEUE) + groupDesired('windows'));
    const decision = (await r.engine.store.listDecisions({ scaler: 'scaler.asg' }))[0];
    expect(decision?.target).toBe('windows');
    const metrics = await r.metrics.text();
    expect(metrics).toContain(
      `waymond_scaler_current_replicas{scaler="scaler.asg",target="${QUEUE}"} ${groupDesired(QUEUE)}`,
    );
    expect(metrics).toContain(
      `waymond_scaler_current_replicas{scaler="scaler.asg",target="windows"} ${groupDesired('windows')}`,
    );
  });
});

describe("a policy's current is the count of the target its output goes to", () => {
  let api: AwsApi;
  let restoreEnv: () => void;
  let r: RunningEngine | undefined;
  beforeAll(async () => {
    restoreEnv = useTestAwsCredentials();
    api = await startAwsApi();
    api.addGroup({ name: 'linux', minSize: 0, maxSize: 10, desired: 0 });
    api.addGroup({ name: 'windows', minSize: 0, maxSize: 10, desired: 0 });
  });
  afterAll(async () => {
    await r?.stop();
    await api?.close();
    restoreEnv?.();
  });

  it('reads the configured group, not the sum over every group the scaler serves', async () => {
    r = await runEngine(
      `
[[trigger]]
type = "http_endpoint"
id = "queue"

[[connect]]
type = "policy"
id = "agents_for_linux"
from = "trigger.queue"
to = "scaler.asg"
strategy = "per_replica"
per_replica = 3

[[scaler]]
type = "aws_ec2_asg"
id = "asg"
region = "eu-west-1"
endpoint = "${api.endpoint}"
asg_name = "linux"
resync_interval = "1h"
`,
      { clock: new RealClock() },
    );
    const engine = r.engine;
    const decisions = () => engine.store.listDecisions({ scaler: 'scaler.asg' });
    // Another queue's group, asked for directly: the scaler now serves two targets.
    await engine.fire('scaler.asg', { desired: 4, asg_name: 'windows' });
    await waitUntil(async () => (await decisions()).length === 1, 'the windows decision');
    await engine.fire('trigger.queue', { value: 6 });
    await waitUntil(async () => (await decisions()).length === 2, 'the policy decision');
    const [policyDecision] = await decisions();
    expect(policyDecision?.target).toBe('linux');
    // Its current came from the linux group (not observed yet), not from windows' 4.
    expect(policyDecision?.reason).toBe('queue 6 / 3 per replica = 2; target not observed yet, current taken as 0');
    expect(api.groups.get('linux')?.desired).toBe(2);
    expect(api.groups.get('windows')?.desired).toBe(4);
  });
});
