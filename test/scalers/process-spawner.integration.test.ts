/**
 * Members are started by the daemon's spawner helper (src/scalers/spawner.ts), not forked
 * from the daemon: they are the helper's children, each the leader of its own session and
 * group, with exactly the environment the scaler computed (the markers, the minimal env);
 * the helper itself holds none of the daemon's environment. When the helper dies, members
 * keep running and the next scale-up starts a new one; the last scaler to close ends it.
 * Real `sleep` members, real processes, observed through /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { isSameLiveProcess, readProcStat } from '../../src/scalers/proc.js';
import { processScaler } from '../../src/scalers/process.js';
import { useSpawner } from '../../src/scalers/spawner.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';

const id = `spawner_${process.pid}`;
let harness: Harness | undefined;
const strays: ChildProcess[] = [];

afterEach(async () => {
  for (const child of strays.splice(0)) if (child.pid) killAll([child.pid]);
  await harness?.close();
  harness = undefined;
  killAll(pidsWithEnv('WAYMOND_SCALER', id));
});

/** Parent pid and process group of a live process, from /proc/<pid>/stat. */
function statOf(pid: number): { ppid: number; pgrp: number; session: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const [, ppid, pgrp, session] = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session) };
}

function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
}

/** The helper the process scalers of this test process share (a lease is only a look at it). */
function spawnerPid(): number | undefined {
  const look = useSpawner(pino({ level: 'silent' }));
  const pid = look.pid;
  look.release();
  return pid;
}

describe('process scaler: members come from the spawner', () => {
  it('10 members are children of the spawner, each its own session leader, with the scaler-computed env only', async () => {
    process.env.WAYMOND_TEST_SECRET = 'do-not-leak';
    try {
      harness = await startHarness(processScaler, id, { command: 'sleep', args: ['300'], max: 10 });
      await harness.reconciler.reconcileNow(10, {});
      const pids = pidsWithEnv('WAYMOND_SCALER', id);
      expect(pids).toHaveLength(10);
      const helper = spawnerPid();
      expect(helper).toBeDefined();
      expect(helper).not.toBe(process.pid);
      expect(environOf(helper as number)).toEqual([]);
      const slots = new Set<string>();
      for (const pid of pids) {
        const stat = statOf(pid);
        expect(stat.ppid).toBe(helper);
        expect(stat.pgrp).toBe(pid);
        expect(stat.session).toBe(pid);
        const env = environOf(pid);
        expect(env).toContain(`WAYMOND_SCALER=${id}`);
        expect(env.some((e) => e.startsWith('WAYMOND_MEMBER_OF='))).toBe(true);
        expect(env.join('\n')).not.toContain('do-not-leak');
        slots.add(env.find((e) => e.startsWith('WAYMOND_INDEX=')) as string);
      }
      expect([...slots].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `WAYMOND_INDEX=${i + 1}`).sort());
    } finally {
      delete process.env.WAYMOND_TEST_SECRET;
    }
  });

  it('when the spawner dies, members keep running and the next scale-up starts a new spawner', async () => {
    harness = await startHarness(processScaler, id, { command: 'sleep', args: ['300'], max: 6 });
    await harness.reconciler.reconcileNow(3, {});
    const first = pidsWithEnv('WAYMOND_SCALER', id);
    expect(first).toHaveLength(3);
    const helper = spawnerPid() as number;
    const helperStart = readProcStat(helper)?.startTime as number;
    process.kill(helper, 'SIGKILL');
    await waitUntil(() => !isSameLiveProcess(helper, helperStart), 'the spawner to die', 10_000);

    for (const pid of first) expect(readProcStat(pid)?.state).not.toBe('Z');
    expect((await harness.scaler.observe({})).count).toBe(3);
    await harness.reconciler.reconcileNow(6, {});
    const all = pidsWithEnv('WAYMOND_SCALER', id);
    expect(all).toHaveLength(6);
    expect(all).toEqual(expect.arrayContaining(first));
    const again = spawnerPid();
    expect(again).toBeDefined();
    expect(again).not.toBe(helper);
    for (const pid of all.filter((p) => !first.includes(p))) expect(statOf(pid).ppid).toBe(again);
  });

  it('a command that cannot start is an error naming it and the directory', async () => {
    harness = await startHarness(processScaler, id, { command: 'waymond-no-such-command', max: 2 });
    await expect(
      harness.scaler.apply({
        desired: 2,
        observed: { count: 0, ready: 0, members: [] },
        add: 2,
        remove: [],
        data: {},
        reason: 'test',
      }),
    ).rejects.toThrow(/could not start "waymond-no-such-command" in .+: spawn waymond-no-such-command ENOENT/);
    expect(pidsWithEnv('WAYMOND_SCALER', id)).toHaveLength(0);
  });

  it('the last scaler to close ends the spawner; its members are not touched by that', async () => {
    const h = await startHarness(processScaler, id, { command: 'sleep', args: ['300'], max: 2, on_shutdown: 'keep' });
    await h.reconciler.reconcileNow(2, {});
    const members = pidsWithEnv('WAYMOND_SCALER', id);
    const helper = spawnerPid() as number;
    const helperStart = readProcStat(helper)?.startTime as number;
    await h.reconciler.stop(5000);
    await h.scaler.close?.();
    await waitUntil(() => !isSameLiveProcess(helper, helperStart), 'the spawner to exit', 10_000);
    expect(pidsWithEnv('WAYMOND_SCALER', id).sort()).toEqual(members.sort());
    killAll(members);
  });

  it('a spawner that dies before answering: a member it had started is adopted by its markers, the others started again', async () => {
    harness = await startHarness(processScaler, id, { command: 'sleep', args: ['300'], max: 3 });
    const h = harness;
    await h.reconciler.reconcileNow(1, {});
    const [first] = pidsWithEnv('WAYMOND_SCALER', id);
    const memberOf = environOf(first as number)
      .find((e) => e.startsWith('WAYMOND_MEMBER_OF='))
      ?.slice('WAYMOND_MEMBER_OF='.length) as string;
    const helper = spawnerPid() as number;
    // Frozen, the spawner takes the requests into its pipe and answers none of them.
    process.kill(helper, 'SIGSTOP');
    // What it had started for slot 2 before it died (a member with our markers).
    const stray = spawn('sleep', ['300'], {
      env: { PATH: process.env.PATH ?? '', WAYMOND_MEMBER_OF: memberOf, WAYMOND_SCALER: id, WAYMOND_INDEX: '2' },
      detached: true,
      stdio: 'ignore',
    });
    stray.unref();
    strays.push(stray);
    await new Promise((resolve) => stray.once('spawn', resolve));
    const applying = h.scaler.apply({
      desired: 3,
      observed: { count: 1, ready: 1, members: [] },
      add: 2,
      remove: [],
      data: {},
      reason: 'test',
    });
    process.kill(helper, 'SIGKILL');
    await applying;
    const members = (await h.scaler.observe({})).members ?? [];
    const bySlot = Object.fromEntries(members.map((m) => [m.id, (m.info as { pid: number }).pid]));
    expect(Object.keys(bySlot).sort()).toEqual(['slot-1', 'slot-2', 'slot-3']);
    expect(bySlot['slot-1']).toBe(first);
    expect(bySlot['slot-2']).toBe(stray.pid);
    expect(statOf(bySlot['slot-3'] as number).ppid).toBe(spawnerPid());
    expect(pidsWithEnv('WAYMOND_SCALER', id)).toHaveLength(3);
  });
});
