/**
 * waymond itself as a systemd service (contrib/systemd/waymond.service), in a real systemd
 * 252: the built package (dist, package.json and its production node_modules, as the
 * package will hold them) and a Node 24 binary are installed into the container, then
 * `systemctl start waymond` scales a template unit of that same systemd through the local
 * transport, `systemctl reload waymond` applies a changed config in place (same main pid),
 * and `systemctl stop waymond` ends it cleanly (its on_shutdown = "stop" runs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/scaler-harness.js';
import { requireService } from '../helpers/services.js';
import { docker, type SystemdHost, type SystemdLab, startSystemdLab } from '../peers/systemd/lab.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE = process.env.WAYMOND_NODE24 ?? '/opt/waymond-node/24/node_modules/node/bin/node';
const PREFIX = '/usr/lib/node_modules/waymond';
const port = 23_900 + (process.pid % 90);

/** Top-level production packages (nested ones travel inside them), relative to ROOT. */
function productionPackages(): string[] {
  // npm ls exits non-zero for extraneous packages in a shared node_modules; its list is still right.
  const out = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, maxBuffer: 64 << 20 });
  const paths = out.stdout
    .toString()
    .trim()
    .split('\n')
    .map((p) => relative(ROOT, p))
    .filter((p) => p.startsWith('node_modules/') && p.split('node_modules/').length === 2);
  return [...new Set(paths)];
}

const CONFIG = `
[[trigger]]
type = "interval"
id = "tick"
every = "1s"

[[connect]]
type = "direct"
id = "keep_two"
from = "trigger.tick"
to = "scaler.agents"

[[scaler]]
type = "systemd"
id = "agents"
unit = "svc-agent@.service"
count = 2
on_shutdown = "stop"
env = { STARTED_BY = "waymond.service" }
`;

describe('waymond as a systemd service', () => {
  let lab: SystemdLab | undefined;

  beforeAll(async () => {
    const built = await requireService('a built waymond (npm run build: dist/cli/main.js)', async () =>
      existsSync(join(ROOT, 'dist/cli/main.js')),
    );
    if (!built || !existsSync(NODE)) return;
    lab = await startSystemdLab([port]);
  }, 180_000);

  afterAll(async () => {
    await lab?.cleanup();
  }, 60_000);

  it('systemctl start waymond scales a local template unit, reload applies a new config, stop exits cleanly', async (ctx) => {
    if (!lab) return ctx.skip();
    const host = lab.hosts[0] as SystemdHost;
    const t0 = performance.now();
    const files = ['dist', 'package.json', ...productionPackages()];
    host.sh(`mkdir -p ${PREFIX}`);
    execFileSync(
      'sh',
      ['-c', `tar -C "$0" -c "$@" | docker exec -i ${host.name} tar -C ${PREFIX} -x`, ROOT, ...files],
      {
        env: { ...process.env, DOCKER_HOST: process.env.DOCKER_HOST ?? 'unix:///tmp/dockerd/docker.sock' },
        maxBuffer: 16 << 20,
      },
    );
    docker(['cp', NODE, `${host.name}:/usr/local/bin/node`]);
    const installSeconds = ((performance.now() - t0) / 1000).toFixed(1);
    console.info(`waymond service: package and node installed in the container in ${installSeconds} s`);

    host.installUnit('svc-agent@.service', "[Service]\nExecStart=/bin/sh -c 'exec sleep infinity'\n");
    host.sh('mkdir -p /etc/waymond /etc/systemd/system/waymond.service.d && cat > /etc/waymond/waymond.toml', CONFIG);
    host.sh(
      'cat > /etc/systemd/system/waymond.service.d/local-units.conf',
      readFileSync(join(ROOT, 'contrib/systemd/waymond-local-units.conf'), 'utf8'),
    );
    host.installUnit('waymond.service', readFileSync(join(ROOT, 'contrib/systemd/waymond.service'), 'utf8'));
    // The unit as shipped is what systemd itself accepts.
    expect(host.sh('systemd-analyze verify /etc/systemd/system/waymond.service 2>&1 || true')).not.toMatch(
      /waymond\.service:.*(unknown|invalid|failed)/i,
    );

    host.sh('systemctl start waymond');
    const active = () => [...host.instances('svc-agent').values()].filter((s) => s === 'active').length;
    await waitUntil(() => active() === 2, 'waymond.service to start 2 svc-agent units', 60_000);
    expect(host.sh('systemctl is-active waymond').trim()).toBe('active');
    const pid = host.sh('systemctl show -p MainPID --value svc-agent@1.service').trim();
    expect(host.sh(`tr '\\0' '\\n' < /proc/${pid}/environ`)).toMatch(/^STARTED_BY=waymond\.service$/m);
    // Hardening is in force where waymond runs.
    const props = host.sh('systemctl show -p NoNewPrivileges,ProtectSystem,StateDirectory,Restart waymond');
    expect(props).toMatch(/NoNewPrivileges=yes/);
    expect(props).toMatch(/ProtectSystem=strict/);
    expect(props).toMatch(/StateDirectory=waymond/);
    expect(props).toMatch(/Restart=on-failure/);
    expect(host.sh('test -f /var/lib/waymond/state.db && echo yes').trim()).toBe('yes');
    // systemctl reload (ExecReload= sends SIGHUP): the new count applies, the daemon stays the same process.
    const mainPid = host.sh('systemctl show -p MainPID --value waymond').trim();
    host.sh('cat > /etc/waymond/waymond.toml', CONFIG.replace('count = 2', 'count = 3'));
    host.sh('systemctl reload waymond');
    await waitUntil(() => active() === 3, 'the reloaded config to start a third svc-agent unit', 60_000);
    expect(host.sh('systemctl is-active waymond').trim()).toBe('active');
    expect(host.sh('systemctl show -p MainPID --value waymond').trim()).toBe(mainPid);
    expect(host.sh('journalctl -u waymond --no-pager -o cat')).toContain('config reloaded');

    host.sh('systemctl stop waymond');
    const after = host.sh('systemctl show -p ActiveState,Result,ExecMainStatus waymond');
    expect(after).toMatch(/ActiveState=inactive/);
    expect(after).toMatch(/Result=success/);
    // Its clean shutdown ran: on_shutdown = "stop" stopped the units it kept (systemd may
    // still be finishing the stop jobs waymond queued as it exited).
    await waitUntil(() => active() === 0, 'the units waymond stopped at shutdown to be inactive', 10_000);
  }, 180_000);
});
