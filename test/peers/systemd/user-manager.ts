/**
 * A real `systemd --user` manager on this host, for the local transport (`systemctl
 * --user`, run by the scaler exactly as in production). systemd refuses to start unless
 * /run/systemd/system exists, so that directory is faked in a private mount namespace only;
 * the manager gets its own cgroup subtree. Clients need only XDG_RUNTIME_DIR. Stopped by
 * its own pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireService } from '../../helpers/services.js';

export interface UserManager {
  /** XDG_RUNTIME_DIR and HOME a client needs to reach this manager. */
  env: { XDG_RUNTIME_DIR: string; HOME: string };
  /** Writes a user unit and reloads the manager. */
  unitDir: string;
  stop(): Promise<void>;
}

function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) removeCgroup(join(dir, entry.name));
  try {
    rmdirSync(dir);
  } catch {
    // still has a process; it goes with the manager
  }
}

export async function startUserManager(): Promise<UserManager | undefined> {
  const ok = await requireService('systemd 252 (/lib/systemd/systemd) and unshare', async () =>
    existsSync('/lib/systemd/systemd'),
  );
  if (!ok) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'waymond-user-manager-'));
  const env = { XDG_RUNTIME_DIR: join(dir, 'xdg'), HOME: join(dir, 'home') };
  mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });
  const unitDir = join(env.HOME, '.config/systemd/user');
  mkdirSync(unitDir, { recursive: true });
  const cgroup = `waymond-user-${process.pid}`;
  const roots = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'].filter((r) => existsSync(r));
  for (const r of roots) mkdirSync(join(r, cgroup), { recursive: true });
  const script = `for r in ${roots.join(' ')}; do echo $$ > "$r/${cgroup}/cgroup.procs"; done
mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system
exec /lib/systemd/systemd --user`;
  const manager: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const socket = join(env.XDG_RUNTIME_DIR, 'systemd/private');
  const deadline = Date.now() + 15_000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline || manager.exitCode !== null) {
      manager.kill('SIGKILL');
      throw new Error('systemd --user did not open its private socket');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  writeFileSync(join(dir, 'manager.pid'), String(manager.pid));
  return {
    env,
    unitDir,
    async stop() {
      if (manager.exitCode === null) {
        const exited = new Promise((r) => manager.once('exit', r));
        // SIGTERM: the manager stops its units and exits.
        manager.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (manager.exitCode === null) manager.kill('SIGKILL');
      }
      for (const r of roots) removeCgroup(join(r, cgroup));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
