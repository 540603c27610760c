/**
 * Crash safety and environment of the process scaler, with real processes behind the real
 * Reconciler: adoption finds members by their markers (not only the saved list), keeps the
 * oldest of two on one slot, never touches a process without our markers, and members see
 * only the environment inherit_env allows.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/bus.js';
import { RealClock } from '../../src/core/clock.js';
import { createComponentContext } from '../../src/core/context.js';
import type { Scaler } from '../../src/core/types.js';
import { readProcStat } from '../../src/scalers/proc.js';
import { bootId, readEnviron } from '../../src/scalers/proc-scan.js';
import { processScaler } from '../../src/scalers/process.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';

let dir: string;
let script: string;
let harness: Harness | undefined;
let counter = 0;
const strays: ChildProcess[] = [];

const MEMBER =
  '#!/bin/sh\nenv > "$DIR/env-$WAYMOND_INDEX.tmp" && mv "$DIR/env-$WAYMOND_INDEX.tmp" "$DIR/env-$WAYMOND_INDEX"\nexec sleep 300\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'waymond-process-adopt-'));
  script = join(dir, 'member.sh');
  writeFileSync(script, MEMBER);
  chmodSync(script, 0o755);
});

afterEach(async () => {
  for (const child of strays.splice(0)) if (child.pid) killAll([child.pid]);
  if (!harness) return;
  const id = harness.id;
  await harness.close();
  killAll(pidsWithEnv('WAYMOND_SCALER', id));
  harness = undefined;
  for (let slot = 1; slot <= 5; slot++) rmSync(join(dir, `env-${slot}`), { force: true });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(extra: Record<string, unknown> = {}): Promise<Harness> {
  const id = `adopt_${process.pid}_${++counter}`;
  harness = await startHarness(processScaler, id, { command: script, env: { DIR: dir }, stop_timeout: '2s', ...extra });
  return harness;
}

const live = (id: string) => pidsWithEnv('WAYMOND_SCALER', id);
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
const envOf = (slot: number) =>
  Object.fromEntries(
    readFileSync(join(dir, `env-${slot}`), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

/** A process started behind waymond's back with the given environment (as a crash leaves one). */
function spawnStray(env: Record<string, string>): number {
  const child = spawn('sleep', ['300'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  strays.push(child);
  return child.pid as number;
}

/** slot -> pid of the tracked members (stopping ones too, unless `counted`). */
async function slots(h: Harness, counted = false): Promise<Record<string, number>> {
  const members = (await h.scaler.observe({})).members ?? [];
  return Object.fromEntries(
    members.filter((m) => !counted || m.state !== 'stopping').map((m) => [m.id, (m.info as { pid: number }).pid]),
  );
}

describe('process scaler: adoption by markers', () => {
  it('adopts an unsaved member, keeps the oldest of two on a slot, and leaves foreign processes alone', async () => {
    const h = await start();
    await h.reconciler.reconcileNow(1, {});
    await waitUntil(() => live(h.id).length === 1, 'one member');
    const [first] = live(h.id) as [number];
    const markers = readEnviron(first) ?? {};
    expect(markers.WAYMOND_MEMBER_OF).toMatch(/^[0-9a-f-]{36}$/);
    const ours = { WAYMOND_MEMBER_OF: markers.WAYMOND_MEMBER_OF as string, WAYMOND_SCALER: h.id };
    // What a kill -9 between spawn and save leaves: a member on slot 3 nobody saved, and a
    // younger second member on slot 1.
    const unsaved = spawnStray({ ...ours, WAYMOND_INDEX: '3' });
    const duplicate = spawnStray({ ...ours, WAYMOND_INDEX: '1' });
    // Same scaler and index, but another scaler's id: not ours.
    const foreign = spawnStray({ WAYMOND_MEMBER_OF: 'someone-else', WAYMOND_SCALER: h.id, WAYMOND_INDEX: '2' });
    await waitUntil(() => [unsaved, duplicate, foreign].every((pid) => readEnviron(pid)?.WAYMOND_INDEX), 'strays exec');

    await h.restart();
    expect(await slots(h)).toMatchObject({ 'slot-1': first, 'slot-3': unsaved });
    await waitUntil(() => !alive(duplicate), 'the younger duplicate stopped');
    expect(alive(first)).toBe(true);
    expect(alive(unsaved)).toBe(true);
    // The reconciler trims back to desired 1 from the adopted members; the foreign process stays.
    await h.reconciler.reconcileNow(1, {});
    await waitUntil(async () => Object.keys(await slots(h)).length === 1, 'back to one member');
    expect(Object.values(await slots(h))).toEqual([first]);
    expect(alive(foreign)).toBe(true);
  });
});

/** A process scaler created on a state file whose saved rows the test wrote itself. */
async function scalerOnState(id: string, rows: Record<string, unknown>): Promise<{ scaler: Scaler; close(): void }> {
  const store = new SqliteStore(join(dir, `${id}.db`));
  for (const [key, value] of Object.entries(rows)) store.setState(`scaler.${id}`, key, value);
  const clock = new RealClock();
  const logger = pino({ level: 'silent' });
  const services = {
    clock,
    bus: new EventBus(clock, logger),
    store,
    logger,
    http: { route: () => undefined },
    scalers: { get: () => undefined },
    signal: new AbortController().signal,
    stateDir: dir,
    configDir: dir,
    dryRun: false,
  };
  const ctx = createComponentContext('scaler', id, services, { hasInput: true });
  const config = processScaler.schema.parse({ type: 'process', id, command: script, stop_timeout: '2s' });
  const scaler = (await processScaler.create(config as never, ctx)) as Scaler;
  return { scaler, close: () => store.close() };
}

describe('process scaler: adoption trusts processes, not rows', () => {
  const row = (pid: number, slot: number) => ({ slot, pid, startTime: readProcStat(pid)?.startTime, startedAt: 0 });

  it('a saved row naming a live foreign process is neither adopted nor signalled', async () => {
    const id = `rows_${process.pid}_${++counter}`;
    const foreign = spawnStray({ SOMETHING: 'else' });
    await waitUntil(() => readEnviron(foreign)?.SOMETHING === 'else', 'stray exec');
    const { scaler, close } = await scalerOnState(id, { members: [row(foreign, 1)], boot_id: bootId() });
    try {
      expect((await scaler.observe({})).count).toBe(0);
      await scaler.stopAll?.();
      expect(alive(foreign)).toBe(true);
    } finally {
      close();
    }
  });

  it('a saved member from before WAYMOND_MEMBER_OF is adopted when its own scaler and index match, and not from another boot', async () => {
    const id = `rows_${process.pid}_${++counter}`;
    const legacy = spawnStray({ WAYMOND_SCALER: id, WAYMOND_INDEX: '2' });
    await waitUntil(() => readEnviron(legacy)?.WAYMOND_INDEX === '2', 'stray exec');
    const otherBoot = await scalerOnState(id, { members: [row(legacy, 2)], boot_id: 'another-boot' });
    try {
      expect((await otherBoot.scaler.observe({})).count).toBe(0);
    } finally {
      otherBoot.close();
    }
    const sameBoot = await scalerOnState(`${id}`, { members: [row(legacy, 2)], boot_id: bootId() });
    try {
      const members = (await sameBoot.scaler.observe({})).members ?? [];
      expect(members.map((m) => [m.id, (m.info as { pid: number }).pid])).toEqual([['slot-2', legacy]]);
    } finally {
      sameBoot.close();
    }
  });
});

describe('process scaler: member environment', () => {
  it('does not pass the daemon its secrets by default', async () => {
    process.env.WAYMOND_TEST_SECRET = 'hunter2';
    try {
      const h = await start();
      await h.reconciler.reconcileNow(1, {});
      await waitUntil(() => existsSync(join(dir, 'env-1')), 'member wrote its environment');
      const env = envOf(1);
      expect(env.WAYMOND_TEST_SECRET).toBeUndefined();
      expect(env.PATH).toBe(process.env.PATH);
      expect(env.DIR).toBe(dir);
      expect(env.WAYMOND_SCALER).toBe(h.id);
      expect(env.WAYMOND_INDEX).toBe('1');
      expect(env.WAYMOND_MEMBER_OF).toBeTruthy();
    } finally {
      delete process.env.WAYMOND_TEST_SECRET;
    }
  });

  it('inherit_env = [names] passes exactly those', async () => {
    process.env.WAYMOND_TEST_SECRET = 'hunter2';
    process.env.WAYMOND_TEST_WANTED = 'yes';
    try {
      const h = await start({ inherit_env: ['WAYMOND_TEST_WANTED'] });
      await h.reconciler.reconcileNow(1, {});
      await waitUntil(() => existsSync(join(dir, 'env-1')), 'member wrote its environment');
      const names = Object.keys(envOf(1)).filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n)); // set by sh
      expect(names.sort()).toEqual(
        ['DIR', 'WAYMOND_INDEX', 'WAYMOND_MEMBER_OF', 'WAYMOND_SCALER', 'WAYMOND_TEST_WANTED'].sort(),
      );
    } finally {
      delete process.env.WAYMOND_TEST_SECRET;
      delete process.env.WAYMOND_TEST_WANTED;
    }
  });

  it('inherit_env = true passes everything, as before', async () => {
    process.env.WAYMOND_TEST_SECRET = 'hunter2';
    try {
      const h = await start({ inherit_env: true });
      await h.reconciler.reconcileNow(1, {});
      await waitUntil(() => existsSync(join(dir, 'env-1')), 'member wrote its environment');
      expect(envOf(1).WAYMOND_TEST_SECRET).toBe('hunter2');
    } finally {
      delete process.env.WAYMOND_TEST_SECRET;
    }
  });
});
