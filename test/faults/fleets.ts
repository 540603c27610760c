/**
 * The member fleets the kill -9 rounds drive: process (`sleep` members), docker (busybox
 * `sleep` containers on the test engine) and ssh (`sleep` over two real sshd servers on
 * loopback). Each says how to count what really runs and what the daemon tracks:
 * - orphans: members that run but the daemon does not list (a process with our markers, a
 *   container with our label, an ssh member with our WAYMOND_SCALER);
 * - duplicates: two live members on one slot (process and ssh have slots; a docker
 *   container has a unique name and no slot, so it has none by construction).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import type Docker from 'dockerode';
import type { Daemon } from '../helpers/daemon.js';
import { containersLabelled, dockerForTests, removeLabelled, TEST_IMAGE } from '../helpers/docker.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';
import { killGroups, type SshLab, startSshLab } from '../helpers/sshd.js';

export interface Figures {
  live: number;
  tracked: number;
  orphans: number;
  duplicates: number;
}

export interface Fleet {
  kind: 'process' | 'docker' | 'ssh';
  scalerId: string;
  /** The desired count of a scale-up. */
  size: number;
  /** Largest random delay between the webhook and the kill. */
  jitterMs: number;
  /**
   * In a scale-up, count the delay from the first member seen running rather than from the
   * webhook (an ssh member starts seconds after it: connecting comes first).
   */
  fromFirstMember?: boolean;
  /** Longest a restart may take to converge (the daemon's own start included). */
  convergeMs: number;
  /** The [[scaler]] block. */
  toml: string;
  /** Environment the daemon needs (DOCKER_HOST…). */
  env: NodeJS.ProcessEnv;
  figures(d: Daemon): Promise<Figures>;
  /** Members running now, whether or not a daemon is up. */
  live(): Promise<number>;
  cleanup(): Promise<void>;
}

interface ApiMember {
  id: string;
  state: string;
  info?: { pid?: number; name?: string };
}

export async function apiMembers(d: Daemon, scalerId: string, token?: string): Promise<ApiMember[]> {
  const res = await fetch(`${d.url}/api/components`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const { components } = (await res.json()) as { components: { address: string; members?: ApiMember[] }[] };
  return components.find((c) => c.address === `scaler.${scalerId}`)?.members ?? [];
}

function envOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Live marked processes against the daemon's list, slots read from WAYMOND_INDEX (or a per-slot file). */
async function processFigures(
  d: Daemon,
  scalerId: string,
  slotOf: (pid: number) => string | undefined,
): Promise<Figures> {
  const live = pidsWithEnv('WAYMOND_SCALER', scalerId);
  const members = await apiMembers(d, scalerId);
  const tracked = new Set(members.map((m) => m.info?.pid));
  const slots = live.map(slotOf).filter((s) => s !== undefined);
  return {
    live: live.length,
    tracked: members.filter((m) => m.state !== 'stopping').length,
    orphans: live.filter((pid) => !tracked.has(pid)).length,
    duplicates: slots.length - new Set(slots).size,
  };
}

export function processFleet(extra = ''): Fleet {
  const scalerId = `faults_proc_${process.pid}`;
  return {
    kind: 'process',
    scalerId,
    size: 20,
    jitterMs: 100,
    convergeMs: 30_000,
    env: {},
    toml: `[[scaler]]
type = "process"
id = "${scalerId}"
command = "sleep"
args = ["600"]
max = 20
stop_timeout = "2s"
resync_interval = "1s"
on_shutdown = "keep"
${extra}`,
    figures: (d) => processFigures(d, scalerId, (pid) => envOf(pid).find((e) => e.startsWith('WAYMOND_INDEX='))),
    live: async () => pidsWithEnv('WAYMOND_SCALER', scalerId).length,
    async cleanup() {
      killAll(pidsWithEnv('WAYMOND_SCALER', scalerId));
    },
  };
}

export async function dockerFleet(): Promise<Fleet | undefined> {
  const docker: Docker | undefined = await dockerForTests();
  if (!docker) return undefined;
  const scalerId = `faults_docker_${process.pid}`;
  await removeLabelled(docker, scalerId);
  return {
    kind: 'docker',
    scalerId,
    size: 4,
    jitterMs: 1500,
    convergeMs: 60_000,
    env: { DOCKER_HOST: process.env.DOCKER_HOST },
    toml: `[[scaler]]
type = "docker"
id = "${scalerId}"
image_name = "${TEST_IMAGE.split(':')[0]}"
image_tag = "${TEST_IMAGE.split(':')[1]}"
cmd = ["sleep", "600"]
pull = "never"
max = 4
stop_timeout = "1s"
resync_interval = "1s"
on_shutdown = "keep"
`,
    async figures(d) {
      // Every labelled container, whatever its state: a leftover must be removed too.
      const containers = await containersLabelled(docker, scalerId);
      const members = await apiMembers(d, scalerId);
      const tracked = new Set(members.map((m) => m.id));
      const names = containers.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, ''));
      return {
        live: containers.length,
        tracked: members.filter((m) => m.state !== 'stopping').length,
        orphans: names.filter((n) => !tracked.has(n)).length,
        duplicates: 0,
      };
    },
    live: async () => (await containersLabelled(docker, scalerId)).filter((c) => c.State === 'running').length,
    async cleanup() {
      await removeLabelled(docker, scalerId);
    },
  };
}

/** The file a member's stdout goes to: `<host dir>/slot-<n>.log`, one per host and slot. */
function logOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/fd/1`);
  } catch {
    return undefined;
  }
}

export async function sshFleet(): Promise<Fleet | undefined> {
  const basePort = 23_000 + (process.pid % 500) * 2;
  const lab: SshLab | undefined = await startSshLab([basePort, basePort + 1]);
  if (!lab) return undefined;
  const scalerId = `faults_ssh_${process.pid}`;
  const hosts = lab.servers
    .map(
      (s) =>
        `  { host = "127.0.0.1", port = ${s.port}, user = "root", key_file = "${lab.clientKey}", dir = "${s.memberDir}" },`,
    )
    .join('\n');
  return {
    kind: 'ssh',
    scalerId,
    size: 6,
    jitterMs: 1500,
    fromFirstMember: true,
    convergeMs: 60_000,
    env: {},
    toml: `[[scaler]]
type = "ssh"
id = "${scalerId}"
command = "exec sleep 600"
per_host_max = 3
max = 6
known_hosts = "${lab.knownHosts}"
stop_timeout = "2s"
connect_timeout = "5s"
resync_interval = "1s"
on_shutdown = "keep"
hosts = [
${hosts}
]
`,
    figures: (d) => processFigures(d, scalerId, logOf),
    live: async () => pidsWithEnv('WAYMOND_SCALER', scalerId).length,
    async cleanup() {
      killGroups(pidsWithEnv('WAYMOND_SCALER', scalerId));
      await lab.cleanup();
    },
  };
}
