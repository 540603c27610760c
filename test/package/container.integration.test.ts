/**
 * The container image on the real Docker engine, with no network (`--network none`): the
 * quickstart config mounted read-only, state in the image's volume. Checks the
 * healthcheck turns healthy, /readyz answers (through `docker exec`, since nothing can
 * reach the container from outside), a webhook scales real worker processes inside the
 * container, running as the non-root user, and `docker stop` (SIGTERM through tini) stops
 * them and exits 0. The image is built by .ci/container.sh (CI runs it before the tests;
 * this file runs it when the image is missing).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, waitUntil } from '../helpers/daemon.js';

const IMAGE = process.env.WAYMOND_TEST_IMAGE ?? 'waymond:test';
const name = `waymond-image-test-${process.pid}`;
const config = mkdtempSync(join(tmpdir(), 'waymond-image-'));

const docker = (args: string[]) => spawnSync('docker', args, { encoding: 'utf8', timeout: 60_000 });
const inspect = (format: string) => docker(['inspect', '-f', format, name]).stdout.trim();
/** Runs a script with the image's own Node, as the image's user, inside the container. */
const inContainer = (script: string) => docker(['exec', name, 'node', '-e', script]);

/** The members of scaler.<id>, as processes seen in the container's /proc. */
const MEMBERS = (id: string) => `
const fs = require('node:fs');
const pids = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).filter((p) => {
  try { return fs.readFileSync('/proc/' + p + '/environ', 'utf8').split('\\0').includes('WAYMOND_SCALER=${id}'); }
  catch { return false; }
});
const uids = pids.map((p) => /Uid:\\s+(\\d+)/.exec(fs.readFileSync('/proc/' + p + '/status', 'utf8'))[1]);
console.log(JSON.stringify({ pids, uids }));`;

const fetchScript = (path: string, init = '{}') =>
  `fetch('http://127.0.0.1:9460${path}', ${init}).then(async (r) => { console.log(r.status); console.log(await r.text()); }, (e) => { console.log(0); console.log(e.message); })`;

beforeAll(() => {
  if (docker(['image', 'inspect', IMAGE]).status !== 0)
    execFileSync('bash', ['.ci/container.sh'], { cwd: ROOT, stdio: 'inherit', timeout: 1_800_000 });
  // The quickstart as shipped, mounted at /etc/waymond; the container's user must read it.
  mkdirSync(join(config, 'workers'));
  copyFileSync(join(ROOT, 'examples', 'quickstart.toml'), join(config, 'waymond.toml'));
  copyFileSync(join(ROOT, 'examples', 'workers', 'worker.mjs'), join(config, 'workers', 'worker.mjs'));
  for (const path of [config, join(config, 'workers')]) chmodSync(path, 0o755);
  const run = docker([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    'none',
    '--health-interval',
    '1s',
    '--health-start-period',
    '30s',
    '-e',
    'WAYMOND_TOKEN=container-test-token',
    '-v',
    `${config}:/etc/waymond:ro`,
    IMAGE,
  ]);
  expect(run.stderr).toBe('');
}, 1_900_000);

afterAll(() => {
  docker(['rm', '-f', '-v', name]);
  rmSync(config, { recursive: true, force: true });
});

describe('the container image', () => {
  it('turns healthy and ready', async () => {
    await waitUntil(() => inspect('{{.State.Health.Status}}') === 'healthy', 'healthcheck healthy', 60_000);
    await waitUntil(() => inContainer(fetchScript('/readyz')).stdout.startsWith('200'), '/readyz 200', 30_000);
  });

  it('runs as a non-root user with the state in its volume', () => {
    const who = inContainer('console.log(process.getuid())').stdout.trim();
    expect(who).not.toBe('0');
    expect(inspect('{{range .Mounts}}{{.Destination}} {{end}}')).toContain('/var/lib/waymond');
    expect(docker(['exec', name, 'test', '-f', '/var/lib/waymond/state.db']).status).toBe(0);
  });

  it('scales worker processes inside the container from a webhook', async () => {
    const posted = inContainer(fetchScript('/hooks/set_workers', `{ method: 'POST', body: '{"desired":3}' }`));
    expect(posted.stdout.split('\n')[0]).toBe('202');
    let seen: { pids: string[]; uids: string[] } = { pids: [], uids: [] };
    await waitUntil(() => {
      seen = JSON.parse(inContainer(MEMBERS('on_demand')).stdout) as typeof seen;
      return seen.pids.length === 3;
    }, 'three on_demand workers in the container');
    expect(seen.uids.every((uid) => uid !== '0')).toBe(true);
    expect(docker(['exec', name, 'test', '-f', '/var/lib/waymond/scaler/on_demand/slot-1.log']).status).toBe(0);

    inContainer(fetchScript('/hooks/set_workers', `{ method: 'POST', body: '{"desired":1}' }`));
    await waitUntil(
      () => (JSON.parse(inContainer(MEMBERS('on_demand')).stdout) as typeof seen).pids.length === 1,
      'back to one on_demand worker',
    );
  });

  it('stops on docker stop (SIGTERM through tini), stopping its members, and exits 0', () => {
    const stopped = docker(['stop', '--time', '30', name]);
    expect(stopped.status).toBe(0);
    expect(inspect('{{.State.ExitCode}}')).toBe('0');
    const logs = docker(['logs', name]);
    expect(logs.stdout).toContain('"signal":"SIGTERM","msg":"shutting down"');
    expect(logs.stdout).toContain('stopping member');
  });
});
