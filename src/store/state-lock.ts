/**
 * One daemon per state. Before it touches anything, `waymond run` takes an exclusive lock
 * on `<state file>.lock`; a second daemon on the same state fails at once, naming the pid
 * that holds it, and touches nothing (no member adopted, started or stopped).
 *
 * The lock is SQLite's own (an OS file lock on a small database kept for that alone, in
 * `locking_mode = EXCLUSIVE`): the kernel drops it when the holder dies, even by kill -9,
 * so a crash never leaves a stale lock behind, and the state database itself stays
 * readable by backup tools. The holder's pid is written beside it (`<state file>.pid`)
 * only to say who holds it.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

const sqlite = () => process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');

export class StateInUseError extends Error {
  constructor(
    readonly statePath: string,
    readonly holderPid: number | undefined,
  ) {
    super(
      `state ${statePath} is in use by ${holderPid ? `pid ${holderPid}` : 'another process'}: ` +
        'another waymond runs on it (stop it first, or give this one its own --state)',
    );
    this.name = 'StateInUseError';
  }
}

export interface StateLock {
  readonly lockPath: string;
  /** Keep the returned lock referenced: once it is garbage-collected its connection closes and the lock is gone. */
  release(): void;
}

export function acquireStateLock(statePath: string): StateLock {
  const lockPath = `${statePath}.lock`;
  const pidPath = `${statePath}.pid`;
  mkdirSync(dirname(lockPath), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new (sqlite().DatabaseSync)(lockPath, { timeout: 0 });
  } catch (error) {
    throw new Error(`cannot open the lock file ${lockPath}: ${(error as Error).message}`);
  }
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    // A write takes the exclusive lock; EXCLUSIVE mode keeps it until the connection closes.
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder; COMMIT');
  } catch (error) {
    db.close();
    if (/locked|busy/i.test((error as Error).message)) throw new StateInUseError(statePath, readPid(pidPath));
    throw new Error(`cannot lock ${lockPath}: ${(error as Error).message}`);
  }
  writeFileSync(pidPath, `${process.pid}\n`);
  let held = true;
  return {
    lockPath,
    release() {
      if (!held) return;
      held = false;
      if (readPid(pidPath) === process.pid) rmSync(pidPath, { force: true });
      db.close();
    },
  };
}

function readPid(pidPath: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidPath, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
