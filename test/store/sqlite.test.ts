import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/store.js';
import { MAX_TEXT, SqliteStore, StoreOpenError } from '../../src/store/sqlite.js';

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
    // Pruned every 200 inserts of that scaler: at most 200 - 1 rows over retention remain.
    expect(busy.length).toBeLessThan(50 + 200);
    expect(busy[0]?.reason).toBe('busy 449');
    expect(await store.listDecisions({ scaler: 'scaler.quiet', limit: 10_000 })).toHaveLength(30);
    store.prune();
    expect(await store.listDecisions({ scaler: 'scaler.busy', limit: 10_000 })).toHaveLength(50);
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
