import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireStateLock, StateInUseError, type StateLock } from '../../src/store/state-lock.js';

const held: StateLock[] = [];
afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
});

function statePath(): string {
  return join(mkdtempSync(join(tmpdir(), 'waymond-lock-')), 'state.db');
}

async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the state lock', () => {
  it('a second holder on the same state fails at once, naming the pid that holds it', () => {
    const path = statePath();
    held.push(acquireStateLock(path));
    expect(readFileSync(`${path}.pid`, 'utf8')).toBe(`${process.pid}\n`);
    let error: unknown;
    try {
      held.push(acquireStateLock(path));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StateInUseError);
    expect((error as Error).message).toBe(
      `state ${path} is in use by pid ${process.pid}: another waymond runs on it (stop it first, or give this one its own --state)`,
    );
  });

  it('is free again once released, and different states do not share a lock', () => {
    const path = statePath();
    const first = acquireStateLock(path);
    held.push(acquireStateLock(statePath()));
    first.release();
    held.push(acquireStateLock(path));
  });

  it('a holder killed with SIGKILL leaves no stale lock', async () => {
    const path = statePath();
    // Another process takes the lock (the same module, run by this Node), then waits.
    const script = `
      const { acquireStateLock } = await import(${JSON.stringify(new URL('../../src/store/state-lock.ts', import.meta.url).href)});
      globalThis.heldLock = acquireStateLock(${JSON.stringify(path)}); // held: a collected lock is released
      process.stdout.write('locked\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await waitFor(() => out.includes('locked'));
      expect(() => acquireStateLock(path)).toThrow(`state ${path} is in use by pid ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    held.push(acquireStateLock(path));
    expect(readFileSync(`${path}.pid`, 'utf8')).toBe(`${process.pid}\n`);
  });
});
