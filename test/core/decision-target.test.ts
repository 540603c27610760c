/**
 * Decisions carry their target; a state file written before they did stays readable (its
 * rows read as target '', the one target of a single-target scaler) and gains the column.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/store.js';
import { MemoryStore } from '../../src/sim/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const decision = (target: string): Decision => ({
  time: 1,
  scaler: 'scaler.asg',
  target,
  sourceEvent: null,
  observed: 0,
  desired: 3,
  action: `scale up 0 → 3 [${target}]`,
  outcome: 'ok',
  error: null,
  durationMs: 1,
  reason: 'asked',
});

describe('decisions record their target', () => {
  it('SQLite and the in-memory store give back the target of each decision', async () => {
    for (const store of [new SqliteStore(':memory:'), new MemoryStore()]) {
      store.recordDecision(decision('linux'));
      store.recordDecision(decision('arm'));
      expect((await store.listDecisions({ scaler: 'scaler.asg' })).map((d) => d.target)).toEqual(['arm', 'linux']);
      await store.close();
    }
  });

  it('reads a state file from before targets were stored, and records targets in it from then on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-old-state-'));
    dirs.push(dir);
    const path = join(dir, 'state.db');
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE decisions (
      id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, scaler TEXT NOT NULL,
      source_event TEXT, observed INTEGER, desired INTEGER, action TEXT NOT NULL,
      outcome TEXT NOT NULL, error TEXT, duration_ms REAL NOT NULL, reason TEXT NOT NULL)`);
    old
      .prepare(
        `INSERT INTO decisions (time, scaler, source_event, observed, desired, action, outcome, error, duration_ms, reason)
         VALUES (1, 'scaler.workers', NULL, 1, 2, 'scale up 1 → 2', 'ok', NULL, 3, 'from before')`,
      )
      .run();
    old.close();

    const store = new SqliteStore(path);
    store.recordDecision(decision('linux'));
    expect((await store.listDecisions({})).map((d) => [d.scaler, d.target, d.reason])).toEqual([
      ['scaler.asg', 'linux', 'asked'],
      ['scaler.workers', '', 'from before'],
    ]);
    store.close();
  });
});
