/**
 * The original project's cron -> docker config, unchanged but for the image (no registry is
 * reachable here, so `redis:latest` becomes a local test image whose default command keeps
 * running), runs through the real engine against the real Docker engine.
 */
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import type { Engine } from '../../src/core/engine.js';
import { createDaemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../src/registry.js';
import { waitUntil } from '../helpers/daemon.js';
import { containersLabelled, dockerForTests, removeLabelled, TEST_IMAGE } from '../helpers/docker.js';
import { SEED_DIR } from '../helpers/shared.js';

const SEED_IMAGE = 'waymond-test/seed-agent';
const SCALER_ID = 'local_redis_containers';

/** The test image plus a default command, as a real service image has. */
async function seedImage(docker: Docker): Promise<void> {
  const container = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], NetworkDisabled: true });
  try {
    await container.commit({ repo: SEED_IMAGE, tag: 'latest', changes: 'CMD ["sleep", "3600"]' });
  } finally {
    await container.remove({ force: true });
  }
}

describe('seed cron-docker.toml through the engine', () => {
  let docker: Docker | undefined;
  let engine: Engine | undefined;

  beforeAll(async () => {
    docker = await dockerForTests();
    if (docker) {
      await removeLabelled(docker, SCALER_ID);
      await seedImage(docker);
    }
  }, 120_000);

  afterAll(async () => {
    await engine?.stop();
    if (docker) await removeLabelled(docker, SCALER_ID);
  }, 120_000);

  it("keeps the static count of containers, labelled as waymond's, each time the cron fires", async (ctx) => {
    if (!docker) return ctx.skip();
    const seed = readFileSync(`${SEED_DIR}/cron-docker.toml`, 'utf8');
    const text = seed.replace('image_name = "redis"', `image_name = "${SEED_IMAGE}"`);
    expect(text).not.toBe(seed);
    const loaded = loadConfigText(text, '/tmp/waymond-seed/cron-docker.toml', defaultRegistry(), process.env);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    engine = createDaemon(loaded.config, {
      logger: pino({ level: 'silent' }),
      statePath: ':memory:',
      http: false,
    }).engine;
    await engine.start();
    await engine.fire('trigger.global_cron', {});
    const d = docker;
    await waitUntil(
      async () => (await containersLabelled(d, SCALER_ID)).filter((c) => c.State === 'running').length === 2,
      '2 running containers',
      60_000,
    );

    // One is removed behind waymond's back: the next cron tick re-asserts count = 2.
    const [first] = await containersLabelled(d, SCALER_ID);
    await d.getContainer((first as Docker.ContainerInfo).Id).remove({ force: true });
    await engine.fire('trigger.global_cron', {});
    await waitUntil(
      async () => (await containersLabelled(d, SCALER_ID)).filter((c) => c.State === 'running').length === 2,
      'the count restored',
      60_000,
    );
    const images = new Set((await containersLabelled(d, SCALER_ID)).map((c) => c.Image));
    expect([...images]).toEqual([`${SEED_IMAGE}:latest`]);
  });
});
