/**
 * The package as a user gets it: `npm pack` (prepack builds dist/), `npm install -g` of
 * the tarball into an empty prefix, then the installed `waymond` (the bundle,
 * dist/bundle/waymond.js) runs the quickstart it ships: /readyz, a webhook sets a count,
 * the worker processes appear, SIGTERM stops them.
 * Dependencies come from npm's cache when it has them (--prefer-offline), else the registry.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, waitUntil } from '../helpers/daemon.js';

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'waymond-tarball-'));
const prefix = join(work, 'prefix');
const npm = (args: string[], cwd = ROOT) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, npm_config_update_notifier: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

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

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let tarball = '';
let entries: string[] = [];
let daemon: ChildProcess | undefined;

/**
 * The repository copied without its build output, so prepack's clean build happens there:
 * packing in the repository itself would delete the dist/ that other test files running at
 * the same time read (the systemd service test, the dashboard's page).
 */
function copyOfRepository(): string {
  const copy = join(work, 'repo');
  const skipped = /^(node_modules|dist|\.git|\.container|\.waymond|test-artifacts|coverage)(\/|$)/;
  cpSync(ROOT, copy, { recursive: true, filter: (from) => !skipped.test(relative(ROOT, from)) });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

beforeAll(() => {
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], copyOfRepository())) as {
    filename: string;
  }[];
  tarball = join(work, packed[0]?.filename ?? '');
  entries = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
  npm(['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], work);
}, 600_000);

afterAll(() => {
  if (daemon?.exitCode === null) daemon.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('the npm tarball', () => {
  it('is named after the version and holds dist, README, LICENSE, docs and examples, but no tests or sources', () => {
    expect(tarball.endsWith(`waymond-${version}.tgz`)).toBe(true);
    for (const file of [
      'package/package.json',
      'package/dist/cli/main.js',
      'package/dist/bundle/waymond.js',
      'package/README.md',
      'package/LICENSE',
      'package/docs/reference.md',
      'package/docs/guides/first-autoscaler.md',
      'package/docs/guides/production.md',
      'package/examples/quickstart.toml',
      'package/examples/workers/worker.mjs',
    ])
      expect(entries).toContain(file);
    expect(entries.filter((e) => e.startsWith('package/test/') || e.startsWith('package/src/'))).toEqual([]);
    expect(entries.filter((e) => e.includes('.test.'))).toEqual([]);
    // Source maps would point at src/, which is not shipped.
    expect(entries.filter((e) => e.endsWith('.map'))).toEqual([]);
  });

  it('installs a waymond whose --version is the package version', () => {
    const out = execFileSync(join(prefix, 'bin', 'waymond'), ['--version'], { encoding: 'utf8' });
    expect(out.trim()).toBe(version);
  });

  it('the installed waymond is the bundle, and its validate reads none of the server code', () => {
    const installed = join(prefix, 'lib', 'node_modules', 'waymond');
    expect(realpathSync(join(prefix, 'bin', 'waymond'))).toBe(join(installed, 'dist', 'bundle', 'waymond.js'));
    const record = join(work, 'validate-loads.txt');
    const out = execFileSync(
      join(prefix, 'bin', 'waymond'),
      ['validate', join(installed, 'examples', 'quickstart.toml')],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          NODE_OPTIONS: `--import=${join(ROOT, 'test', 'cli', 'fixtures', 'record-loads.mjs')}`,
          WAYMOND_RECORD_LOADS: record,
        },
      },
    );
    expect(out).toContain('ok: ');
    const loaded = readFileSync(record, 'utf8').split('\n').filter(Boolean);
    const chunks = loaded.filter((url) => url.includes('/dist/bundle/'));
    expect(chunks.length).toBeGreaterThan(1);
    // fastify and prom-client are bundled into the chunk `run` loads: validate must not read it.
    const bundleFiles = execFileSync('ls', [join(installed, 'dist', 'bundle')], { encoding: 'utf8' }).split('\n');
    const serverChunks = bundleFiles.filter(
      (name) =>
        name.endsWith('.js') &&
        readFileSync(join(installed, 'dist', 'bundle', name), 'utf8').includes('node_modules/fastify/'),
    );
    expect(serverChunks.length).toBeGreaterThan(0);
    for (const name of serverChunks)
      expect(
        chunks.some((url) => url.endsWith(`/${name}`)),
        name,
      ).toBe(false);
    expect(loaded.filter((url) => /node_modules\/(fastify|prom-client|pino)\//.test(url))).toEqual([]);
  });

  it('runs the quickstart it ships: ready, a webhook scales workers, SIGTERM stops them', async () => {
    const port = await freePort();
    const config = join(prefix, 'lib', 'node_modules', 'waymond', 'examples', 'quickstart.toml');
    const logs: string[] = [];
    daemon = spawn(
      join(prefix, 'bin', 'waymond'),
      ['run', '-c', config, '--http-port', String(port), '--state', join(work, 'state', 'state.db')],
      { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WAYMOND_LOG_FORMAT: 'json' } },
    );
    daemon.stdout?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    daemon.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    const exited = new Promise<number | null>((resolve) => daemon?.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    const get = async (path: string) => fetch(`${url}${path}`).catch(() => undefined);

    await waitUntil(async () => (await get('/readyz'))?.status === 200, `/readyz (logs: ${logs.join('')})`, 30_000);
    const hook = await fetch(`${url}/hooks/set_workers`, { method: 'POST', body: '{"desired":2}' });
    expect(hook.status).toBe(202);

    type Component = { address: string; observed?: number; members?: { info?: { pid?: number } }[] };
    let pids: number[] = [];
    await waitUntil(async () => {
      const body = (await (await get('/api/components'))?.json()) as { components: Component[] } | undefined;
      const onDemand = body?.components.find((c) => c.address === 'scaler.on_demand');
      pids = (onDemand?.members ?? []).map((m) => m.info?.pid ?? 0);
      return onDemand?.observed === 2 && pids.length === 2;
    }, 'scaler.on_demand has 2 members');
    expect(pids.every(alive)).toBe(true);

    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    // on_shutdown = "stop": the members went with the daemon.
    await waitUntil(() => !pids.some(alive), 'members stopped', 10_000);
  });
});
