import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { bootId, findMarkedProcesses, parseEnviron, parseStatFields } from '../../src/scalers/proc-scan.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {}
  }
});

function startLeader(env: Record<string, string>, script = 'sleep 60'): ChildProcess {
  const child = spawn('sh', ['-c', script], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH, ...env },
  });
  started.push(child);
  return child;
}

async function until<T>(read: () => T, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('proc-scan', () => {
  it('parses stat fields after a command name with spaces and parentheses', () => {
    const text = '4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 100 1';
    expect(parseStatFields(text)).toEqual({ state: 'S', pgrp: 4242, startTime: 987654 });
  });

  it('parses an environ block', () => {
    expect(parseEnviron('A=1\0B=x=y\0\0')).toEqual({ A: '1', B: 'x=y' });
  });

  it('reads this boot id', () => {
    expect(bootId()).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  });

  it('finds exactly the group leaders that carry every marker: not their children, not another state', async () => {
    const stateId = randomUUID();
    const ours = startLeader(
      { WAYMOND_STATE_ID: stateId, WAYMOND_SCALER: 'agents', WAYMOND_INDEX: '1' },
      // The leader forks a child that inherits the markers but leads no group.
      'sleep 60 & wait',
    );
    const second = startLeader({ WAYMOND_STATE_ID: stateId, WAYMOND_SCALER: 'agents', WAYMOND_INDEX: '2' });
    startLeader({ WAYMOND_STATE_ID: randomUUID(), WAYMOND_SCALER: 'agents', WAYMOND_INDEX: '1' });
    startLeader({ WAYMOND_STATE_ID: stateId, WAYMOND_SCALER: 'other', WAYMOND_INDEX: '1' });
    const found = await until(
      () => findMarkedProcesses({ WAYMOND_STATE_ID: stateId, WAYMOND_SCALER: 'agents' }),
      (f) => f.length >= 2,
    );
    expect(found.map((p) => p.pid).sort()).toEqual([ours.pid, second.pid].sort());
    expect(found.map((p) => p.env.WAYMOND_INDEX).sort()).toEqual(['1', '2']);
    for (const p of found) expect(p.startTime).toBeGreaterThan(0);
  });
});
