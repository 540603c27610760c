/**
 * Each verb loads only what it uses (main.ts imports a verb's module when that verb runs):
 * `validate` must not load the HTTP server, prom-client, pino, the store or the simulator,
 * and yaml loads only for a YAML file. Each case runs the CLI in a fresh Node with a preload
 * (fixtures/record-loads.mjs) that records every module resolved, by import or require, so an
 * eager import anywhere on the path (a verb's module imported at the top of main.ts, a
 * library imported at the top of a file `validate` reaches) makes it fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'waymond-startup-imports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `waymond ARGS` from the sources; answers the modules it resolved (URLs) and how it exited. */
function loadsOf(args: string[]): { status: number | null; stderr: string; modules: string[] } {
  const record = join(dir, `loads-${Math.random().toString(36).slice(2)}.txt`);
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './test/cli/fixtures/record-loads.mjs', 'src/cli/main.ts', ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WAYMOND_RECORD_LOADS: record } },
  );
  const modules = readFileSync(record, 'utf8').split('\n').filter(Boolean);
  return { status: result.status, stderr: result.stderr, modules };
}

const packageOf = (url: string) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(url)?.[1];
const packages = (modules: string[]) => new Set(modules.map(packageOf).filter(Boolean));
/** Own modules, as paths under src/ ('server/http.ts'). */
const ownFiles = (modules: string[]) =>
  modules.filter((url) => url.startsWith(`file://${ROOT}src/`)).map((url) => url.slice(`file://${ROOT}src/`.length));

const SERVER_LIBRARIES = ['fastify', 'prom-client', 'pino', 'pino-pretty'];

describe('start-up loads only what the verb uses', () => {
  it('validate (TOML): no server, metrics, logger, store, simulator or yaml', () => {
    const { status, stderr, modules } = loadsOf(['validate', 'examples/quickstart.toml']);
    expect(status, stderr).toBe(0);
    const loaded = packages(modules);
    for (const library of [...SERVER_LIBRARIES, 'yaml']) expect(loaded, library).not.toContain(library);
    expect(modules).not.toContain('node:sqlite');
    const own = ownFiles(modules);
    expect(own).toContain('registry.ts');
    expect(own.filter((f) => /^(server|store|sim)\/|^daemon\.ts$|^cli\/(run|simulate-run)\.ts$/.test(f))).toEqual([]);
  });

  it('validate (YAML) loads yaml, and still no server library', () => {
    const file = join(dir, 'w.yaml');
    writeFileSync(file, 'scaler:\n  - type: noop\n    id: s\n    max: 2\n');
    const { status, stderr, modules } = loadsOf(['validate', file]);
    expect(status, stderr).toBe(0);
    const loaded = packages(modules);
    expect(loaded).toContain('yaml');
    for (const library of SERVER_LIBRARIES) expect(loaded, library).not.toContain(library);
  });

  it('simulate loads the simulator and pino, but not the server, prom-client or the store', () => {
    const { status, stderr, modules } = loadsOf([
      'simulate',
      '-c',
      'test/sim/fixtures/metric-per-request.toml',
      '--trace',
      'test/sim/fixtures/jobs-small.csv',
      '--trace-kind',
      'metric',
      '--json',
    ]);
    expect(status, stderr).toBe(0);
    const loaded = packages(modules);
    expect(loaded).toContain('pino');
    for (const library of ['fastify', 'prom-client']) expect(loaded, library).not.toContain(library);
    const own = ownFiles(modules);
    expect(own).toContain('sim/run.ts');
    expect(own.filter((f) => /^(server|store)\/|^daemon\.ts$/.test(f))).toEqual([]);
  });

  it('--version loads neither the registry nor zod', () => {
    const { status, stderr, modules } = loadsOf(['--version']);
    expect(status, stderr).toBe(0);
    expect(packages(modules)).not.toContain('zod');
    expect(ownFiles(modules).sort()).toEqual([
      'cli/choices.ts',
      'cli/main.ts',
      'cli/node-runtime.ts',
      'cli/simulate.ts',
      'cli/version.ts',
    ]);
  });
});
