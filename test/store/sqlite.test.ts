import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/store.js';
import { MAX_TEXT, PRUNE_SQL, SqliteStore, StoreOpenError } from '../../src/store/sqlite.js';

const open: SqliteStore[] = [];
afterEach(() => {
  for (const store of open.splice(0)) store.close();
});

function newStore(path: string, options: ConstructorParameters<typeof SqliteStore>[1] = {}): SqliteStore {
  const store = new SqliteStore(path, options);
  open.push(store);
  return store;
}

function tempState(): string {
  return join(mkdtempSync(join(tmpdir(), 'waymond-store-')), 'state.db');
}

function decision(scaler: string, reason = 'r'): Decision {
  return {
    time: 1,
    scaler,
    target: '',
    sourceEvent: null,
    observed: 1,
    desired: 2,
    action: 'scale up',
    outcome: 'ok',
    error: null,
    durationMs: 1,
    reason,
  };
}

describe('SqliteStore', () => {
  it('keeps component state across a reopen', () => {
    const path = tempState();
    const first = new SqliteStore(path);
    first.setState('scaler.a', 'desired', { '': { desired: 3, data: {} } });
    first.close();
    expect(newStore(path).getState('scaler.a', 'desired')).toEqual({ '': { desired: 3, data: {} } });
  });

  it('a corrupt state file is a named error with its path, not a stack trace', () => {
    const path = tempState();
    writeFileSync(path, 'this is not a database, it is a config file someone copied here '.repeat(100));
    expect(() => new SqliteStore(path)).toThrow(StoreOpenError);
    expect(() => new SqliteStore(path)).toThrow(
      `state ${path} cannot be used: file is not a database (move it aside to start with an empty state)`,
    );
  });

  it('an unchanged state is not written again (a quiet resync does no I/O)', async () => {
    const path = tempState();
    const store = newStore(path);
    store.setState('scaler.a', 'desired', { n: 1 });
    await store.flush();
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
    const reader = new DatabaseSync(path);
    const version = () => (reader.prepare('PRAGMA data_version').get() as { data_version: number }).data_version;
    const before = version();
    for (let i = 0; i < 50; i++) store.setState('scaler.a', 'desired', { n: 1 });
    await store.flush();
    expect(version()).toBe(before);
    store.setState('scaler.a', 'desired', { n: 2 });
    await store.flush();
    expect(version()).toBe(before + 1);
    reader.close();
  });

  it('cuts a long reason and error to 1 KiB, saying so', async () => {
    const store = newStore(':memory:');
    store.recordDecision({ ...decision('scaler.a', 'x'.repeat(1_000_000)), error: 'e'.repeat(5000) });
    const [row] = await store.listDecisions({ scaler: 'scaler.a' });
    expect(row?.reason.length).toBe(MAX_TEXT - 12 + '… (cut)'.length);
    expect(row?.reason.endsWith('… (cut)')).toBe(true);
    expect(row?.error?.length).toBe(row?.reason.length);
  });

  it('prunes each scaler to its retention, leaving the others alone', async () => {
    const store = newStore(':memory:', { retention: 50 });
    for (let i = 0; i < 450; i++) store.recordDecision(decision('scaler.busy', `busy ${i}`));
    for (let i = 0; i < 30; i++) store.recordDecision(decision('scaler.quiet', `quiet ${i}`));
    const busy = await store.listDecisions({ scaler: 'scaler.busy', limit: 10_000 });
    // Pruned in steps of 1 % of retention (here 1 row): never more than retention + 1.
    expect(busy.length).toBeLessThanOrEqual(51);
    expect(busy[0]?.reason).toBe('busy 449');
    expect(busy.at(-1)?.reason).toBe(`busy ${450 - busy.length}`);
    expect(await store.listDecisions({ scaler: 'scaler.quiet', limit: 10_000 })).toHaveLength(30);
    store.prune();
    expect(await store.listDecisions({ scaler: 'scaler.busy', limit: 10_000 })).toHaveLength(50);
  });

  it('a prune removes only the rows past retention, through the (scaler, id) index, however big the table', async () => {
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
    const plan = new DatabaseSync(':memory:');
    plan.exec(`CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, scaler TEXT NOT NULL);
      CREATE INDEX decisions_scaler ON decisions (scaler, id)`);
    const steps = (plan.prepare(`EXPLAIN QUERY PLAN ${PRUNE_SQL}`).all('scaler.a', 5) as { detail: string }[]).map(
      (r) => r.detail,
    );
    plan.close();
    // A search of the index for one scaler, and the deletes by primary key: no SCAN of the table.
    expect(steps.some((d) => d.includes('USING COVERING INDEX decisions_scaler (scaler=?)'))).toBe(true);
    expect(steps.filter((d) => d.startsWith('SCAN'))).toEqual([]);

    // The same scaler pruned in a table of 1,000 other rows and of 40,000: the same rows go.
    const removedWith = async (others: number) => {
      const store = newStore(':memory:', { retention: 100 });
      // Other scalers, each under its retention: only scaler.busy is ever pruned.
      for (let i = 0; i < others; i++) store.recordDecision(decision(`scaler.other${i % 1000}`, `o ${i}`));
      await store.flush();
      const removed: number[] = [];
      for (let i = 0; i < 300; i++) {
        const before = store.prunedRows;
        store.recordDecision(decision('scaler.busy', `b ${i}`));
        await store.flush();
        if (store.prunedRows > before) removed.push(store.prunedRows - before);
      }
      return removed;
    };
    const small = await removedWith(1_000);
    expect(small).toHaveLength(100); // at rows 102, 104, …, 300
    expect(small.every((n) => n === 2)).toBe(true); // retention 100, steps of 1 %: 102 → 100
    expect(await removedWith(40_000)).toEqual(small);
  });

  it('a steady signal of 1,000 repeats leaves 1 row with repeats = 1000', async () => {
    const path = tempState();
    const store = newStore(path);
    const steady = (time: number): Decision => ({
      ...decision('scaler.a', 'queue 3 / 1 per agent = 3'),
      action: 'none (3)',
      observed: 3,
      desired: 3,
      time,
      sourceEvent: `event-${time}`,
      durationMs: time % 7,
    });
    store.recordDecision(steady(1_000));
    await store.flush();
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
    const reader = new DatabaseSync(path);
    const rows = () => (reader.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
    for (let i = 1; i <= 1_000; i++) {
      store.recordDecision(steady(1_000 + i * 1000));
      if (i % 100 === 0) await store.flush();
    }
    await store.flush();
    expect(rows()).toBe(1);
    const [row] = await store.listDecisions({ scaler: 'scaler.a' });
    expect(row).toMatchObject({ time: 1_000, repeats: 1000, lastSeen: 1_001_000, sourceEvent: 'event-1000' });
    // A change is a decision of its own, and so is the return to the old value after it.
    store.recordDecision({ ...steady(2_000_000), observed: 4, action: 'none (4)' });
    store.recordDecision(steady(2_001_000));
    expect((await store.listDecisions({ scaler: 'scaler.a' })).map((d) => [d.observed, d.repeats])).toEqual([
      [3, 0],
      [4, 0],
      [3, 1000],
    ]);
    // Another target's decisions are not folded into this one's.
    store.recordDecision({ ...steady(2_002_000), target: 'arm' });
    expect(await store.listDecisions({ scaler: 'scaler.a' })).toHaveLength(4);
    await store.close();
    const again = newStore(path);
    expect((await again.listDecisions({ scaler: 'scaler.a', limit: 10 })).at(-1)).toMatchObject({ repeats: 1000 });
    reader.close();
  });

  it('a change is never folded: repeated scale-ups and errors are each kept', async () => {
    const store = newStore(':memory:');
    for (let i = 0; i < 3; i++) store.recordDecision({ ...decision('scaler.a'), action: 'scale_up +1 (1 -> 2)' });
    for (let i = 0; i < 3; i++)
      store.recordDecision({ ...decision('scaler.b'), action: 'none (1)', outcome: 'error', error: `e${i}` });
    expect(await store.listDecisions({ scaler: 'scaler.a' })).toHaveLength(3);
    expect(await store.listDecisions({ scaler: 'scaler.b' })).toHaveLength(3);
  });

  it('a reconcile (a decision and a desired count in one turn) is one transaction', async () => {
    const path = tempState();
    const store = newStore(path);
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
    const reader = new DatabaseSync(path);
    const version = () => (reader.prepare('PRAGMA data_version').get() as { data_version: number }).data_version;
    const before = version();
    store.recordDecision(decision('scaler.a', 'one'));
    store.setState('scaler.a', 'desired', { '': { desired: 2, data: {} } });
    store.recordDecision(decision('scaler.b', 'two'));
    expect(version()).toBe(before); // queued, not written on the caller's path
    await new Promise((resolve) => setImmediate(resolve));
    expect(version()).toBe(before + 1);
    expect((reader.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n).toBe(2);
    reader.close();
  });

  it('keeps the decisions under retention_bytes, removing the oldest of all scalers', async () => {
    const path = tempState();
    const store = newStore(path, { retentionBytes: 256 * 1024 });
    for (let i = 0; i < 1_000; i++) store.recordDecision(decision(`scaler.s${i % 3}`, `${i} ${'x'.repeat(900)}`));
    await store.flush();
    expect(store.usedBytes()).toBeGreaterThan(256 * 1024);
    const removed = store.pruneBytes();
    expect(removed).toBeGreaterThan(0);
    expect(store.usedBytes()).toBeLessThanOrEqual(256 * 1024);
    const kept = await store.listDecisions({ limit: 10_000 });
    expect(kept).toHaveLength(1_000 - removed);
    expect(kept[0]?.reason.startsWith('999 ')).toBe(true);
    expect(kept.at(-1)?.reason.startsWith(`${removed} `)).toBe(true); // the oldest went first
    expect(store.pruneBytes()).toBe(0); // under the bound now: nothing more
  });

  it('a state file deleted while running is rewritten from memory, and says so', () => {
    const path = tempState();
    const recovered: string[] = [];
    const store = newStore(path, { onRecovered: (m) => recovered.push(m) });
    store.setState('scaler.a', 'members', [{ slot: 1, pid: 42 }]);
    store.setState('scaler.b', 'desired', { '': { desired: 5, data: {} } });
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    store.maintain();
    expect(recovered).toEqual([
      `state ${path} was deleted while running: rewrote 2 component states from memory (decision history before now is lost)`,
    ]);
    store.setState('scaler.b', 'desired', { '': { desired: 6, data: {} } });
    store.close();
    const again = newStore(path);
    expect(again.getState('scaler.a', 'members')).toEqual([{ slot: 1, pid: 42 }]);
    expect(again.getState('scaler.b', 'desired')).toEqual({ '': { desired: 6, data: {} } });
  });
});

// A real full disk: a 1 MiB tmpfs filled to the last byte. Needs root (CI runs as root).
const canMount = process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;

describe.skipIf(!canMount && !process.env.CI)('SqliteStore on a full disk', () => {
  it('never throws on a write; reports once, keeps state in memory, and writes it all once space is back', async () => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'waymond-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    try {
      const path = join(mountPoint, 'state', 'state.db');
      mkdirSync(join(mountPoint, 'state'));
      const reported: [string, number][] = [];
      let failures = 0;
      const store = newStore(path, {
        onWriteError: (m, n) => reported.push([m, n]),
        onWriteFailure: () => failures++,
      });
      store.setState('scaler.a', 'desired', { '': { desired: 1, data: {} } });
      // Fill what is left of the disk.
      spawnSync('dd', ['if=/dev/zero', `of=${join(mountPoint, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
      for (let i = 0; i < 200; i++) {
        store.recordDecision(decision('scaler.a', `decision ${i} ${'x'.repeat(900)}`));
        store.setState('scaler.a', 'desired', { '': { desired: i + 2, data: { pad: 'y'.repeat(2000) } } });
        await store.flush(); // one reconcile, one transaction
      }
      expect(store.errors).toBeGreaterThan(0);
      expect(failures).toBe(store.errors); // every failure counted (waymond_store_errors_total)
      expect(reported.length).toBeGreaterThanOrEqual(1);
      expect(reported.length).toBeLessThanOrEqual(3); // once a minute per kind of write
      expect(reported[0]?.[0]).toMatch(
        new RegExp(`^state ${path}: could not write \\((decision|state|prune)\\): .*full`),
      );
      expect(store.getState('scaler.a', 'desired')).toEqual({ '': { desired: 201, data: { pad: 'y'.repeat(2000) } } });
      rmSync(join(mountPoint, 'filler'));
      store.recordDecision(decision('scaler.a', 'after space came back'));
      store.close();
      const again = newStore(path);
      expect(again.getState('scaler.a', 'desired')).toEqual({
        '': { desired: 201, data: { pad: 'y'.repeat(2000) } },
      });
    } finally {
      for (const store of open.splice(0)) await store.close();
      execFileSync('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });
});
