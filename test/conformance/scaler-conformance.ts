/**
 * The conformance suite every scaler passes against its real target (or, where none can
 * run here, the documented-API test server): scale up, scale down, heal drift, adopt after
 * a restart of waymond, survive a target API error. It drives the scaler through the real
 * Reconciler, bus and SQLite store, exactly as the engine does.
 *
 * Usage, in <type>.integration.test.ts:
 *   describeScalerConformance({ name: 'process', setup: async () => ({ ... }) });
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentDefinition, ReconcileResult } from '../../src/core/types.js';
import { type Harness, startHarness } from '../helpers/scaler-harness.js';

export interface ConformanceTarget {
  /** The scaler type's definition. */
  definition: ComponentDefinition;
  /** Raw config (as in a TOML table, without type/id), validated by the definition's schema. */
  config: Record<string, unknown>;
  /** Members as the target itself reports them (not through the scaler). */
  countOnTarget(): Promise<number>;
  /** Removes one member behind waymond's back (drift). */
  removeOneBehindBack(): Promise<void>;
  /** Makes the target API fail until the returned function restores it. */
  breakTarget(): Promise<() => Promise<void>>;
  /** Removes everything the suite created. */
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  name: string;
  /** Return undefined to skip (service not available outside CI). */
  setup(): Promise<ConformanceTarget | undefined>;
  /** How long to wait for the target to converge (e.g. containers starting). */
  convergeTimeoutMs?: number;
  /** Event data every request carries (e.g. `asg_name`). */
  data?: Record<string, unknown>;
}

export function describeScalerConformance(options: ConformanceOptions): void {
  describe(`${options.name} scaler conformance`, () => {
    let target: ConformanceTarget | undefined;
    let running: Harness;
    const id = `conf_${options.name.replace(/\W/g, '_')}_${process.pid}`;
    const data = options.data ?? {};
    const timeout = options.convergeTimeoutMs ?? 30_000;

    const waitFor = async (check: () => Promise<boolean>, what: string) => {
      const deadline = Date.now() + timeout;
      while (Date.now() < deadline) {
        if (await check()) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(
        `timed out waiting for ${what} (target has ${await target?.countOnTarget()}, scaler observes ${JSON.stringify(await running.scaler.observe(data))})`,
      );
    };

    beforeAll(async () => {
      target = await options.setup();
      if (!target) return;
      running = await startHarness(target.definition, id, target.config);
    }, 120_000);

    afterAll(async () => {
      if (!target) return;
      await running?.close();
      await target.cleanup();
    }, 120_000);

    it('scales up to the desired count', async (ctx) => {
      if (!target) return ctx.skip();
      const result = await running.reconciler.reconcileNow(3, data);
      expect(result.outcome).toBe('ok');
      await waitFor(async () => (await target!.countOnTarget()) === 3, '3 members on the target');
      expect((await running.scaler.observe(data)).count).toBe(3);
    });

    it('scales down to the desired count', async (ctx) => {
      if (!target) return ctx.skip();
      const result = await running.reconciler.reconcileNow(1, data);
      expect(result.outcome).toBe('ok');
      await waitFor(async () => (await target!.countOnTarget()) === 1, '1 member on the target');
      await waitFor(async () => (await running.scaler.observe(data)).count === 1, 'the scaler to observe 1');
    });

    it('heals drift: a member removed behind its back is replaced by the resync', async (ctx) => {
      if (!target) return ctx.skip();
      await running.reconciler.reconcileNow(2, data);
      await waitFor(async () => (await target!.countOnTarget()) === 2, '2 members');
      running.reconciler.start();
      await target.removeOneBehindBack();
      await waitFor(async () => (await target!.countOnTarget()) === 1, 'the removal to show');
      await waitFor(async () => (await target!.countOnTarget()) === 2, 'the resync to restore 2 members');
      await running.reconciler.stop(5000);
    });

    it('adopts what exists after a restart of waymond: no duplicates', async (ctx) => {
      if (!target) return ctx.skip();
      await running.restart();
      const observed = await running.scaler.observe(data);
      expect(observed.count).toBe(2);
      const result: ReconcileResult = await running.reconciler.reconcileNow(2, data);
      expect(result.outcome).toBe('ok');
      expect(result.observed).toBe(2);
      expect(await target.countOnTarget()).toBe(2);
    });

    it('survives a target API error: reports it, changes nothing twice, recovers', async (ctx) => {
      if (!target) return ctx.skip();
      const restore = await target.breakTarget();
      let failed: ReconcileResult;
      try {
        failed = await running.reconciler.reconcileNow(3, data);
      } finally {
        await restore();
      }
      expect(failed.outcome).toBe('error');
      expect(failed.error).toBeTruthy();
      expect(running.events.some((e) => e.topic === `scaler.${id}.error`)).toBe(true);
      const ok = await running.reconciler.reconcileNow(3, data);
      expect(ok.outcome).toBe('ok');
      await waitFor(async () => (await target!.countOnTarget()) === 3, '3 members after recovery');
      await new Promise((r) => setTimeout(r, 500));
      expect(await target.countOnTarget()).toBe(3);
    });
  });
}
