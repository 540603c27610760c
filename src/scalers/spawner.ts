/**
 * Starts process members from a small long-lived helper instead of from the daemon. A
 * spawn forks the parent first, and forking the ~120 MiB daemon was 63 % of its CPU when a
 * webhook asked for 10 members; the helper is a bare Node with nothing loaded (the floor a
 * bare `node` spawning 10 members measures), so its fork is cheap, and it starts every
 * member it is asked for at once, answering with each one's pid.
 *
 * What a member gets is exactly what the process scaler asks for: its command and args
 * (no shell), its cwd, its whole environment (the scaler computes it: minimal env or
 * inherit_env, plus the WAYMOND_* markers), its own session and process group (`detached`,
 * so it outlives waymond and the helper alike), stdout and stderr appended to its log. The
 * helper's own environment is empty: it holds none of the daemon's secrets, and no
 * NODE_OPTIONS of the daemon's reach it.
 *
 * Crash safety: the helper reads requests only while the daemon that started it lives (its
 * stdin closes when the daemon dies, and it checks its parent before each spawn), so it
 * never starts a member after a kill -9 of the daemon, behind the back of the next
 * daemon's adoption scan. A member started just before is found by that scan by its
 * markers, as before. If the helper dies, its members keep running (they are in their own
 * sessions); the next spawn starts a new helper, exits it would have reported are lost
 * (reported as unknown, like an adopted member's), and a spawn it had not answered fails
 * with SpawnerDied so the scaler can look for the member by its markers before retrying.
 *
 * Protocol: one JSON object per line each way. Request `{id, command, args, cwd, env,
 * log}`; answer `{id, pid}` or `{id, error}`; and `{exit: pid, code, signal}` when a member
 * exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';

export interface SpawnRequest {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Appended to with the member's stdout and stderr (its directory is created). */
  log: string;
}

export interface MemberExit {
  code: number | null;
  signal: string | null;
}

export interface SpawnedMember {
  pid: number;
  /** Its exit status, or undefined when the helper died first (the status is lost). */
  exit: Promise<MemberExit | undefined>;
}

/** The helper exited before answering: the member may or may not have started. */
export class SpawnerDied extends Error {}

/**
 * The helper, run as `node -e` (CommonJS, node: modules only), so it needs no file of its
 * own next to the build or the bundle.
 */
export const SPAWNER_SCRIPT = `'use strict';
const { spawn } = require('node:child_process');
const { closeSync, mkdirSync, openSync } = require('node:fs');
const { dirname } = require('node:path');
const { createInterface } = require('node:readline');
const parent = process.ppid;
const send = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (process.ppid !== parent) process.exit(0);
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return;
  }
  let fd;
  try {
    mkdirSync(dirname(request.log), { recursive: true });
    fd = openSync(request.log, 'a');
    const child = spawn(request.command, request.args, {
      cwd: request.cwd,
      env: request.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    let answered = false;
    child.once('spawn', () => {
      answered = true;
      send({ id: request.id, pid: child.pid });
    });
    child.once('error', (error) => {
      if (!answered) send({ id: request.id, error: error.message });
      answered = true;
    });
    child.once('exit', (code, signal) => {
      if (child.pid !== undefined) send({ exit: child.pid, code, signal });
    });
  } catch (error) {
    send({ id: request.id, error: error.message });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
lines.on('close', () => process.exit(0));
`;

interface Pending {
  resolve(member: SpawnedMember): void;
  reject(error: Error): void;
}

/** One running helper. */
class SpawnerProcess {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private readonly exits = new Map<number, (exit: MemberExit | undefined) => void>();
  private nextId = 1;
  private stderr = '';
  dead = false;

  constructor(
    private readonly logger: Logger,
    onExit: () => void,
  ) {
    this.child = spawn(process.execPath, ['-e', SPAWNER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
    const { stdout, stderr } = this.child;
    createInterface({ input: stdout as NodeJS.ReadableStream }).on('line', (line) => this.receive(line));
    stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    this.child.stdin?.on('error', () => undefined); // a write to a helper that just died
    this.child.once('error', (error) => this.died(`could not start the member spawner: ${error.message}`));
    this.child.once('exit', (code, signal) => this.died(`the member spawner exited (code ${code}, signal ${signal})`));
    this.child.once('exit', onExit);
    this.idle();
  }

  spawn(request: SpawnRequest): Promise<SpawnedMember> {
    if (this.dead) return Promise.reject(new SpawnerDied('the member spawner is gone'));
    const id = this.nextId++;
    const answer = new Promise<SpawnedMember>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.busy();
    this.child.stdin?.write(`${JSON.stringify({ id, ...request })}\n`);
    return answer;
  }

  /** Ends the helper (its members keep running). */
  end(): void {
    this.child.stdin?.end();
  }

  private receive(line: string): void {
    let message: { id?: number; pid?: number; error?: string; exit?: number; code?: number | null; signal?: string };
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    if (message.exit !== undefined) {
      this.exits.get(message.exit)?.({ code: message.code ?? null, signal: message.signal ?? null });
      this.exits.delete(message.exit);
      return;
    }
    const pending = message.id === undefined ? undefined : this.pending.get(message.id);
    if (!pending || message.id === undefined) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.idle();
    if (message.pid === undefined) {
      pending.reject(new Error(message.error ?? 'the member spawner gave no pid'));
      return;
    }
    const pid = message.pid;
    const exit = new Promise<MemberExit | undefined>((resolve) => this.exits.set(pid, resolve));
    pending.resolve({ pid, exit });
  }

  private died(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    if (this.pending.size > 0 || this.stderr.trim() !== '') {
      this.logger.warn({ reason, stderr: this.stderr.trim() || undefined }, 'member spawner died; starting a new one');
    }
    for (const pending of this.pending.values()) pending.reject(new SpawnerDied(reason));
    this.pending.clear();
    for (const resolve of this.exits.values()) resolve(undefined);
    this.exits.clear();
  }

  /** While nothing is asked, the helper does not keep the daemon's event loop alive. */
  private idle(): void {
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) unref(stream);
  }

  private busy(): void {
    this.child.ref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) ref(stream);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
}

/** The child's pipes are sockets underneath (they have ref/unref), typed as plain streams. */
type Refable = { ref?: () => void; unref?: () => void };
const unref = (stream: object | null) => (stream as Refable | null)?.unref?.();
const ref = (stream: object | null) => (stream as Refable | null)?.ref?.();

/** A user's (a process scaler's) hold on the one helper of this daemon. */
export interface SpawnerLease {
  /** Starts one member; rejects with the spawn's error, or SpawnerDied. */
  spawn(request: SpawnRequest): Promise<SpawnedMember>;
  /** Starts the helper now, so the first scale-up does not wait for Node to boot. */
  warm(): void;
  /** The helper's pid while one runs (for tests). */
  readonly pid: number | undefined;
  /** Gives the hold back; the last one ends the helper. Idempotent. */
  release(): void;
}

let running: SpawnerProcess | undefined;
let users = 0;

function helper(logger: Logger): SpawnerProcess {
  if (!running || running.dead) {
    const started = new SpawnerProcess(logger, () => {
      if (running === started) running = undefined;
    });
    running = started;
  }
  return running;
}

/** A hold on the daemon's member spawner, shared by every process scaler and restarted when it dies. */
export function useSpawner(logger: Logger): SpawnerLease {
  users++;
  let released = false;
  return {
    spawn: (request) => helper(logger).spawn(request),
    warm: () => void helper(logger),
    get pid() {
      return running && !running.dead ? running.pid : undefined;
    },
    release() {
      if (released) return;
      released = true;
      users--;
      if (users === 0) {
        running?.end();
        running = undefined;
      }
    },
  };
}
