/**
 * A real systemd 252 for the systemd scaler's tests: Debian 12 booted with systemd as PID 1
 * in a container on the Docker engine .ci/run starts (image built by .ci/systemd.sh), with
 * its real sshd reached on a loopback TCP port (socat on the host, entering the container's
 * network namespace; the container itself has no network). Everything a lab starts it
 * removes itself: containers by name, socat by its pid.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, requireService } from '../../helpers/services.js';

export const IMAGE = process.env.WAYMOND_SYSTEMD_IMAGE ?? 'waymond-test/systemd:bookworm';
const DOCKER_HOST = process.env.DOCKER_HOST ?? 'unix:///tmp/dockerd/docker.sock';

export interface SystemdHost {
  name: string;
  /** Loopback TCP port of the container's sshd. */
  port: number;
  /** Seconds from `docker run` to `systemctl is-system-running` saying running. */
  bootSeconds: number;
  /** Runs a shell script inside the container (as root), returns stdout. */
  sh(script: string, input?: string): string;
  /** Writes a unit file under /etc/systemd/system and reloads systemd. */
  installUnit(name: string, text: string): void;
  /** Instances of a template as systemd itself lists them: unit → ActiveState. */
  instances(prefix: string): Map<string, string>;
  /** Cuts the SSH path (the port refuses, open connections die) until startSsh. */
  stopSsh(): Promise<void>;
  startSsh(): Promise<void>;
}

export interface SystemdLab {
  dir: string;
  clientKey: string;
  knownHosts: string;
  hosts: SystemdHost[];
  cleanup(): Promise<void>;
}

export function docker(args: string[], input?: string): string {
  return execFileSync('docker', args, {
    env: { ...process.env, DOCKER_HOST },
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 16 * 1024 * 1024,
  }).toString();
}

async function imageThere(): Promise<boolean> {
  docker(['image', 'inspect', IMAGE]);
  return true;
}

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return kids;
}

function killTree(pid: number): void {
  for (const kid of childrenOf(pid)) killTree(kid);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

async function poll(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function boot(name: string, port: number, pubKey: string): Promise<SystemdHost> {
  const t0 = performance.now();
  docker([
    'run',
    '-d',
    '--name',
    name,
    '--hostname',
    name,
    // --privileged fails here (CAP_SYS_RESOURCE is not in the bounding set): all caps but that one.
    '--cap-add',
    'ALL',
    '--cap-drop',
    'SYS_RESOURCE',
    '--security-opt',
    'seccomp=unconfined',
    '--cgroupns=host',
    '-v',
    '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/run/lock',
    '--tmpfs',
    '/tmp',
    '--network',
    'none',
    '--stop-signal',
    'SIGRTMIN+3',
    IMAGE,
  ]);
  const sh = (script: string, input?: string) => docker(['exec', '-i', name, 'sh', '-c', script], input);
  await poll(() => {
    try {
      return /^(running|degraded)/.test(sh('systemctl is-system-running || true'));
    } catch {
      return false;
    }
  }, `systemd in ${name} to boot`);
  const bootSeconds = (performance.now() - t0) / 1000;
  sh('cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys', pubKey);
  const pid = docker(['inspect', '-f', '{{.State.Pid}}', name]).trim();
  let socat: ChildProcess | undefined;
  const host: SystemdHost = {
    name,
    port,
    bootSeconds,
    sh,
    installUnit(unit, text) {
      sh(`cat > /etc/systemd/system/${unit} && systemctl daemon-reload`, text);
    },
    instances(prefix) {
      const rows = JSON.parse(sh(`systemctl list-units --all --output=json '${prefix}@*.service'`)) as {
        unit: string;
        active: string;
      }[];
      return new Map(rows.filter((r) => r.active !== 'inactive').map((r) => [r.unit, r.active]));
    },
    async startSsh() {
      socat = spawn(
        'socat',
        [
          `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
          `EXEC:nsenter -t ${pid} -n socat STDIO TCP\\:127.0.0.1\\:22`,
        ],
        { stdio: 'ignore' },
      );
      await poll(() => canConnect(port), `socat on port ${port}`);
    },
    async stopSsh() {
      const p = socat?.pid;
      if (!p || socat?.exitCode !== null) return;
      const exited = new Promise((r) => socat?.once('exit', r));
      killTree(p);
      await exited;
      socat = undefined;
      await poll(async () => !(await canConnect(port)), `port ${port} to close`);
    },
  };
  await host.startSsh();
  return host;
}

/** Boots one container per port; undefined (skip) when the image is missing outside CI. */
export async function startSystemdLab(ports: number[]): Promise<SystemdLab | undefined> {
  const ok = await requireService(`Docker engine with the ${IMAGE} image (.ci/systemd.sh)`, imageThere);
  if (!ok) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'waymond-systemd-'));
  const clientKey = join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  const pubKey = readFileSync(`${clientKey}.pub`, 'utf8');
  const hosts: SystemdHost[] = [];
  const cleanup = async () => {
    for (const h of hosts) await h.stopSsh();
    for (const h of hosts) {
      try {
        docker(['rm', '-f', h.name]);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Boot in parallel: each takes ~1.5-2.5 s, mostly waiting for systemd.
    const booted = await Promise.allSettled(
      ports.map((port) => boot(`waymond-sd-${process.pid}-${port}`, port, pubKey)),
    );
    for (const b of booted) if (b.status === 'fulfilled') hosts.push(b.value);
    const failed = booted.find((b) => b.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  } catch (error) {
    for (const port of ports) {
      try {
        docker(['rm', '-f', `waymond-sd-${process.pid}-${port}`]);
      } catch {
        // not created
      }
    }
    await cleanup();
    throw error;
  }
  // Every container of the image has the same host keys (made at debootstrap): list them per port.
  const keys = hosts[0]?.sh('cat /etc/ssh/ssh_host_*_key.pub') ?? '';
  const known = hosts.flatMap((h) =>
    keys
      .trim()
      .split('\n')
      .map((line) => `[127.0.0.1]:${h.port} ${line.split(' ').slice(0, 2).join(' ')}`),
  );
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${known.join('\n')}\n`);
  return { dir, clientKey, knownHosts, hosts, cleanup };
}
