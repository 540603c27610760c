/**
 * A private PostgreSQL server for one test file: `initdb` into a fresh temporary directory
 * and `postgres` on a free loopback port, a child process the test owns, so the test may
 * stop and restart it without touching the shared server on 5432 that other tests use.
 *
 * initdb and postgres refuse to run as root (the tests do): then both run as `nobody`
 * through `setpriv` (which execs, so the child's pid is the postmaster's own and a signal
 * to it reaches the server), with the directory owned by that user.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../helpers/daemon.js';
import { canConnect } from '../helpers/services.js';

const BIN = process.env.WAYMOND_PG_BIN ?? '/usr/local/bin';
const NOBODY = 65534;

export interface PrivatePostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication). */
  url: string;
  /** The postmaster's pid (changes with each start). */
  pid(): number | undefined;
  /** The server's own log, for a failure message. */
  log(): string;
  /** Fast shutdown (SIGINT: clients are disconnected, then a checkpoint); resolves once it exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (SIGKILL if a fast shutdown takes over 10 s) and removes the directory. */
  close(): Promise<void>;
}

export function postgresInstalled(): boolean {
  return existsSync(join(BIN, 'initdb')) && existsSync(join(BIN, 'postgres'));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;
/** The command line that runs `bin` as an unprivileged user when this process is root. */
const unprivileged = (bin: string, args: string[]): [string, string[]] =>
  asRoot
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', join(BIN, bin), ...args]]
    : [join(BIN, bin), args];

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'waymond-pg-'));
  if (asRoot) chownSync(dir, NOBODY, NOBODY);
  const data = join(dir, 'data');
  const [initCmd, initArgs] = unprivileged('initdb', ['-A', 'trust', '-U', 'postgres', '-D', data, '--no-sync']);
  execFileSync(initCmd, initArgs, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const server: PrivatePostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pid: () => child?.pid,
    log: () => output,
    async start() {
      const [cmd, args] = unprivileged('postgres', [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
      ]);
      const started = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
      };
      started.stdout?.on('data', collect);
      started.stderr?.on('data', collect);
      let gone = false;
      exited = new Promise((resolve) =>
        started.once('exit', () => {
          gone = true;
          resolve();
        }),
      );
      await waitUntil(
        async () => gone || (output.includes('ready to accept connections') && (await canConnect(port))),
        `private postgres on ${port} to start`,
        30_000,
      );
      if (gone) throw new Error(`private postgres on ${port} exited at start:\n${output}`);
    },
    async stop() {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      running.kill('SIGINT');
      const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
  } catch (error) {
    await server.close();
    throw error;
  }
  return server;
}
