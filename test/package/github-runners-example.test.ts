/**
 * examples/github-actions-runners.toml: the member's command and its busy_check, run as the
 * process scaler runs them (sh, the member's environment), against a local server that
 * answers the GitHub REST API's self-hosted runner endpoints as documented (list by name,
 * delete, generate-jitconfig). A fake run.sh records the --jitconfig it was given.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/registry.js';
import { memberEnv as buildMemberEnv } from '../../src/scalers/process.js';
import { ROOT } from '../helpers/daemon.js';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

const seen: Seen[] = [];
let runners: { id: number; name: string; busy: boolean }[] = [];
let server: Server;
let api = '';
const dir = mkdtempSync(join(tmpdir(), 'waymond-gha-runner-'));

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
      const url = new URL(req.url ?? '/', 'http://x');
      const base = '/repos/octo-org/octo-repo/actions/runners';
      res.setHeader('content-type', 'application/json; charset=utf-8');
      if (req.method === 'GET' && url.pathname === base) {
        const name = url.searchParams.get('name');
        const found = runners.filter((r) => name === null || r.name === name);
        const listed = found.map((r) => ({ ...r, os: 'linux', status: 'offline', labels: [{ id: 5, name: 'x64' }] }));
        res.end(JSON.stringify({ total_count: found.length, runners: listed }));
      } else if (req.method === 'DELETE' && url.pathname.startsWith(`${base}/`)) {
        runners = runners.filter((r) => String(r.id) !== url.pathname.slice(base.length + 1));
        res.statusCode = 204;
        res.end();
      } else if (req.method === 'POST' && url.pathname === `${base}/generate-jitconfig`) {
        const { name } = JSON.parse(body) as { name: string };
        if (runners.some((r) => r.name === name)) {
          res.statusCode = 409;
          res.end(JSON.stringify({ message: 'Already exists - A runner with the same name already exists.' }));
          return;
        }
        runners.push({ id: 100 + runners.length, name, busy: false });
        res.statusCode = 201;
        res.end(
          JSON.stringify({
            runner: { id: 100, name },
            encoded_jit_config: `JIT-${Buffer.from(name).toString('base64')}`,
          }),
        );
      } else {
        res.statusCode = 404;
        res.end('{"message":"Not Found"}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  api = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const runSh = join(dir, 'run.sh');
  writeFileSync(
    runSh,
    '#!/bin/sh\nprintf "%s\\n" "$@" > ran-with.txt\necho "${GITHUB_TOKEN:-unset}" > token-seen.txt\n',
  );
  chmodSync(runSh, 0o755);
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function example() {
  const env = { ...process.env, GITHUB_TOKEN: 'ghs_test', GITHUB_API_URL: api, GITHUB_WEBHOOK_SECRET: 's' };
  const loaded = loadConfigFile(join(ROOT, 'examples', 'github-actions-runners.toml'), defaultRegistry(), env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  const scaler = loaded.config.components.find((c) => c.address === 'scaler.runners');
  const config = scaler?.config as unknown as {
    command: string;
    args: string[];
    busy_check: string;
    env: Record<string, string>;
    inherit_env: boolean | string[];
  };
  // As the process scaler runs members and busy checks: the member's own environment.
  const memberEnv = buildMemberEnv(env, config.inherit_env, config.env, {
    WAYMOND_SCALER: 'runners',
    WAYMOND_INDEX: '3',
  });
  return { config, memberEnv };
}

/** Async: the API server answers from this process, so the child must not block it. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn(command, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (status) => resolve({ status, stderr }));
  });
}

const hostname = spawnSync('hostname', { encoding: 'utf8' }).stdout.trim();
const name = `waymond-${hostname}-runners-3`;

describe('examples/github-actions-runners.toml', () => {
  it('registers a just-in-time runner and runs it with that config, replacing a stale registration', async () => {
    runners = [{ id: 7, name, busy: false }];
    const { config, memberEnv } = example();
    const result = await run(config.command, config.args, memberEnv);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      `GET /repos/octo-org/octo-repo/actions/runners?name=${name}`,
      'DELETE /repos/octo-org/octo-repo/actions/runners/7',
      'POST /repos/octo-org/octo-repo/actions/runners/generate-jitconfig',
    ]);
    expect(seen.every((s) => s.auth === 'Bearer ghs_test')).toBe(true);
    expect(JSON.parse(seen[2]?.body ?? '{}')).toEqual({
      name,
      runner_group_id: 1,
      labels: ['self-hosted', 'linux', 'x64', 'ephemeral'],
      work_folder: '_work/3',
    });
    expect(readFileSync(join(dir, 'ran-with.txt'), 'utf8')).toBe(
      `--jitconfig\nJIT-${Buffer.from(name).toString('base64')}\n`,
    );
    // The runner runs workflow code: it must not see the token that administers runners.
    expect(readFileSync(join(dir, 'token-seen.txt'), 'utf8')).toBe('unset\n');
  });

  it('busy_check exits 0 for a busy runner and 1 for an idle one', async () => {
    const { config, memberEnv } = example();
    const check = async () => (await run('sh', ['-c', config.busy_check], memberEnv)).status;
    runners = [{ id: 9, name, busy: true }];
    expect(await check()).toBe(0);
    runners = [{ id: 9, name, busy: false }];
    expect(await check()).toBe(1);
  });
});
