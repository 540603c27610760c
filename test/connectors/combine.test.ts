import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import { configMessages, type RunningEngine, runEngine } from './run-engine.js';

const running: RunningEngine[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

const sources =
  '[[trigger]]\ntype = "http_endpoint"\nid = "queue"\n[[trigger]]\ntype = "http_endpoint"\nid = "running"\n';
const tail =
  '[[connect]]\ntype = "policy"\nid = "p"\nfrom = "connector.load"\nto = "scaler.agents"\nstrategy = "pass_through"\n' +
  '[connect.scale_up]\npolicies = [{ type = "count", value = 100, period = "15s" }]\n' +
  '[connect.scale_down]\nstabilization_window = "0s"\n' +
  '[[scaler]]\ntype = "noop"\nid = "agents"\n';
const combine = (extra: string) =>
  `[[connect]]\ntype = "combine"\nid = "load"\nfrom = ["trigger.queue", "trigger.running"]\n${extra}`;

async function start(extra: string) {
  const clock = new VirtualClock();
  const r = await runEngine(`${sources}${combine(extra)}${tail}`, { clock });
  running.push(r);
  const send = async (source: string, data: Record<string, unknown>) => {
    await r.engine.fire(`trigger.${source}`, data);
    await r.settle();
  };
  const fail = async (source: string, error: string) => {
    r.engine.bus.emit(`trigger.${source}.error`, `trigger.${source}`, { error });
    await r.settle();
  };
  const outputs = () => r.on('connector.load.output');
  const errors = () => r.on('connector.load.error').map((d) => d.error);
  const asked = () => r.on('scaler.agents.input').map((d) => d.desired);
  return { ...r, clock, send, fail, outputs, errors, asked };
}

describe('combine connector through the engine', () => {
  it.each([
    ['max', '', 7, 'max of queue 7, running 3 = 7'],
    ['min', 'mode = "min"\n', 3, 'min of queue 7, running 3 = 3'],
    ['sum', 'mode = "sum"\n', 10, 'sum of queue 7, running 3 = 10'],
    ['avg', 'mode = "avg"\n', 5, 'avg of queue 7, running 3 = 5'],
    [
      'formula',
      'mode = "formula"\nformula = "queue + running * 0.5"\n',
      8.5,
      'queue + running * 0.5 over queue 7, running 3 = 8.5',
    ],
  ])('%s', async (_mode, extra, value, reason) => {
    const c = await start(extra);
    await c.send('queue', { value: 7 });
    await c.send('running', { value: 3 });
    expect(c.outputs().at(-1)).toEqual({ value, reason });
  });

  it('says which sources have not reported yet, and a policy reads the result', async () => {
    const c = await start('');
    await c.send('queue', { value: 4 });
    expect(c.outputs()).toEqual([{ value: 4, reason: 'max of queue 4 = 4 (no reading yet from running)' }]);
    expect(c.asked()).toEqual([4]);
    expect(c.on('scaler.agents.input')[0]?.reason).toBe(
      'load 4 passed through; target not observed yet, current taken as 0; load: max of queue 4 = 4 (no reading yet from running)',
    );
  });

  it('reads each source with its own metric expression', async () => {
    const c = await start('mode = "sum"\n[connect.metric]\nqueue = "jobs.waiting"\n');
    await c.send('queue', { jobs: { waiting: 6 } });
    await c.send('running', { value: 2 });
    expect(c.outputs().at(-1)).toEqual({ value: 8, reason: 'sum of queue 6, running 2 = 8' });
  });

  it('a stale source drops out', async () => {
    const c = await start('stale_after = "1m"\n');
    await c.send('queue', { value: 9 });
    await c.clock.advance(90_000);
    await c.send('running', { value: 3 });
    expect(c.outputs().at(-1)).toEqual({ value: 3, reason: 'max of running 3 = 3 (queue stale (90s old > 1m))' });
  });

  it('a failing source drops out; when none is left it emits nothing, says why, and the policy holds', async () => {
    const c = await start('');
    await c.send('queue', { value: 5 });
    await c.send('running', { value: 2 });
    await c.fail('queue', 'redis: connection refused');
    expect(c.outputs().at(-1)).toEqual({
      value: 2,
      reason: 'max of running 2 = 2 (queue failing: redis: connection refused)',
    });
    const outputs = c.outputs().length;
    await c.send('running', { value: 'lots' });
    expect(c.outputs()).toHaveLength(outputs);
    expect(c.errors()).toEqual([
      'no usable source: queue failing: redis: connection refused; running failing: metric `value` is not a number: "lots", holds',
    ]);
    // The policy sees the combine's error as a failed reading and holds (on_error = "hold").
    expect(c.asked()).toEqual([5, 2]);
  });
});

describe('combine connector config', () => {
  const wrap = (extra: string, from = '["trigger.queue", "trigger.running"]') =>
    `${sources}[[connect]]\ntype = "combine"\nid = "load"\nfrom = ${from}\n${extra}${tail}`;
  it.each([
    [
      'formula mode without a formula',
      wrap('mode = "formula"\n'),
      ['error: w.toml: connector.load: field "formula": mode = "formula" needs `formula`'],
    ],
    [
      'a formula in another mode',
      wrap('formula = "queue"\n'),
      ['error: w.toml: connector.load: field "formula": `formula` is set but mode is "max"'],
    ],
    [
      'a metric for a source it does not read',
      wrap('[connect.metric]\nqueu = "value"\n'),
      ['error: w.toml: connector.load: field "metric.queu": "queu" is not a source; sources are "queue", "running"'],
    ],
    [
      'two sources with one name',
      wrap('', '["trigger.queue", "connector.queue"]'),
      [
        'error: w.toml: connector.load: field "from[1]": two sources are both named "queue": a source goes by its id, so ids must differ',
      ],
    ],
    [
      'a scaler as its target',
      wrap('to = "scaler.agents"\n'),
      [
        'error: w.toml: connector.load: field "to": combine emits a metric, not a count: read it with a policy (from = "connector.load", to = "scaler.agents")',
      ],
    ],
  ])('%s is a config error', (_name, text, expected) => {
    expect(configMessages(text)).toEqual(expected);
  });
});
