/**
 * Runs a guide the way a reader would, in a temp dir. The guide's fenced blocks, in order:
 *
 *   ```toml file=waymond.toml   (any language, `file=`)   written to that path
 *   ```sh                       run with bash -euo pipefail; must exit 0
 *   ```sh daemon                (re)starts the daemon (`VAR=value waymond run ...` works):
 *                               the previous one gets SIGTERM
 *                               and must exit 0; the new one must answer /readyz
 *   ```sh no-run                shown, never run (keep these rare)
 *   <!-- check: scaler.agents current=4 desired=4 -->
 *                               polls /api/components until that scaler matches
 *                               (current = observed count, desired, ready, members)
 *
 * `waymond` on PATH is this checkout's CLI; the daemon listens on a free port, which
 * replaces 9460 in every command, and WAYMOND_URL points the CLI's client verbs at it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, waitUntil } from '../helpers/daemon.js';

/** The admin token the guides tell the reader to export as WAYMOND_TOKEN. */
export const GUIDE_ADMIN_TOKEN = 'change-me-to-another-long-random-string';
const ADMIN = { authorization: `Bearer ${GUIDE_ADMIN_TOKEN}` };

export type Step =
  | { kind: 'file'; path: string; content: string; line: number }
  | { kind: 'run' | 'daemon' | 'skip'; command: string; line: number }
  | { kind: 'check'; address: string; expect: Record<string, number>; line: number };

const FENCE = /^```([^\s`]*)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm;
const CHECK = /<!--\s*check:\s*(\S+)((?:\s+\w+=\d+)+)\s*-->/g;

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** The guide's steps in reading order. Throws on a fence it does not understand. */
export function parseGuide(markdown: string): Step[] {
  const steps: Step[] = [];
  for (const match of markdown.matchAll(FENCE)) {
    const [, lang = '', info = '', body = ''] = match;
    const line = lineOf(markdown, match.index);
    const file = /\bfile=(\S+)/.exec(info)?.[1];
    if (file) steps.push({ kind: 'file', path: file, content: body, line });
    else if (lang === 'sh') {
      const flag = info.trim();
      const kind = flag === '' ? 'run' : flag === 'daemon' ? 'daemon' : flag === 'no-run' ? 'skip' : undefined;
      if (!kind) throw new Error(`line ${line}: unknown sh block flag "${flag}" (use daemon or no-run)`);
      steps.push({ kind, command: body.trim(), line });
    }
  }
  for (const match of markdown.matchAll(CHECK)) {
    const expect: Record<string, number> = {};
    for (const pair of (match[2] ?? '').trim().split(/\s+/)) {
      const [key = '', value = ''] = pair.split('=');
      expect[key] = Number(value);
    }
    steps.push({ kind: 'check', address: match[1] ?? '', expect, line: lineOf(markdown, match.index) });
  }
  return steps.sort((a, b) => a.line - b.line);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface Component {
  address: string;
  observed?: number;
  desired?: number | null;
  ready?: number;
  members?: unknown[];
}

export class GuideRun {
  readonly dir = mkdtempSync(join(tmpdir(), 'waymond-guide-'));
  private daemon: { child: ChildProcess; exited: Promise<number | null>; logs: string[] } | undefined;
  private port = 0;
  private env: NodeJS.ProcessEnv = {};

  async setUp(): Promise<void> {
    this.port = await freePort();
    const bin = join(this.dir, '.bin');
    mkdirSync(bin);
    const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const shim = join(bin, 'waymond');
    writeFileSync(
      shim,
      `#!/bin/sh\nexec "${process.execPath}" --import "${tsx}" "${join(ROOT, 'src/cli/main.ts')}" "$@"\n`,
    );
    chmodSync(shim, 0o755);
    this.env = {
      ...process.env,
      PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      WAYMOND_URL: `http://127.0.0.1:${this.port}`,
      WAYMOND_LOG_FORMAT: 'json',
      // The production guide asks the reader to export the admin token; its commands see it.
      WAYMOND_TOKEN: GUIDE_ADMIN_TOKEN,
    };
  }

  private withPort(command: string): string {
    return command.replace(/\b9460\b/g, String(this.port));
  }

  /** Runs every step; an error names the guide line. Returns the output of each command. */
  async run(steps: Step[], log: (text: string) => void = () => undefined): Promise<void> {
    for (const step of steps) {
      const where = `line ${step.line}`;
      if (step.kind === 'file') {
        mkdirSync(dirname(join(this.dir, step.path)), { recursive: true });
        writeFileSync(join(this.dir, step.path), step.content);
      } else if (step.kind === 'run') {
        const result = spawnSync('bash', ['-euo', 'pipefail', '-c', this.withPort(step.command)], {
          cwd: this.dir,
          env: this.env,
          encoding: 'utf8',
          timeout: 60_000,
        });
        log(`$ ${step.command}\n${result.stdout}${result.stderr}`);
        if (result.status !== 0)
          throw new Error(`${where}: \`${step.command}\` exited ${result.status}:\n${result.stdout}${result.stderr}`);
      } else if (step.kind === 'daemon') {
        await this.stopDaemon();
        await this.startDaemon(step.command, where);
      } else if (step.kind === 'check') {
        await this.check(step.address, step.expect, where);
      }
    }
  }

  private async startDaemon(command: string, where: string): Promise<void> {
    const child = spawn('bash', ['-c', `exec env ${this.withPort(command)} --http-port ${this.port}`], {
      cwd: this.dir,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    this.daemon = { child, exited, logs };
    await waitUntil(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${where}: the daemon exited ${child.exitCode}:\n${logs.join('')}`);
        const response = await fetch(`http://127.0.0.1:${this.port}/readyz`).catch(() => undefined);
        return response?.status === 200;
      },
      `${where}: daemon ready`,
      30_000,
    );
  }

  private async check(address: string, expect: Record<string, number>, where: string): Promise<void> {
    let last: Component | undefined;
    const actual = (c: Component | undefined) => ({
      current: c?.observed,
      desired: c?.desired ?? undefined,
      ready: c?.ready,
      members: c?.members?.length,
    });
    try {
      await waitUntil(
        async () => {
          const response = await fetch(`http://127.0.0.1:${this.port}/api/components`, { headers: ADMIN });
          const { components } = (await response.json()) as { components: Component[] };
          last = components.find((c) => c.address === address);
          const seen = actual(last) as Record<string, number | undefined>;
          return Object.entries(expect).every(([key, value]) => seen[key] === value);
        },
        `${where}: ${address} ${JSON.stringify(expect)}`,
        90_000,
      );
    } catch (error) {
      const decisions = await fetch(`http://127.0.0.1:${this.port}/api/decisions?limit=5`, { headers: ADMIN })
        .then((r) => r.text())
        .catch(() => '');
      throw new Error(
        `${(error as Error).message}; last seen ${JSON.stringify(actual(last))}; decisions ${decisions}; logs:\n${this.daemon?.logs.join('').slice(-4000)}`,
      );
    }
  }

  async stopDaemon(): Promise<number | null | undefined> {
    const daemon = this.daemon;
    if (!daemon) return undefined;
    this.daemon = undefined;
    if (daemon.child.exitCode === null) daemon.child.kill('SIGTERM');
    const code = await daemon.exited;
    if (code !== 0) throw new Error(`the daemon exited ${code} on SIGTERM:\n${daemon.logs.join('').slice(-4000)}`);
    return code;
  }
}
