/**
 * The one behaviour every Store implementation must have (src/core/store.ts), run against
 * each with a factory: SQLite (sqlite.contract.test.ts) and PostgreSQL
 * (postgres.contract.integration.test.ts). A new store passes this suite before it is used.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision, Store } from '../../src/core/store.js';

export interface StoreOptions {
  retention?: number;
  onWriteFailure?: () => void;
}

/** One place a store keeps its data (a file, a schema), fresh and empty, opened as often as a test asks. */
export interface StorePlace {
  /** A store on this place, not opened yet. */
  store(options?: StoreOptions): Store;
  /** Removes the place (file, schema). */
  remove(): Promise<void>;
  /**
   * Makes the store's backend unreachable while `during` runs, then reachable again. Absent
   * where no outage can be made (SQLite has no server; its full-disk case is in sqlite.test.ts).
   */
  outage?: (during: () => Promise<void>) => Promise<void>;
}

export interface StoreFactory {
  name: string;
  place(): Promise<StorePlace>;
}

export function decisionAt(time: number, overrides: Partial<Decision> = {}): Decision {
  return {
    time,
    scaler: 'scaler.a',
    target: '',
    sourceEvent: `event-${time}`,
    observed: 3,
    desired: 3,
    action: 'none (3)',
    outcome: 'ok',
    error: null,
    durationMs: 0.5,
    reason: 'queue 3 / 1 per agent = 3',
    ...overrides,
  };
}

export function storeContract(factory: StoreFactory): void {
  describe(`Store contract: ${factory.name}`, () => {
    const places: StorePlace[] = [];
    const stores: Store[] = [];
    afterEach(async () => {
      for (const store of stores.splice(0)) await store.close();
      for (const place of places.splice(0)) await place.remove();
    });

    async function fresh(): Promise<StorePlace> {
      const place = await factory.place();
      places.push(place);
      return place;
    }

    async function opened(place: StorePlace, options?: StoreOptions): Promise<Store> {
      const store = place.store(options);
      stores.push(store);
      await store.open();
      return store;
    }

    it('a restart keeps component state and decisions; state is there as soon as open() resolves', async () => {
      const place = await fresh();
      const first = await opened(place);
      first.setState('scaler.a', 'desired', { '': { desired: 3, data: { queue: 'q' } } });
      first.setState('scaler.a', 'members', [{ slot: 1, pid: 42 }]);
      first.recordDecision(decisionAt(1000, { action: 'scale_up +3 (0 -> 3)', observed: 0 }));
      // Read back from memory at once, before any write is done.
      expect(first.getState('scaler.a', 'members')).toEqual([{ slot: 1, pid: 42 }]);
      await first.close();

      const again = await opened(place);
      expect(again.getState('scaler.a', 'desired')).toEqual({ '': { desired: 3, data: { queue: 'q' } } });
      expect(again.getState('scaler.a', 'members')).toEqual([{ slot: 1, pid: 42 }]);
      expect(again.getState('scaler.a', 'missing')).toBeUndefined();
      const [decision] = await again.listDecisions({ scaler: 'scaler.a' });
      expect(decision).toMatchObject({ time: 1000, action: 'scale_up +3 (0 -> 3)', observed: 0, repeats: 0 });
    });

    it('a value that changed is written, the last one wins', async () => {
      const place = await fresh();
      const store = await opened(place);
      for (let i = 0; i < 20; i++) store.setState('scaler.a', 'desired', { n: i });
      await store.flush();
      store.setState('scaler.a', 'desired', { n: 99 });
      await store.close();
      expect((await opened(place)).getState('scaler.a', 'desired')).toEqual({ n: 99 });
    });

    it('repeats collapse: 1 decision + 1,000 identical ones is 1 row with repeats = 1000, kept over a restart', async () => {
      const place = await fresh();
      const store = await opened(place);
      for (let i = 0; i <= 1000; i++) {
        store.recordDecision(decisionAt(1000 + i * 1000, { durationMs: i % 5 }));
        if (i % 250 === 0) await store.flush();
      }
      const rows = await store.listDecisions({ scaler: 'scaler.a', limit: 10_000 });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ time: 1000, repeats: 1000, lastSeen: 1_001_000, sourceEvent: 'event-1000' });
      // A change is a new decision; going back after it is one too.
      store.recordDecision(decisionAt(2_000_000, { observed: 4, action: 'none (4)' }));
      store.recordDecision(decisionAt(2_001_000));
      store.recordDecision(decisionAt(2_002_000));
      expect((await store.listDecisions({ scaler: 'scaler.a' })).map((d) => [d.observed, d.repeats])).toEqual([
        [3, 1],
        [4, 0],
        [3, 1000],
      ]);
      await store.close();
      const again = await opened(place);
      expect((await again.listDecisions({ scaler: 'scaler.a' })).map((d) => d.repeats)).toEqual([1, 0, 1000]);
    });

    it('only decisions without a change collapse, per scaler and target', async () => {
      const store = await opened(await fresh());
      for (let i = 0; i < 3; i++) store.recordDecision(decisionAt(i, { action: 'scale_up +1 (2 -> 3)', observed: 2 }));
      for (let i = 0; i < 3; i++)
        store.recordDecision(decisionAt(i, { scaler: 'scaler.b', outcome: 'error', error: `e${i}` }));
      for (let i = 0; i < 3; i++) store.recordDecision(decisionAt(i, { scaler: 'scaler.c', target: `t${i % 2}` }));
      expect(await store.listDecisions({ scaler: 'scaler.a' })).toHaveLength(3);
      expect(await store.listDecisions({ scaler: 'scaler.b' })).toHaveLength(3);
      expect((await store.listDecisions({ scaler: 'scaler.c' })).map((d) => [d.target, d.repeats])).toEqual([
        ['t1', 0],
        ['t0', 1],
      ]);
    });

    it('retention keeps the newest decisions of each scaler, leaving the others alone', async () => {
      const store = await opened(await fresh(), { retention: 20 });
      for (let i = 0; i < 100; i++) {
        store.recordDecision(decisionAt(i, { reason: `busy ${i}` }));
        if (i % 10 === 0) await store.flush();
      }
      for (let i = 0; i < 5; i++) store.recordDecision(decisionAt(i, { scaler: 'scaler.quiet', reason: `quiet ${i}` }));
      const busy = await store.listDecisions({ scaler: 'scaler.a', limit: 10_000 });
      // Pruned in steps of 1 % of retention (at least 1): never more than retention + 1.
      expect(busy.length).toBeGreaterThanOrEqual(20);
      expect(busy.length).toBeLessThanOrEqual(21);
      expect(busy.map((d) => d.reason)).toEqual(Array.from({ length: busy.length }, (_, i) => `busy ${99 - i}`));
      expect(await store.listDecisions({ scaler: 'scaler.quiet', limit: 10_000 })).toHaveLength(5);
    });

    it('listDecisions: by scaler, all scalers, with a limit, newest first', async () => {
      const store = await opened(await fresh());
      for (let i = 0; i < 6; i++)
        store.recordDecision(decisionAt(i, { scaler: i % 2 === 0 ? 'scaler.even' : 'scaler.odd', reason: `r${i}` }));
      const reasons = (ds: Decision[]) => ds.map((d) => d.reason);
      expect(reasons(await store.listDecisions({ scaler: 'scaler.even' }))).toEqual(['r4', 'r2', 'r0']);
      expect(reasons(await store.listDecisions({ scaler: 'scaler.odd', limit: 2 }))).toEqual(['r5', 'r3']);
      expect(reasons(await store.listDecisions({ limit: 4 }))).toEqual(['r5', 'r4', 'r3', 'r2']);
      expect(await store.listDecisions({ scaler: 'scaler.none' })).toEqual([]);
      const [newest] = await store.listDecisions({ limit: 1 });
      expect(newest?.id).toEqual(expect.any(Number));
    });

    it('long reasons and errors are cut to 1 KiB, saying so', async () => {
      const store = await opened(await fresh());
      store.recordDecision(decisionAt(1, { reason: 'x'.repeat(100_000), error: 'e'.repeat(5000), outcome: 'error' }));
      const [row] = await store.listDecisions({});
      expect(row?.reason.endsWith('… (cut)')).toBe(true);
      expect(row?.reason.length).toBeLessThanOrEqual(1024);
      expect(row?.error?.length).toBe(row?.reason.length);
    });

    it('writes never throw, even after close', async () => {
      const store = await opened(await fresh());
      await store.close();
      expect(() => store.recordDecision(decisionAt(1))).not.toThrow();
      expect(() => store.setState('scaler.a', 'desired', { n: 1 })).not.toThrow();
      await expect(store.flush()).resolves.toBeUndefined();
      await expect(store.close()).resolves.toBeUndefined();
    });

    it('a write during an outage is not lost: it is counted, kept, and written once the backend is back', async (t) => {
      const place = await fresh();
      if (!place.outage) {
        t.skip('no outage can be made for this store (no server)');
        return;
      }
      let failures = 0;
      const store = await opened(place, { onWriteFailure: () => failures++ });
      store.recordDecision(decisionAt(1, { reason: 'before' }));
      await store.flush();
      await place.outage(async () => {
        store.recordDecision(decisionAt(2, { reason: 'during', observed: 5, action: 'none (5)', desired: 5 }));
        store.setState('scaler.a', 'desired', { '': { desired: 5, data: {} } });
        await store.flush(); // one attempt: fails, is reported, and the writes stay queued
        expect(failures).toBeGreaterThan(0);
        expect(store.getState('scaler.a', 'desired')).toEqual({ '': { desired: 5, data: {} } });
      });
      store.recordDecision(decisionAt(3, { reason: 'after' }));
      await store.flush();
      expect((await store.listDecisions({})).map((d) => d.reason)).toEqual(['after', 'during', 'before']);
      await store.close();
      expect((await opened(place)).getState('scaler.a', 'desired')).toEqual({ '': { desired: 5, data: {} } });
    });
  });
}
