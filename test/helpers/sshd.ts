/**
 * Real OpenSSH servers on loopback for the ssh scaler's tests: generated host keys, a
 * generated client key in authorized_keys, and a known_hosts file listing the host keys.
 * Each server is killed by its own pid (and its session processes by theirs).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, requireService } from './services.js';

export interface Sshd {
  port: number;
  /** Per-host directory for the scaler's pid files (both servers share this machine). */
  memberDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface SshLab {
  dir: string;
  clientKey: string;
  knownHosts: string;
  servers: Sshd[];
  cleanup(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return kids;
}

async function waitPort(port: number, up: boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await canConnect(port)) === up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd on port ${port} did not ${up ? 'start' : 'stop'}`);
}

export async function startSshLab(ports: number[]): Promise<SshLab | undefined> {
  const ok = await requireService('OpenSSH server (/usr/sbin/sshd)', async () => existsSync(SSHD));
  if (!ok) return undefined;
  mkdirSync('/run/sshd', { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'waymond-sshd-'));
  const clientKey = join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
  const knownHosts = join(dir, 'known_hosts');
  const servers: Sshd[] = [];
  const known: string[] = [];
  for (const port of ports) {
    const hostKey = join(dir, `host_${port}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    const [type, blob] = readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
    known.push(`[127.0.0.1]:${port} ${type} ${blob}`);
    const config = join(dir, `sshd_${port}.conf`);
    writeFileSync(
      config,
      [
        `HostKey ${hostKey}`,
        'ListenAddress 127.0.0.1',
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'StrictModes no',
        'UsePAM no',
        `PidFile ${join(dir, `sshd_${port}.pid`)}`,
        '',
      ].join('\n'),
    );
    let child: ChildProcess | undefined;
    const server: Sshd = {
      port,
      memberDir: join(dir, `members_${port}`),
      async start() {
        child = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: 'ignore' });
        await waitPort(port, true);
      },
      async stop() {
        const pid = child?.pid;
        if (!pid || child?.exitCode !== null) return;
        // Sessions first: a listener's death alone leaves open connections working.
        for (const kid of childrenOf(pid)) {
          try {
            process.kill(kid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        const exited = new Promise((r) => child?.once('exit', r));
        process.kill(pid, 'SIGKILL');
        await exited;
        await waitPort(port, false);
      },
    };
    await server.start();
    servers.push(server);
  }
  writeFileSync(knownHosts, `${known.join('\n')}\n`);
  return {
    dir,
    clientKey,
    knownHosts,
    servers,
    async cleanup() {
      for (const s of servers) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Live member pids from a host's pid files (read locally: the test hosts share this machine). */
export function memberPids(memberDir: string): number[] {
  if (!existsSync(memberDir)) return [];
  const pids: number[] = [];
  for (const f of readdirSync(memberDir).filter((n) => n.endsWith('.pid'))) {
    const [pid, start] = readFileSync(join(memberDir, f), 'utf8').trim().split(' ').map(Number);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[19]) === start) pids.push(pid as number);
    } catch {
      // not running
    }
  }
  return pids;
}

export function killGroups(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
