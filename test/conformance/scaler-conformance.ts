/**
 * The conformance suite every scaler passes against its real target (or, where none can
 * run here, the documented-API test server): scale up, scale down, heal drift, adopt after
 * a restart of waymond, survive a target API error, and change nothing under --dry-run. It
 * drives the scaler through the real Reconciler, bus and SQLite store, exactly as the
 * engine does.
 *
 * Every case starts from its own fresh target (`setup` is called once per case, with a
 * scaler id of its own) and removes it afterwards: no case inherits another's count, and
 * one can run alone (`-t "scales down"`).
 *
 * Usage, in <type>.integration.test.ts:
 *   describeScalerConformance({ name: 'process', setup: async (id) => ({ ... }) });
 */
import { describe, expect, it, type TestContext } from 'vitest';
import type { ComponentDefinition, ReconcileResult } from '../../src/core/types.js';
import { type Harness, startHarness } from '../helpers/scaler-harness.js';

export interface ConformanceTarget {
  /** The scaler type's definition. */
  definition: ComponentDefinition;
  /** Raw config (as in a TOML table, without type/id), validated by the definition's schema. */
  config: Record<string, unknown>;
  /** Members as the target itself reports them (not through the scaler). */
  countOnTarget(): Promise<number>;
  /**
   * What identifies the members on the target (container names, pids, instance ids), for
   * "nothing changed" checks. A target without members (a replica count) returns [].
   */
  membersOnTarget(): Promise<string[]>;
  /** Removes one member behind waymond's back (drift). */
  removeOneBehindBack(): Promise<void>;
  /** Makes the target API fail until the returned function restores it. */
  breakTarget(): Promise<() => Promise<void>>;
  /**
   * Leaves something the scaler's housekeeping would tidy (an exited container, a finished
   * Job beyond the history limit, a stale pid file); returns whether it is still there.
   */
  leaveLitter?(): Promise<() => Promise<boolean>>;
  /** Removes everything the suite created. */
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  name: string;
  /**
   * A fresh target for one case, for the scaler id `id` (unique per case). Return undefined
   * to skip (service not available outside CI).
   */
  setup(id: string): Promise<ConformanceTarget | undefined>;
  /** How long to wait for the target to converge (e.g. containers starting). */
  convergeTimeoutMs?: number;
  /** Event data every request carries (e.g. `asg_name`). */
  data?: Record<string, unknown>;
}

interface Case {
  target: ConformanceTarget;
  running: Harness;
  /** Polls `check` until it holds, failing with what the target and the scaler show. */
  waitFor(check: () => Promise<boolean>, what: string): Promise<void>;
}

export function describeScalerConformance(options: ConformanceOptions): void {
  const data = options.data ?? {};
  const timeout = options.convergeTimeoutMs ?? 30_000;

  /** Runs `body` against a fresh target and scaler of its own, and always cleans both up. */
  const fresh = async (ctx: TestContext, slug: string, body: (c: Case) => Promise<void>) => {
    const id = `conf_${options.name.replace(/\W/g, '_')}_${slug}_${process.pid}`;
    const target = await options.setup(id);
    if (!target) return ctx.skip();
    let running: Harness | undefined;
    try {
      running = await startHarness(target.definition, id, target.config);
      const harness = running;
      const waitFor = async (check: () => Promise<boolean>, what: string) => {
        const deadline = Date.now() + timeout;
        while (Date.now() < deadline) {
          if (await check()) return;
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(
          `timed out waiting for ${what} (target has ${await target.countOnTarget()}, scaler observes ${JSON.stringify(await harness.scaler.observe(data))})`,
        );
      };
      await body({ target, running, waitFor });
    } finally {
      await running?.close();
      await target.cleanup();
    }
  };

  /** Scales a fresh target to `n` and waits until the target has them. */
  const scaleTo = async ({ target, running, waitFor }: Case, n: number) => {
    const result = await running.reconciler.reconcileNow(n, data);
    expect(result.outcome).toBe('ok');
    await waitFor(async () => (await target.countOnTarget()) === n, `${n} members on the target`);
  };

  describe(`${options.name} scaler conformance`, { timeout: 120_000 }, () => {
    it('scales up to the desired count', (ctx) =>
      fresh(ctx, 'up', async (c) => {
        expect(await c.target.countOnTarget()).toBe(0);
        await scaleTo(c, 3);
        expect((await c.running.scaler.observe(data)).count).toBe(3);
      }));

    it('scales down to the desired count', (ctx) =>
      fresh(ctx, 'down', async (c) => {
        await scaleTo(c, 3);
        const result = await c.running.reconciler.reconcileNow(1, data);
        expect(result).toMatchObject({ outcome: 'ok', observed: 3 });
        await c.waitFor(async () => (await c.target.countOnTarget()) === 1, '1 member on the target');
        await c.waitFor(async () => (await c.running.scaler.observe(data)).count === 1, 'the scaler to observe 1');
      }));

    it('heals drift: a member removed behind its back is replaced by the resync', (ctx) =>
      fresh(ctx, 'drift', async (c) => {
        await scaleTo(c, 2);
        c.running.reconciler.start();
        await c.target.removeOneBehindBack();
        await c.waitFor(async () => (await c.target.countOnTarget()) === 1, 'the removal to show');
        await c.waitFor(async () => (await c.target.countOnTarget()) === 2, 'the resync to restore 2 members');
        await c.running.reconciler.stop(5000);
      }));

    it('adopts what exists after a restart of waymond: no duplicates', (ctx) =>
      fresh(ctx, 'adopt', async (c) => {
        await scaleTo(c, 2);
        const before = (await c.target.membersOnTarget()).sort();
        await c.running.restart();
        expect((await c.running.scaler.observe(data)).count).toBe(2);
        const result: ReconcileResult = await c.running.reconciler.reconcileNow(2, data);
        expect(result).toMatchObject({ outcome: 'ok', observed: 2 });
        expect(await c.target.countOnTarget()).toBe(2);
        expect((await c.target.membersOnTarget()).sort()).toEqual(before);
      }));

    it('survives a target API error: reports it, changes nothing twice, recovers', (ctx) =>
      fresh(ctx, 'error', async (c) => {
        const restore = await c.target.breakTarget();
        let failed: ReconcileResult;
        try {
          failed = await c.running.reconciler.reconcileNow(3, data);
        } finally {
          await restore();
        }
        expect(failed.outcome).toBe('error');
        expect(failed.error).toBeTruthy();
        expect(c.running.events.some((e) => e.topic === `${failed.scaler}.error`)).toBe(true);
        const ok = await c.running.reconciler.reconcileNow(3, data);
        expect(ok.outcome).toBe('ok');
        await c.waitFor(async () => (await c.target.countOnTarget()) === 3, '3 members after recovery');
        // Asked again (as the failed request's retry would be), nothing more is changed.
        const again = await c.running.reconciler.reconcileNow(3, data);
        expect(again).toMatchObject({ outcome: 'ok', observed: 3, action: expect.stringMatching(/^none \(3\)/) });
        expect(await c.target.countOnTarget()).toBe(3);
      }));

    it('under --dry-run observes and decides, but changes nothing on the target (not even housekeeping)', (ctx) =>
      fresh(ctx, 'dryrun', async (c) => {
        await scaleTo(c, 2);
        const litter = await c.target.leaveLitter?.();
        expect((await litter?.()) ?? true).toBe(true);
        const count = await c.target.countOnTarget();
        const members = (await c.target.membersOnTarget()).sort();
        await c.running.restart({ dryRun: true });
        for (const desired of [4, 0]) {
          const result = await c.running.reconciler.reconcileNow(desired, data, null, `asked ${desired}`);
          expect(result).toMatchObject({ outcome: 'dry_run', observed: 2 });
          // An API scaler lists the calls it would make; they are the ones apply makes.
          if (c.running.scaler.describeApply) expect(result.reason).toMatch(/; dry run, would call: \S/);
        }
        expect(await c.target.countOnTarget()).toBe(count);
        expect((await c.target.membersOnTarget()).sort()).toEqual(members);
        expect((await litter?.()) ?? true).toBe(true);
      }));
  });
}
