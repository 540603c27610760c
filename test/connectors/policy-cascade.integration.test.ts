/**
 * End to end with real processes: a webhook metric → policy (3 jobs per agent) → cascade
 * of two process scalers. Tier 1 holds 2 agents; the rest overflow to tier 2, and when the
 * queue shrinks tier 2 empties first. Members are found in /proc by WAYMOND_SCALER, as a
 * person would with `ps e`. Waits poll for the state; nothing asserts on timing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { RealClock } from '../../src/core/clock.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { type RunningEngine, runEngine } from './run-engine.js';

const vm = `cascade_vm_${process.pid}`;
const overflow = `cascade_overflow_${process.pid}`;
const members = (id: string) => pidsWithEnv('WAYMOND_SCALER', id).length;

const config = `
[[trigger]]
type = "http_endpoint"
id = "queue"

[[connect]]
type = "policy"
id = "agents_for_queue"
from = "trigger.queue"
to = "scaler.agents"
strategy = "per_replica"
per_replica = 3
[connect.scale_down]
stabilization_window = "0s"

[[scaler]]
type = "cascade"
id = "agents"
tiers = [{ scaler = "scaler.${vm}", capacity = 2 }, { scaler = "scaler.${overflow}" }]

[[scaler]]
type = "process"
id = "${vm}"
command = "sleep"
args = ["300"]
stop_timeout = "2s"
on_shutdown = "stop"

[[scaler]]
type = "process"
id = "${overflow}"
command = "sleep"
args = ["300"]
stop_timeout = "2s"
on_shutdown = "stop"
`;

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (condition()) return;
    await sleep(25);
  }
  throw new Error(`gave up waiting for ${what}: tier 1 has ${members(vm)}, tier 2 has ${members(overflow)}`);
}

describe('policy → cascade of two real process scalers', () => {
  let r: RunningEngine | undefined;
  afterAll(async () => {
    await r?.stop();
    killAll([...pidsWithEnv('WAYMOND_SCALER', vm), ...pidsWithEnv('WAYMOND_SCALER', overflow)]);
  });

  it('overflows into tier 2 when tier 1 is full, and drains tier 2 first', async () => {
    r = await runEngine(config, { clock: new RealClock() });
    const engine = r.engine;
    const queue = async (value: number, tiers: [number, number]) => {
      await engine.fire('trigger.queue', { value });
      await until(() => members(vm) === tiers[0] && members(overflow) === tiers[1], `${tiers} for queue ${value}`);
      await until(() => engine.scaler('scaler.agents')?.lastObserved()?.count === tiers[0] + tiers[1], 'the cascade');
    };
    // 12 jobs / 3 per agent = 4 agents: tier 1 is full at 2, the other 2 overflow.
    await queue(12, [2, 2]);
    const decision = (await engine.store.listDecisions({ scaler: 'scaler.agents' }))[0];
    expect(decision?.reason).toBe('queue 12 / 3 per replica = 4; target not observed yet, current taken as 0');
    // 9 jobs = 3 agents: tier 2 gives one up; tier 1 keeps both.
    await queue(9, [2, 1]);
    // 3 jobs = 1 agent: tier 2 empties before tier 1 loses any, then tier 1 gives one up.
    await queue(3, [1, 0]);
    const tier2 = (await engine.store.listDecisions({ scaler: `scaler.${overflow}` })).map((d) => d.desired);
    expect(tier2.reverse()).toEqual([2, 1, 0]);
    const status = engine.listComponents().find((s) => s.address === 'scaler.agents');
    expect(status?.observed).toBe(1);
    await queue(0, [0, 0]);
  });
});
