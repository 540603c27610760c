import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ssh } from '../../src/scalers/ssh.js';
import { describeScalerConformance } from '../conformance/scaler-conformance.js';
import { type Harness, startHarness } from '../helpers/scaler-harness.js';
import { killGroups, memberPids, type SshLab, startSshLab } from '../helpers/sshd.js';

const basePort = 22_000 + (process.pid % 500) * 4;

function sshConfig(lab: SshLab, extra: Record<string, unknown> = {}) {
  return {
    hosts: lab.servers.map((s) => ({
      host: '127.0.0.1',
      port: s.port,
      user: 'root',
      key_file: lab.clientKey,
      dir: s.memberDir,
    })),
    known_hosts: lab.knownHosts,
    command: 'exec sleep 300',
    per_host_max: 3,
    stop_timeout: '2s',
    connect_timeout: '3s',
    ...extra,
  };
}

const allPids = (lab: SshLab) => lab.servers.flatMap((s) => memberPids(s.memberDir));

describeScalerConformance({
  name: 'ssh',
  async setup() {
    const lab = await startSshLab([basePort, basePort + 1]);
    if (!lab) return undefined;
    return {
      definition: ssh,
      config: sshConfig(lab),
      countOnTarget: async () => allPids(lab).length,
      membersOnTarget: async () => allPids(lab).map(String),
      // The pid file of a member that is gone: housekeeping would remove it.
      leaveLitter: async () => {
        const server = lab.servers[0] as SshLab['servers'][number];
        mkdirSync(server.memberDir, { recursive: true });
        const file = join(server.memberDir, 'slot-99.pid');
        writeFileSync(file, '999999 1 0\n');
        return async () => existsSync(file);
      },
      removeOneBehindBack: async () => killGroups(allPids(lab).slice(0, 1)),
      breakTarget: async () => {
        for (const s of lab.servers) await s.stop();
        return async () => {
          for (const s of lab.servers) await s.start();
        };
      },
      cleanup: async () => {
        killGroups(allPids(lab));
        await lab.cleanup();
      },
    };
  },
});

describe('ssh scaler against real sshd servers', () => {
  let lab: SshLab | undefined;
  const started: Harness[] = [];

  beforeAll(async () => {
    lab = await startSshLab([basePort + 2, basePort + 3]);
  });

  afterAll(async () => {
    for (const h of started) await h.close().catch(() => undefined);
    if (!lab) return;
    killGroups(allPids(lab));
    await lab.cleanup();
  });

  /** What the host itself says about a process, asked through its sshd with the OpenSSH client. */
  const onHost = (port: number, command: string) =>
    execFileSync('ssh', [
      '-i',
      (lab as SshLab).clientKey,
      '-o',
      `UserKnownHostsFile=${(lab as SshLab).knownHosts}`,
      '-o',
      'BatchMode=yes',
      '-p',
      String(port),
      'root@127.0.0.1',
      command,
    ]).toString();

  it('spreads members least-loaded first; each runs on its host, started through that sshd', async (ctx) => {
    if (!lab) return ctx.skip();
    const [a, b] = lab.servers as [SshLab['servers'][number], SshLab['servers'][number]];
    const h = await startHarness(ssh, `spread_${process.pid}`, sshConfig(lab));
    started.push(h);
    expect((await h.reconciler.reconcileNow(3, {})).outcome).toBe('ok');
    const pidsA = memberPids(a.memberDir);
    const pidsB = memberPids(b.memberDir);
    expect([pidsA.length, pidsB.length]).toEqual([2, 1]);
    for (const [server, pids] of [
      [a, pidsA],
      [b, pidsB],
    ] as const) {
      for (const pid of pids) {
        expect(onHost(server.port, `ps -o args= -p ${pid}`).trim()).toBe('sleep 300');
        const env = onHost(server.port, `tr '\\0' '\\n' < /proc/${pid}/environ`);
        expect(env).toMatch(new RegExp(`^SSH_CONNECTION=127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${server.port}$`, 'm'));
        expect(env).toMatch(/^WAYMOND_INDEX=\d$/m);
      }
    }

    // Host A goes away: its capacity overflows to B, which is re-checked every observe.
    await a.stop();
    const result = await h.reconciler.reconcileNow(3, {});
    expect(result).toMatchObject({ outcome: 'ok', observed: 1 });
    expect(memberPids(b.memberDir)).toHaveLength(3);
    expect(
      h.events.some((e) => e.topic.endsWith('.error') && String(e.data.error).includes(`127.0.0.1:${a.port} is down`)),
    ).toBe(true);

    // Back up: A's members count again, and the surplus is scaled in (newest first, on B).
    await a.start();
    const back = await h.reconciler.reconcileNow(3, {});
    expect(back).toMatchObject({ outcome: 'ok', observed: 5 });
    await h.close();
    started.pop();
    killGroups(allPids(lab));
  });

  it('refuses a host whose key is not in known_hosts, and names it', async (ctx) => {
    if (!lab) return ctx.skip();
    const wrong = join(lab.dir, 'wrong_known_hosts');
    writeFileSync(
      wrong,
      '[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n',
    );
    const h = await startHarness(ssh, `hostkey_${process.pid}`, sshConfig(lab, { known_hosts: wrong }));
    started.push(h);
    const result = await h.reconciler.reconcileNow(1, {});
    expect(result.outcome).toBe('error');
    expect(result.error).toMatch(
      /^scaler\.hostkey_\d+: placed 0 of 1 new members: no reachable host has room .*down: 127\.0\.0\.1:\d+ \(.*verification failed/,
    );
    expect(allPids(lab)).toHaveLength(0);
  });
});
