import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Daemon, runCli, startDaemon, waitUntil } from '../helpers/daemon.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'waymond-reload-'));
const agent = join(dir, 'agent.sh');
writeFileSync(agent, '#!/bin/sh\ntrap "exit 0" TERM\nwhile true; do sleep 1; done\n');
chmodSync(agent, 0o755);
const main = `workers_${process.pid}`;
const old = `old_${process.pid}`;
const added = `added_${process.pid}`;
const config = join(dir, 'waymond.toml');

function scaler(id: string, extra: string): string {
  return `[[scaler]]
type = "process"
id = "${id}"
command = "${agent}"
resync_interval = "1s"
stop_timeout = "3s"
${extra}
`;
}

/** The config: a webhook feeding `main` with this max, and the other scalers given. */
function write(max: number, others: string, head = ''): void {
  writeFileSync(
    config,
    `${head}[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "to_workers"
from = "trigger.set"
to = "scaler.${main}"

${scaler(main, `max = ${max}`)}
${others}`,
  );
}

const pids = (id: string) => pidsWithEnv('WAYMOND_SCALER', id).sort((a, b) => a - b);
const logged = (d: Daemon, msg: string) =>
  d.logs.filter((line) => {
    try {
      return (JSON.parse(line) as { msg?: string }).msg === msg;
    } catch {
      return false;
    }
  }).length;

async function components(d: Daemon): Promise<{ address: string; max?: number; observed?: number }[]> {
  return ((await (await fetch(`${d.url}/api/components`)).json()) as { components: [] }).components;
}

/** A scaler that nothing feeds is sent its count straight (as `waymond fire scaler.x` does). */
async function fireScaler(d: Daemon, id: string, desired: number): Promise<void> {
  const response = await fetch(`${d.url}/api/fire/scaler.${id}`, { method: 'POST', body: JSON.stringify({ desired }) });
  expect(response.status).toBe(202);
  await response.text();
}

async function setDesired(d: Daemon, desired: number): Promise<void> {
  const response = await fetch(`${d.url}/hooks/set`, { method: 'POST', body: JSON.stringify({ desired }) });
  expect(response.status).toBe(202);
}

let daemon: Daemon;
let tokenDaemon: Daemon | undefined;

describe('reload: SIGHUP, POST /api/reload and `waymond reload` apply the config as a diff', () => {
  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await tokenDaemon?.stop('SIGKILL');
    killAll([...pids(main), ...pids(old), ...pids(added)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an invalid file changes nothing, logs every error, and the daemon lives on', async () => {
    write(5, scaler(old, 'on_shutdown = "stop"'));
    daemon = await startDaemon(['-c', config, '--state', join(dir, 'state.db')]);
    await setDesired(daemon, 3);
    await fireScaler(daemon, old, 1);
    await waitUntil(() => pids(main).length === 3 && pids(old).length === 1, '3 workers and 1 old member');
    const before = [...pids(main), ...pids(old)];

    writeFileSync(
      config,
      `[[scaler]]\ntype = "process"\nid = "${main}"\nmax = "many"\n\n[[scaler]]\ntype = "nope"\nid = "x"\n`,
    );
    daemon.child.kill('SIGHUP');
    await waitUntil(() => logged(daemon, 'reload refused: nothing changed') === 1, 'the refusal');
    const errors = daemon.logs.filter((l) => l.includes('reload refused: invalid config'));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.join('\n')).toContain(`scaler.${main}`);
    expect(errors.join('\n')).toContain('nope');
    expect(daemon.child.exitCode).toBeNull();
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    expect([...pids(main), ...pids(old)]).toEqual(before);
    expect((await components(daemon)).find((c) => c.address === `scaler.${main}`)?.max).toBe(5);
  });

  it('a changed max: the same members stay, the new max applies', async () => {
    const before = pids(main);
    write(4, scaler(old, 'on_shutdown = "stop"'));
    daemon.child.kill('SIGHUP');
    await waitUntil(() => logged(daemon, 'config reloaded') === 1, 'the reload');
    expect((await components(daemon)).find((c) => c.address === `scaler.${main}`)?.max).toBe(4);
    // Adopted, not restarted: the same processes, and a resync later still the same.
    const reconciles = logged(daemon, 'adopted members of a previous run');
    expect(reconciles).toBeGreaterThanOrEqual(1);
    expect(pids(main)).toEqual(before);
    await setDesired(daemon, 5);
    await waitUntil(() => pids(main).length === 4, '4 workers (the new max)');
    expect(pids(main)).toEqual(expect.arrayContaining(before));
    // The unchanged scaler was left alone: no second adoption log names it.
    const oldAdoptions = daemon.logs.filter(
      (l) => l.includes(`scaler.${old}`) && l.includes('adopted members of a previous run'),
    );
    expect(oldAdoptions).toHaveLength(0);
  });

  it('a scaler added and one removed: the removed one leaves its members as on_shutdown says', async () => {
    const oldPids = pids(old);
    const workers = pids(main);
    expect(oldPids).toHaveLength(1);
    write(4, scaler(added, 'max = 3'));
    daemon.child.kill('SIGHUP');
    await waitUntil(() => logged(daemon, 'config reloaded') === 2, 'the second reload');
    await waitUntil(() => pids(old).length === 0, 'the removed scaler stops its member (on_shutdown = "stop")');
    await fireScaler(daemon, added, 1);
    await waitUntil(() => pids(added).length === 1, 'the added scaler starts its member');
    const addresses = (await components(daemon)).map((c) => c.address);
    expect(addresses).toContain(`scaler.${added}`);
    expect(addresses).not.toContain(`scaler.${old}`);
    expect(pids(main)).toEqual(workers);
  });

  it('`waymond reload` posts the reload and says what changed, and what waits for a restart', () => {
    write(4, scaler(added, 'max = 2'), '[http]\nport = 9999\n\n');
    const ok = runCli(['reload', '--url', daemon.url]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`restarted scaler.${added}`);
    expect(ok.stdout).toContain('note: [http] changed; it takes effect on a restart only');
    expect(pids(added)).toHaveLength(1);

    writeFileSync(config, '[[scaler]\n');
    const bad = runCli(['reload', '--url', daemon.url]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('the daemon kept its running config');
    expect(daemon.child.exitCode).toBeNull();
  });

  it('with [http] token_env set, POST /api/reload needs the token', async () => {
    const tokenConfig = join(dir, 'token.toml');
    writeFileSync(tokenConfig, '[http]\ntoken_env = "RELOAD_TEST_TOKEN"\n');
    tokenDaemon = await startDaemon(['-c', tokenConfig, '--state', join(dir, 'token.db')], {
      RELOAD_TEST_TOKEN: 'reload-secret',
    });
    const denied = await fetch(`${tokenDaemon.url}/api/reload`, { method: 'POST' });
    expect(denied.status).toBe(401);
    await denied.text();
    expect(logged(tokenDaemon, 'config reloaded')).toBe(0);
    const allowed = runCli(['reload', '--url', tokenDaemon.url, '--token-env', 'RELOAD_TEST_TOKEN'], {
      RELOAD_TEST_TOKEN: 'reload-secret',
    });
    expect(allowed.status).toBe(0);
    expect(allowed.stdout).toContain('0 unchanged');
  });
});
