import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { settle, VirtualClock } from '../../src/core/clock.js';
import type { Member } from '../../src/core/types.js';
import { configMessages, type RunningEngine, runEngine } from '../connectors/run-engine.js';

const running: RunningEngine[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

const noop = (id: string, extra = '') => `[[scaler]]\ntype = "noop"\nid = "${id}"\n${extra}`;
const cascadeOf = (tiers: string, extra = '') =>
  `[[scaler]]\ntype = "cascade"\nid = "ci"\noverflow_after = "2m"\ntiers = [${tiers}]\n${extra}`;
const twoTiers = '{ scaler = "scaler.vm", capacity = 4 }, { scaler = "scaler.cloud" }';

/** Waits for real child processes (exec tiers) while the virtual clock stands still. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function start(text: string) {
  const clock = new VirtualClock();
  const r = await runEngine(text, { clock });
  running.push(r);
  const count = (address: string) => r.engine.scaler(address)?.lastObserved()?.count;
  const ask = async (desired: number) => {
    await r.engine.fire('scaler.ci', { desired, reason: `asked ${desired}` });
    await r.settle();
  };
  const tierReasons = async (address: string) =>
    (await r.engine.store.listDecisions({ scaler: address })).map((d) => d.reason).reverse();
  return { ...r, clock, count, ask, tierReasons };
}

describe('cascade scaler through the engine', () => {
  it('fills tier 1 to its capacity, overflows to tier 2, and says so on each tier', async () => {
    const c = await start(`${cascadeOf(twoTiers)}${noop('vm')}${noop('cloud')}`);
    await c.ask(6);
    expect([c.count('scaler.vm'), c.count('scaler.cloud'), c.count('scaler.ci')]).toEqual([4, 2, 6]);
    expect(await c.tierReasons('scaler.vm')).toEqual([
      'scaler.ci tier 1: 6 over 2 tiers: scaler.vm 0 → 4 (full), scaler.cloud 0 → 2',
    ]);
  });

  it('scales in from the last tier first', async () => {
    const c = await start(`${cascadeOf(twoTiers)}${noop('vm')}${noop('cloud')}`);
    await c.ask(7);
    await c.ask(5);
    expect([c.count('scaler.vm'), c.count('scaler.cloud')]).toEqual([4, 1]);
    await c.ask(2);
    expect([c.count('scaler.vm'), c.count('scaler.cloud')]).toEqual([2, 0]);
    expect((await c.tierReasons('scaler.cloud')).at(-1)).toBe(
      'scaler.ci tier 2: 2 over 2 tiers: scaler.vm 4 → 2, scaler.cloud 1 → 0',
    );
  });

  it('reports one member per tier, so /api/components shows where capacity sits', async () => {
    const c = await start(`${cascadeOf(twoTiers)}${noop('vm')}${noop('cloud')}`);
    await c.ask(5);
    await c.clock.advance(30_000); // the cascade's resync observes the tiers again
    const status = c.engine.listComponents().find((s) => s.address === 'scaler.ci');
    expect(status?.observed).toBe(5);
    expect(((status?.members ?? []) as Member[]).map((m) => [m.id, m.info])).toEqual([
      ['scaler.vm', { tier: 1, count: 4, ready: 4, capacity: 4, asked: 4, members: [] }],
      ['scaler.cloud', { tier: 2, count: 1, ready: 1, capacity: 1000, asked: 1, members: [] }],
    ]);
  });

  it("never puts more on a tier than the tier scaler's own max", async () => {
    const c = await start(`${cascadeOf(twoTiers)}${noop('vm', 'max = 2\n')}${noop('cloud')}`);
    await c.ask(5);
    expect([c.count('scaler.vm'), c.count('scaler.cloud')]).toEqual([2, 3]);
  });

  it('a tier whose apply fails overflows to the next at once', async () => {
    const broken = '[[scaler]]\ntype = "exec"\nid = "vm"\ncommand = "false"\n';
    const c = await start(`${cascadeOf(twoTiers)}${broken}${noop('cloud')}`);
    void c.ask(3);
    await until(() => c.count('scaler.cloud') === 3, 'tier 2 to take the 3');
    expect(c.count('scaler.vm')).toBe(0);
    const errors = c.on('scaler.ci.error').map((d) => d.error);
    expect(errors[0]).toMatch(/^tier scaler\.vm failed, its share overflows: "false" failed/);
  });

  it('a tier that stays short past overflow_after counts as full at what it has', async () => {
    // A "full VM": whatever it is asked, it only ever has 1.
    const full =
      '[[scaler]]\ntype = "exec"\nid = "vm"\ncommand = "true"\nobserve_command = "echo"\nobserve_args = ["1"]\n';
    const c = await start(`${cascadeOf(twoTiers)}${full}${noop('cloud')}`);
    void c.ask(4);
    await until(() => c.count('scaler.ci') === 1, 'the first apply');
    expect(c.count('scaler.cloud')).toBe(0);
    // Resyncs every 30s; exec's commands are real processes, so each step waits until the
    // cascade's reconcile of that resync has finished (counted even when nothing changed).
    const reconciles = async () =>
      (await c.metrics.reconciles.get()).values
        .filter((v) => v.labels.scaler === 'scaler.ci')
        .reduce((n, v) => n + v.value, 0);
    for (let i = 0; i < 6 && c.count('scaler.cloud') !== 3; i++) {
      const before = await reconciles();
      await c.clock.advance(30_000);
      await until(async () => (await reconciles()) > before, `the cascade's resync ${i + 1}`);
      await c.settle();
    }
    await until(() => c.count('scaler.cloud') === 3, 'the shortfall to overflow to tier 2');
    const reasons = await c.tierReasons('scaler.cloud');
    expect(reasons.at(-1)).toBe(
      'scaler.ci tier 2: 4 over 2 tiers: scaler.vm 1 (full), scaler.cloud 0 → 3; scaler.vm has 1 of 4 asked for 2m ≥ overflow_after 2m: treated as full at 1',
    );
  });

  it('never puts more than capacity on a tier, whatever the sequence of counts (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 6 }),
        async (first, second, counts) => {
          const tiers = `{ scaler = "scaler.a", capacity = ${first} }, { scaler = "scaler.b", capacity = ${second} }, { scaler = "scaler.c" }`;
          const c = await start(`${cascadeOf(tiers)}${noop('a')}${noop('b')}${noop('c')}`);
          for (const n of counts) {
            await c.ask(n);
            const [a, b, rest] = ['scaler.a', 'scaler.b', 'scaler.c'].map((t) => c.count(t) ?? 0) as [
              number,
              number,
              number,
            ];
            expect(a).toBeLessThanOrEqual(first);
            expect(b).toBeLessThanOrEqual(second);
            expect(a + b + rest).toBe(n);
            // Earlier tiers fill before later ones take any.
            if (rest > 0) expect([a, b]).toEqual([first, second]);
          }
          await c.stop();
          running.splice(running.indexOf(c), 1);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('cascade scaler config', () => {
  const feed =
    '[[trigger]]\ntype = "http_endpoint"\nid = "q"\n[[connect]]\ntype = "policy"\nid = "p"\nfrom = "trigger.q"\nto = "scaler.ci"\nstrategy = "pass_through"\n';
  it.each([
    [
      'a tier pointing at the cascade itself',
      cascadeOf('{ scaler = "scaler.ci" }'),
      ['error: w.toml: scaler.ci: refers to itself (scaler.ci)'],
    ],
    [
      'a tier at an unknown address',
      `${cascadeOf('{ scaler = "scaler.v" }')}${noop('vm')}`,
      [
        'error: w.toml: scaler.ci: unknown address "scaler.v" (did you mean "scaler.vm"?)',
        'warning: w.toml: scaler.vm: nothing feeds this scaler (no connector has it as "to"); it only resyncs its saved count',
      ],
    ],
    [
      'the same tier twice',
      `${cascadeOf('{ scaler = "scaler.vm" }, { scaler = "scaler.vm" }')}${noop('vm')}`,
      ['error: w.toml: scaler.ci: field "tiers[1].scaler": scaler.vm is already tier 1'],
    ],
    [
      'busy_check on the cascade',
      `${cascadeOf(twoTiers, 'busy_check = "true"\n')}${noop('vm')}${noop('cloud')}`,
      [
        'error: w.toml: scaler.ci: field "busy_check": busy_check is not supported by cascade: set it on the tier scalers, which have the members',
      ],
    ],
    [
      'on_shutdown = "stop" on the cascade (it was accepted and did nothing)',
      `${cascadeOf(twoTiers, 'on_shutdown = "stop"\n')}${noop('vm')}${noop('cloud')}`,
      [
        'error: w.toml: scaler.ci: field "on_shutdown": on_shutdown = "stop" is not supported by cascade: set it on the tier scalers, which have the members',
      ],
    ],
  ])('%s is a config error', (_name, text, expected) => {
    expect(configMessages(`${feed}${text}`)).toEqual(expected);
  });

  it('tier scalers are fed by the cascade: no "nothing feeds" warning', () => {
    expect(configMessages(`${feed}${cascadeOf(twoTiers)}${noop('vm')}${noop('cloud')}`)).toEqual([]);
  });
});
