/**
 * The test Docker engine (DOCKER_HOST, see ENVIRONMENT.md) and the test image
 * `waymond-test/busybox:1`, imported from the local static busybox when missing: no
 * registry is reachable here.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { requireService } from './services.js';

export const TEST_IMAGE = 'waymond-test/busybox:1';

export async function dockerForTests(): Promise<Docker | undefined> {
  const docker = new Docker();
  const ok = await requireService(`Docker engine (${process.env.DOCKER_HOST ?? 'local socket'})`, async () => {
    await docker.ping();
    return true;
  });
  if (!ok) return undefined;
  await ensureTestImage(docker);
  return docker;
}

async function ensureTestImage(docker: Docker): Promise<void> {
  try {
    await docker.getImage(TEST_IMAGE).inspect();
    return;
  } catch {
    // import it below
  }
  const root = mkdtempSync(join(tmpdir(), 'waymond-bb-'));
  try {
    mkdirSync(join(root, 'bin'));
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const applet of ['sh', 'sleep', 'echo', 'cat', 'kill']) symlinkSync('busybox', join(root, 'bin', applet));
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [repo, tag] = TEST_IMAGE.split(':') as [string, string];
    const stream = await docker.importImage(tar.stdout, { repo, tag });
    await new Promise<void>((done, fail) =>
      docker.modem.followProgress(stream, (error: Error | null) => (error ? fail(error) : done())),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export async function containersLabelled(docker: Docker, scalerId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`waymond.scaler=${scalerId}`] } });
}

export async function removeLabelled(docker: Docker, scalerId: string): Promise<void> {
  for (const c of await containersLabelled(docker, scalerId)) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}
