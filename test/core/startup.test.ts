/**
 * Startup memory: the big client libraries load only when a component that needs them is
 * created, so importing the registry (every CLI verb does) and validating a config that uses
 * none of them never loads them. Each case runs a fresh Node with a loader hook
 * (test/helpers/forbid-heavy.mjs) that makes importing a forbidden package throw.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/daemon.js';

/** Libraries whose components load them lazily; importing any of them at startup is a regression. */
const LAZY = [
  '@aws-sdk/',
  '@kubernetes/client-node',
  '@nats-io/',
  'amqplib',
  'bullmq',
  'dockerode',
  'ioredis',
  'mqtt',
  'mysql2',
  'pg',
  'ssh2',
];

function runForbidding(forbidden: string[], args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './test/helpers/forbid-heavy.mjs', ...args],
    {
      cwd: ROOT,
      env: { ...process.env, WAYMOND_FORBIDDEN_MODULES: forbidden.join(',') },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const IMPORT_REGISTRY = [
  '--input-type=module',
  '-e',
  "const { defaultRegistry } = await import('./src/registry.ts'); console.log(defaultRegistry().types('scaler').length);",
];

describe('startup loads no client library', () => {
  it('the forbidding hook works: importing a forbidden package fails', () => {
    const result = runForbidding(['ioredis'], ['--input-type=module', '-e', "await import('ioredis');"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('forbidden module "ioredis"');
  });

  it('importing the registry', () => {
    const result = runForbidding(LAZY, IMPORT_REGISTRY);
    expect(result.status, result.stderr).toBe(0);
    expect(Number(result.stdout.trim())).toBeGreaterThan(5);
  });

  it('waymond validate examples/quickstart.toml', () => {
    const result = runForbidding(LAZY, ['src/cli/main.ts', 'validate', 'examples/quickstart.toml']);
    expect(result.status, result.stderr).toBe(0);
  });

  it('waymond schema', () => {
    const result = runForbidding(LAZY, ['src/cli/main.ts', 'schema']);
    expect(result.status, result.stderr).toBe(0);
  });
});
