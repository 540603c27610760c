import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import { configMessages, type RunningEngine, runEngine } from './run-engine.js';

const running: RunningEngine[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

const hook = '[[trigger]]\ntype = "http_endpoint"\nid = "queue"\n';
const agents = '[[scaler]]\ntype = "noop"\nid = "agents"\n';
const policy = (extra = '') =>
  `[[connect]]\ntype = "policy"\nid = "p"\nfrom = "trigger.queue"\nto = "scaler.agents"\n${extra}`;
const perReplica = 'strategy = "per_replica"\nper_replica = 3\nmax = 10\n';
// Lifts the default scale-up rate limit (4 members or 100% per 15s) where a test is not about it.
const fast = '[connect.scale_up]\npolicies = [{ type = "count", value = 100, period = "15s" }]\n';

async function start(extra: string, clock = new VirtualClock()) {
  const r = await runEngine(`${hook}${agents}${policy(extra)}`, { clock });
  running.push(r);
  const send = async (data: Record<string, unknown>) => {
    await r.engine.fire('trigger.queue', data);
    await r.settle();
  };
  const sourceError = async (error: string) => {
    r.engine.bus.emit('trigger.queue.error', 'trigger.queue', { error });
    await r.settle();
  };
  const asked = () => r.on('scaler.agents.input').map((d) => d.desired);
  const reasons = () => r.on('scaler.agents.input').map((d) => d.reason);
  const errors = () => r.on('connector.p.error').map((d) => d.error);
  const count = () => r.engine.scaler('scaler.agents')?.lastObserved()?.count;
  return { ...r, clock, send, sourceError, asked, reasons, errors, count };
}

describe('policy connector through the engine', () => {
  it('per_replica: asks for ceil(metric / per_replica), capped by max, and says so', async () => {
    const p = await start(perReplica + fast);
    await p.send({ value: 42 });
    expect(p.asked()).toEqual([10]);
    expect(p.reasons()).toEqual([
      'queue 42 / 3 per replica = 14, capped by max 10; target not observed yet, current taken as 0',
    ]);
    expect(p.on('scaler.agents.input')[0]).toMatchObject({ desired: 10, metric: 42 });
    const [decision] = await p.engine.store.listDecisions({ scaler: 'scaler.agents' });
    expect(decision).toMatchObject({ desired: 10, reason: p.reasons()[0] });
  });

  it('scale_up policies limit the rate, as the HPA does by default', async () => {
    const p = await start(perReplica);
    await p.send({ value: 42 });
    expect(p.reasons()).toEqual([
      'queue 42 / 3 per replica = 14, limited to 4 by scale_up policies; target not observed yet, current taken as 0',
    ]);
    await p.clock.advance(15_000);
    await p.send({ value: 42 });
    expect(p.asked()).toEqual([4, 8]);
  });

  it('reads current from the scaler observation once there is one, and holds when nothing changes', async () => {
    const p = await start(perReplica + fast);
    await p.send({ value: 12 });
    expect(p.count()).toBe(4);
    await p.send({ value: 11 });
    expect(p.asked()).toEqual([4]);
    await p.send({ value: 15 });
    expect(p.asked()).toEqual([4, 5]);
    expect(p.reasons()[1]).toBe('queue 15 / 3 per replica = 5');
  });

  it('evaluates a JSONata metric and names it by label', async () => {
    const p = await start(`${perReplica}metric = "jobs.waiting + jobs.running"\nlabel = "jobs"\n`);
    await p.send({ jobs: { waiting: 5, running: 4 } });
    expect(p.asked()).toEqual([3]);
    expect(p.reasons()[0]).toMatch(/^jobs 9 \/ 3 per replica = 3;/);
  });

  it.each([
    ['missing', { other: 1 }, 'metric `value` found nothing in the event'],
    ['a string', { value: 'many' }, 'metric `value` is not a number: "many"'],
    ['negative', { value: -3 }, 'queue -3 is negative'],
  ])('a %s metric is an error event and holds the count', async (_name, data, why) => {
    const p = await start(perReplica);
    await p.send({ value: 9 });
    await p.send(data);
    expect(p.asked()).toEqual([3]);
    expect(p.errors()).toHaveLength(1);
    expect(p.errors()[0]).toContain(why);
    expect(p.errors()[0]).toContain('holds at 3');
  });

  it('on_error = "hold": a source error event holds the count and is not reported twice', async () => {
    const p = await start(perReplica);
    await p.send({ value: 9 });
    await p.clock.advance(30_000);
    await p.sourceError('redis: connection refused');
    expect(p.asked()).toEqual([3]);
    expect(p.errors()).toEqual([]);
    expect(p.count()).toBe(3);
  });

  it('on_error = "fallback" applies after error_after failures and never scales down', async () => {
    const p = await start(`${perReplica}fallback = 6\nerror_after = 2\n`);
    await p.send({ value: 3 });
    await p.clock.advance(30_000);
    await p.sourceError('timeout');
    expect(p.asked()).toEqual([1]);
    await p.sourceError('timeout');
    expect(p.asked()).toEqual([1, 6]);
    expect(p.reasons()[1]).toBe('queue failed: trigger.queue: timeout, fallback 6');
  });

  it('stale_after: silence counts as a failed reading, once per period, then the fallback applies', async () => {
    const p = await start(`${perReplica}stale_after = "1m"\nfallback = 2\nerror_after = 2\n`);
    await p.send({ value: 3 });
    await p.clock.advance(30_000);
    expect(p.errors()).toEqual([]);
    await p.clock.advance(30_000);
    expect(p.errors()).toEqual([
      'queue failed: no event from trigger.queue for 1m (stale_after) (1 of 2 failures before on_error applies), holds at 1',
    ]);
    await p.clock.advance(60_000);
    expect(p.asked()).toEqual([1, 2]);
    expect(p.errors()[1]).toBe('queue failed: no event from trigger.queue for 1m (stale_after), fallback 2');
    // A fresh reading resets the count of failures.
    await p.send({ value: 3 });
    await p.clock.advance(30_000);
    expect(p.errors()).toHaveLength(2);
  });

  it('schedules raise min while their window is open', async () => {
    // The virtual clock starts at 2026-01-01T00:00Z, inside a window that opens at midnight.
    const p = await start(
      `${perReplica}[[connect.schedules]]\nname = "night build"\ncron = "0 0 * * *"\nduration = "2h"\nmin = 4\n`,
    );
    await p.send({ value: 0 });
    expect(p.asked()).toEqual([4]);
    expect(p.reasons()[0]).toBe(
      'queue 0 / 3 per replica = 0, raised to min 4 of schedule "night build" (2h until 2026-01-01T02:00:00Z); target not observed yet, current taken as 0',
    );
    await p.clock.advance(3 * 3_600_000);
    await p.send({ value: 0 });
    expect(p.asked()).toEqual([4, 0]);
  });

  it('keeps its windows and cooldowns in persisted state', async () => {
    const p = await start(`${perReplica}[connect.scale_up]\ncooldown = "5m"\n`);
    await p.send({ value: 3 });
    await p.clock.advance(30_000);
    await p.send({ value: 9 });
    expect(p.asked()).toEqual([1]);
    expect(p.engine.store.getState('connector.p', 'policy')).toMatchObject({ lastScaleUpAt: expect.any(Number) });
  });
});

describe('policy connector config', () => {
  const wrap = (extra: string, to = 'scaler.agents') =>
    `${hook}${agents}[[connect]]\ntype = "policy"\nid = "p"\nfrom = "trigger.queue"\nto = "${to}"\n${extra}`;

  it.each([
    [
      'to that is not a scaler',
      wrap(perReplica, 'trigger.queue'),
      [
        'error: w.toml: connector.p: field "to": expected a scaler address like "scaler.<id>": a policy decides a count for a scaler, found string "trigger.queue"',
      ],
    ],
    [
      'to an unknown scaler',
      wrap(perReplica, 'scaler.agent'),
      [
        'error: w.toml: connector.p: field "to": unknown address "scaler.agent" (did you mean "scaler.agents"?)',
        'warning: w.toml: scaler.agents: nothing feeds this scaler (no connector has it as "to"); it only resyncs its saved count',
      ],
    ],
    [
      'a strategy without its field',
      wrap('strategy = "per_replica"\n'),
      ['error: w.toml: connector.p: field "per_replica": strategy per_replica needs `per_replica`'],
    ],
    [
      'a metric that is not JSONata',
      wrap(`${perReplica}metric = "jobs.("\n`),
      [expect.stringMatching(/^error: w\.toml: connector\.p: field "metric": invalid JSONata expression: /)],
    ],
  ])('%s is a config error', (_name, text, expected) => {
    expect(configMessages(text)).toEqual(expected);
  });

  it('reads one source only', () => {
    const text = `${hook}${agents}[[connect]]\ntype = "policy"\nid = "p"\nfrom = ["trigger.queue"]\nto = "scaler.agents"\n${perReplica}`;
    expect(configMessages(text)[0]).toMatch(/^error: w\.toml: connector\.p: field "from": expected string/);
  });
});
