/**
 * The systemd scaler against a real systemd 252: PID 1 in containers (over their real sshd
 * on loopback TCP ports), and a real `systemd --user` manager on this host for the local
 * transport. Each test uses its own template, so they share two containers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemd } from '../../src/scalers/systemd/scaler.js';
import { describeScalerConformance } from '../conformance/scaler-conformance.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';
import { type SystemdHost, type SystemdLab, startSystemdLab } from '../peers/systemd/lab.js';
import { startUserManager, type UserManager } from '../peers/systemd/user-manager.js';

const basePort = 23_000 + (process.pid % 500) * 4;

// One lab for the whole file (booting is the slow part), made on first use.
let labPromise: Promise<SystemdLab | undefined> | undefined;
const lab = () => {
  labPromise ??= startSystemdLab([basePort, basePort + 1]);
  return labPromise;
};
afterAll(async () => {
  const l = await labPromise;
  await l?.cleanup();
}, 60_000);

const agentUnit = (extra = '') => `[Unit]
Description=waymond test agent %i
[Service]
Type=simple
ExecStart=/bin/sh -c 'echo "agent %i up"; exec sleep infinity'
${extra}
`;

function hostsOf(l: SystemdLab, which: SystemdHost[] = l.hosts) {
  return which.map((h) => ({ host: '127.0.0.1', port: h.port, user: 'root', key_file: l.clientKey }));
}

function config(l: SystemdLab, unit: string, extra: Record<string, unknown> = {}) {
  return {
    unit,
    hosts: hostsOf(l, l.hosts.slice(0, 1)),
    known_hosts: l.knownHosts,
    stop_timeout: '5s',
    connect_timeout: '3s',
    ...extra,
  };
}

const activeCount = (h: SystemdHost, prefix: string) =>
  [...h.instances(prefix).values()].filter((s) => s === 'active' || s === 'activating').length;

describeScalerConformance({
  name: 'systemd',
  async setup() {
    const l = await lab();
    if (!l) return undefined;
    const h = l.hosts[0] as SystemdHost;
    h.installUnit('conf@.service', agentUnit());
    return {
      definition: systemd,
      config: config(l, 'conf@.service'),
      countOnTarget: async () => activeCount(h, 'conf'),
      membersOnTarget: async () =>
        [...h.instances('conf')].filter(([, s]) => s === 'active' || s === 'activating').map(([unit]) => unit),
      removeOneBehindBack: async () => {
        h.sh('systemctl stop "$(systemctl list-units --plain --no-legend "conf@*.service" | head -1 | cut -d" " -f1)"');
      },
      breakTarget: async () => {
        await h.stopSsh();
        return () => h.startSsh();
      },
      cleanup: async () => {
        h.sh("systemctl stop 'conf@*.service'");
      },
    };
  },
});

describe('systemd scaler against a real systemd over SSH', () => {
  let l: SystemdLab | undefined;
  const started: Harness[] = [];
  const harness = async (id: string, raw: Record<string, unknown>) => {
    const h = await startHarness(systemd, `${id}_${process.pid}`, raw);
    started.push(h);
    return h;
  };

  beforeAll(async () => {
    l = await lab();
    if (l) console.info(`systemd boot: ${l.hosts.map((h) => `${h.name} ${h.bootSeconds.toFixed(2)} s`).join(', ')}`);
  }, 120_000);

  afterAll(async () => {
    for (const h of started) await h.close().catch(() => undefined);
  }, 60_000);

  it('scales 0 → 5 → 2 → 0: numbered instances, lowest slots first, env from a drop-in', async (ctx) => {
    if (!l) return ctx.skip();
    const host = l.hosts[0] as SystemdHost;
    host.installUnit('scale@.service', agentUnit());
    const h = await harness('scale', config(l, 'scale@.service', { env: { AGENT_TAGS: 'queue=build,"x" 100%' } }));

    const t0 = performance.now();
    expect(await h.reconciler.reconcileNow(5, {})).toMatchObject({ outcome: 'ok', observed: 0 });
    await waitUntil(() => activeCount(host, 'scale') === 5, '5 active instances');
    console.info(`systemd scale 0 → 5 over SSH: ${Math.round(performance.now() - t0)} ms`);
    expect([...host.instances('scale').keys()].sort()).toEqual([1, 2, 3, 4, 5].map((n) => `scale@${n}.service`));
    // Every instance has the env, written as a drop-in of the template, not in the manager.
    const pid = host.sh('systemctl show -p MainPID --value scale@3.service').trim();
    expect(host.sh(`tr '\\0' '\\n' < /proc/${pid}/environ`)).toMatch(/^AGENT_TAGS=queue=build,"x" 100%$/m);
    expect(host.sh('systemctl show-environment')).not.toMatch(/AGENT_TAGS/);
    expect(host.sh(`cat '/etc/systemd/system/scale@.service.d/waymond-scale_${process.pid}.conf'`)).toContain(
      'Environment="AGENT_TAGS=queue=build,\\"x\\" 100%%"',
    );
    const observed = await h.scaler.observe({});
    expect(observed.count).toBe(5);
    expect(observed.members?.[0]?.info).toMatchObject({ host: '127.0.0.1', port: host.port, unit: 'scale@1.service' });
    expect(Number(observed.members?.[0]?.info?.pid)).toBeGreaterThan(1);

    expect(await h.reconciler.reconcileNow(2, {})).toMatchObject({ outcome: 'ok', observed: 5 });
    await waitUntil(() => activeCount(host, 'scale') === 2, '2 active instances');
    await waitUntil(async () => (await h.scaler.observe({})).count === 2, 'the scaler to observe 2');
    // A slot freed by scale-in is the first one a scale-out takes again.
    const left = [...host.instances('scale').keys()];
    expect(await h.reconciler.reconcileNow(3, {})).toMatchObject({ outcome: 'ok', observed: 2 });
    const free = [1, 2, 3, 4, 5].find((n) => !left.includes(`scale@${n}.service`));
    await waitUntil(() => host.instances('scale').get(`scale@${free}.service`) === 'active', `slot ${free} reused`);

    expect(await h.reconciler.reconcileNow(0, {})).toMatchObject({ outcome: 'ok', observed: 3 });
    await waitUntil(() => host.instances('scale').size === 0, 'no instance left');
  });

  it('heals a killed MainPID and resets a failed unit (ExecStart=/bin/false), starting it again', async (ctx) => {
    if (!l) return ctx.skip();
    const host = l.hosts[0] as SystemdHost;
    host.installUnit('heal@.service', agentUnit());
    host.installUnit('broken@.service', '[Service]\nExecStart=/bin/false\n');
    const heal = await harness('heal', config(l, 'heal@.service'));
    expect((await heal.reconciler.reconcileNow(2, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(host, 'heal') === 2, '2 active instances');
    const before = host.sh('systemctl show -p MainPID --value heal@1.service').trim();
    heal.reconciler.start();
    host.sh(`kill -9 ${before}`);
    // No Restart= in the unit: it fails, housekeeping resets it, the resync starts slot 1 again.
    await waitUntil(() => {
      const now = host.sh('systemctl show -p MainPID,ActiveState --value heal@1.service').trim().split('\n');
      return now[1] === 'active' && now[0] !== before && now[0] !== '0';
    }, 'heal@1 running again with a new MainPID');
    expect(activeCount(host, 'heal')).toBe(2);
    await heal.reconciler.stop(5000);

    const broken = await harness('broken', config(l, 'broken@.service'));
    broken.reconciler.start();
    broken.reconciler.request(1, {});
    const invocations = new Set<string>();
    await waitUntil(() => {
      const id = host.sh('systemctl show -p InvocationID --value broken@1.service').trim();
      if (id) invocations.add(id);
      return invocations.size >= 3;
    }, 'broken@1 started three times');
    // It never counts, and never takes another slot: slot 1 is reset, not abandoned.
    expect((await broken.scaler.observe({})).count).toBe(0);
    expect([...host.instances('broken').keys()].every((u) => u === 'broken@1.service')).toBe(true);
    await broken.reconciler.stop(5000);
  });

  it('two hosts: least loaded first, per_host_max, a down host overflows and counts again when back', async (ctx) => {
    if (!l) return ctx.skip();
    const [a, b] = l.hosts as [SystemdHost, SystemdHost];
    for (const host of [a, b]) host.installUnit('pair@.service', agentUnit());
    const h = await harness('pair', config(l, 'pair@.service', { hosts: hostsOf(l), per_host_max: 3 }));
    expect((await h.reconciler.reconcileNow(4, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(a, 'pair') === 2 && activeCount(b, 'pair') === 2, '2 + 2');

    const over = await h.reconciler.reconcileNow(7, {});
    expect(over.outcome).toBe('error');
    expect(over.error).toMatch(
      /placed 2 of 3 new instances of pair@\.service: no reachable host has room \(per_host_max 3\)/,
    );
    await waitUntil(() => activeCount(a, 'pair') === 3 && activeCount(b, 'pair') === 3, '3 + 3');

    expect((await h.reconciler.reconcileNow(4, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(a, 'pair') + activeCount(b, 'pair') === 4, '4 in all');

    await a.stopSsh();
    let down: Awaited<ReturnType<typeof h.reconciler.reconcileNow>>;
    try {
      // A is down: its share overflows to B, up to B's per_host_max.
      down = await h.reconciler.reconcileNow(4, {});
    } finally {
      await a.startSsh();
    }
    expect(down).toMatchObject({ outcome: 'error', observed: 2 });
    expect(down.error).toMatch(
      new RegExp(`placed 1 of 2 new instances .*; down: 127\\.0\\.0\\.1:${a.port} \\(.*is down`),
    );
    expect(
      h.events.some(
        (e) => e.topic.endsWith('.error') && String(e.data.error).includes(`host 127.0.0.1:${a.port} is down`),
      ),
    ).toBe(true);
    expect(activeCount(b, 'pair')).toBe(3);
    // A's instances kept running (systemd keeps them): back, they count again and the surplus goes.
    expect(activeCount(a, 'pair')).toBe(2);
    // (The failed reconcile's own retry may be the one that sees 5; either way 5 becomes 4,
    // which it could not if A's instances were not counted: B has no room for a fifth.)
    await waitUntil(async () => {
      const back = await h.reconciler.reconcileNow(4, {});
      return back.outcome === 'ok' && activeCount(a, 'pair') + activeCount(b, 'pair') === 4;
    }, '4 in all again');
    expect((await h.scaler.observe({})).count).toBe(4);
    expect((await h.reconciler.reconcileNow(0, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(a, 'pair') + activeCount(b, 'pair') === 0, 'none');
  });

  it('busy-aware scale-in keeps the busy units: busy_check runs on the host with MainPID and slot', async (ctx) => {
    if (!l) return ctx.skip();
    const host = l.hosts[1] as SystemdHost;
    host.installUnit('busy@.service', agentUnit());
    const h = await harness(
      'busy',
      config(l, 'busy@.service', {
        hosts: hostsOf(l, [host]),
        // Busy when /run/busy-<slot> holds the member's own MainPID.
        busy_check: '[ "$(cat /run/busy-$WAYMOND_INDEX 2>/dev/null)" = "$WAYMOND_MEMBER_PID" ]',
      }),
    );
    expect((await h.reconciler.reconcileNow(3, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(host, 'busy') === 3, '3 active');
    for (const slot of [2, 3]) host.sh(`systemctl show -p MainPID --value busy@${slot}.service > /run/busy-${slot}`);
    expect((await h.reconciler.reconcileNow(1, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(host, 'busy') === 2, 'the idle one stopped');
    expect([...host.instances('busy').keys()].sort()).toEqual(['busy@2.service', 'busy@3.service']);
    host.sh('rm -f /run/busy-2 /run/busy-3');
    expect((await h.reconciler.reconcileNow(0, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(host, 'busy') === 0, 'all stopped once idle');
  });

  it('a restarted waymond adopts: no duplicates; a hand-started slot counts, other instances are never touched', async (ctx) => {
    if (!l) return ctx.skip();
    const host = l.hosts[1] as SystemdHost;
    host.installUnit('adopt@.service', agentUnit());
    const h = await harness('adopt', config(l, 'adopt@.service', { hosts: hostsOf(l, [host]) }));
    expect((await h.reconciler.reconcileNow(3, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(host, 'adopt') === 3, '3 active');
    const pids = host.sh('systemctl show -p MainPID --value adopt@1.service adopt@2.service adopt@3.service');
    await h.restart();
    host.sh('systemctl start adopt@7.service adopt@web.service');
    const observed = await h.scaler.observe({});
    expect(observed.count).toBe(4);
    expect(observed.members?.map((m) => m.id).sort()).toEqual(
      [1, 2, 3, 7].map((n) => `127.0.0.1:${host.port}/adopt@${n}.service`),
    );
    expect(await h.reconciler.reconcileNow(4, {})).toMatchObject({ outcome: 'ok', observed: 4 });
    expect(host.sh('systemctl show -p MainPID --value adopt@1.service adopt@2.service adopt@3.service')).toBe(pids);
    expect((await h.reconciler.reconcileNow(0, {})).outcome).toBe('ok');
    await waitUntil(() => activeCount(host, 'adopt') === 1, 'only adopt@web left');
    expect(host.instances('adopt').get('adopt@web.service')).toBe('active');
    host.sh('systemctl stop adopt@web.service');
  });

  it('names the host and the unit when the template does not exist', async (ctx) => {
    if (!l) return ctx.skip();
    const host = l.hosts[0] as SystemdHost;
    const h = await harness('missing', config(l, 'missing@.service'));
    const result = await h.reconciler.reconcileNow(1, {});
    expect(result.outcome).toBe('error');
    expect(result.error).toMatch(
      new RegExp(
        `^scaler\\.missing_\\d+: systemctl start missing@1\\.service on host 127\\.0\\.0\\.1:${host.port} failed \\(exit 5\\): .*Unit missing@1\\.service not found`,
      ),
    );
  });

  it('names the host and the unit when the login may not manage system units (permission denied)', async (ctx) => {
    if (!l) return ctx.skip();
    const host = l.hosts[0] as SystemdHost;
    host.installUnit('perm@.service', agentUnit());
    // An unprivileged login with the same key: it may list units, not start them.
    host.sh(
      'id ci >/dev/null 2>&1 || useradd -m ci; mkdir -p ~ci/.ssh; cp /root/.ssh/authorized_keys ~ci/.ssh/; chown -R ci ~ci/.ssh',
    );
    const h = await harness('perm', {
      ...config(l, 'perm@.service'),
      hosts: [{ host: '127.0.0.1', port: host.port, user: 'ci', key_file: l.clientKey }],
    });
    expect((await h.scaler.observe({})).count).toBe(0);
    const result = await h.reconciler.reconcileNow(1, {});
    expect(result.outcome).toBe('error');
    expect(result.error).toMatch(
      new RegExp(
        `^scaler\\.perm_\\d+: systemctl start perm@1\\.service on host 127\\.0\\.0\\.1:${host.port} failed \\(exit 4\\): Failed to start perm@1\\.service: Access denied`,
      ),
    );
    expect(host.instances('perm').size).toBe(0);
  });

  it('a dry run lists the systemctl calls and changes nothing', async (ctx) => {
    if (!l) return ctx.skip();
    const host = l.hosts[0] as SystemdHost;
    host.installUnit('dry@.service', agentUnit());
    const h = await harness('dry', config(l, 'dry@.service', { env: { A: '1' } }));
    const observed = await h.scaler.observe({});
    const calls = h.scaler.describeApply?.({ desired: 2, observed, add: 2, remove: [], data: {}, reason: 'test' });
    expect(calls).toEqual([
      `ssh root@127.0.0.1:${host.port} write /etc/systemd/system/'dry@.service.d'/'waymond-dry_${process.pid}.conf' (Environment A) and systemctl --no-pager --no-ask-password daemon-reload, if it changed`,
      `ssh root@127.0.0.1:${host.port} systemctl --no-pager --no-ask-password start --no-block dry@1.service dry@2.service`,
    ]);
    expect(host.instances('dry').size).toBe(0);
  });
});

describe('systemd scaler, local transport, against a real systemd --user manager', () => {
  let manager: UserManager | undefined;
  let h: Harness | undefined;
  const saved = { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR, HOME: process.env.HOME };

  beforeAll(async () => {
    manager = await startUserManager();
    if (manager) Object.assign(process.env, manager.env);
  }, 60_000);

  afterAll(async () => {
    await h?.close().catch(() => undefined);
    await manager?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }, 60_000);

  it('scales instances with systemctl --user on this host, env from a user drop-in', async (ctx) => {
    if (!manager) return ctx.skip();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${manager.unitDir}/local@.service`, agentUnit());
    h = await startHarness(systemd, `local_${process.pid}`, {
      unit: 'local@.service',
      user: true,
      env: { SLOT_NOTE: 'from waymond' },
      busy_check: 'test "$(cat /proc/$WAYMOND_MEMBER_PID/comm)" = sleep && test "$WAYMOND_INDEX" = 1',
    });
    const { execFileSync } = await import('node:child_process');
    const active = () =>
      (
        JSON.parse(
          execFileSync('systemctl', ['--user', 'list-units', '--all', '--output=json', 'local@*.service']).toString(),
        ) as { unit: string; active: string }[]
      )
        .filter((u) => u.active === 'active')
        .map((u) => u.unit)
        .sort();
    expect((await h.reconciler.reconcileNow(3, {})).outcome).toBe('ok');
    await waitUntil(() => active().length === 3, '3 user instances');
    const pid = execFileSync('systemctl', ['--user', 'show', '-p', 'MainPID', '--value', 'local@2.service'])
      .toString()
      .trim();
    expect(
      execFileSync('tr', ['\\0', '\\n'], {
        input: (await import('node:fs')).readFileSync(`/proc/${pid}/environ`),
      }).toString(),
    ).toMatch(/^SLOT_NOTE=from waymond$/m);
    // Slot 1 is busy (its busy_check runs here with its MainPID): scale-in takes 2 and 3.
    expect((await h.reconciler.reconcileNow(1, {})).outcome).toBe('ok');
    await waitUntil(() => active().join() === 'local@1.service', 'only local@1 left');
  });
});
