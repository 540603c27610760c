import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker as dockerScaler, SCALER_LABEL } from '../../src/scalers/docker.js';
import { describeScalerConformance } from '../conformance/scaler-conformance.js';
import { containersLabelled, dockerForTests, removeLabelled, TEST_IMAGE } from '../helpers/docker.js';
import { type Harness, startHarness, waitUntil } from '../helpers/scaler-harness.js';

const [IMAGE_NAME, IMAGE_TAG] = TEST_IMAGE.split(':') as [string, string];
const BASE = {
  image_name: IMAGE_NAME,
  image_tag: IMAGE_TAG,
  cmd: ['sleep', '300'],
  network: 'none',
  pull: 'never',
  stop_timeout: '1s',
};

describeScalerConformance({
  name: 'docker',
  async setup(id) {
    const engine = await dockerForTests();
    if (!engine) return undefined;
    // Its own tag of the test image, so breaking the target never touches the shared
    // TEST_IMAGE that other test files run at the same time.
    const tag = id.toLowerCase();
    const image = `${IMAGE_NAME}:${tag}`;
    await engine.getImage(TEST_IMAGE).tag({ repo: IMAGE_NAME, tag });
    const names = async () =>
      (await containersLabelled(engine, id)).map((c) => (c.Names[0] ?? c.Id).replace(/^\//, ''));
    return {
      definition: dockerScaler,
      config: { ...BASE, image_tag: tag },
      countOnTarget: async () => (await containersLabelled(engine, id)).length,
      membersOnTarget: names,
      removeOneBehindBack: async () => {
        const [first] = await containersLabelled(engine, id);
        if (first) await engine.getContainer(first.Id).remove({ force: true });
      },
      breakTarget: async () => {
        // The image's tag disappears from the engine, and pull = "never" forbids fetching it.
        await engine.getImage(image).remove();
        return async () => {
          await engine.getImage(TEST_IMAGE).tag({ repo: IMAGE_NAME, tag });
        };
      },
      // A container of the scaler that never started: housekeeping would remove it.
      leaveLitter: async () => {
        const c = await engine.createContainer({
          Image: image,
          Cmd: ['sleep', '300'],
          Labels: { [SCALER_LABEL]: id },
          HostConfig: { NetworkMode: 'none' },
        });
        return async () => (await containersLabelled(engine, id)).some((x) => x.Id === c.id && x.State === 'created');
      },
      cleanup: async () => {
        await removeLabelled(engine, id);
        await engine
          .getImage(image)
          .remove()
          .catch(() => undefined);
      },
    };
  },
});

describe('docker scaler against a real engine', () => {
  let engine: Docker | undefined;
  const started: Harness[] = [];
  const foreign: string[] = [];
  const start = async (id: string, raw: Record<string, unknown> = {}) => {
    const h = await startHarness(dockerScaler, id, { ...BASE, ...raw });
    started.push(h);
    return h;
  };
  const names = async (id: string) =>
    (await containersLabelled(engine as Docker, id)).map((c) => (c.Names[0] ?? '').replace(/^\//, '')).sort();

  beforeAll(async () => {
    engine = await dockerForTests();
  });

  afterAll(async () => {
    for (const h of started) await h.close().catch(() => undefined);
    if (!engine) return;
    for (const h of started) await removeLabelled(engine, h.id);
    for (const id of foreign)
      await engine
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined);
  });

  it('50 rapid desired changes end at the last count and never exceed max on the engine', async (ctx) => {
    if (!engine) return ctx.skip();
    const id = `rapid_${process.pid}`;
    const h = await start(id, { max: 4 });
    let highest = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        highest = Math.max(highest, (await containersLabelled(engine as Docker, id)).length);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let last = 0;
    for (let i = 0; i < 50; i++) {
      last = Math.floor(random() * 7); // 0..6: some above max, clamped to 4
      h.reconciler.request(last, {});
      await new Promise((r) => setTimeout(r, Math.floor(random() * 60)));
    }
    const expected = Math.min(last, 4);
    await h.reconciler.idle();
    await waitUntil(async () => (await containersLabelled(engine as Docker, id)).length === expected, `${expected}`);
    polling = false;
    await poller;
    expect(highest).toBeLessThanOrEqual(4);
    expect(highest).toBeGreaterThan(0);
    expect((await h.scaler.observe({})).count).toBe(expected);
    const running = (await containersLabelled(engine, id)).filter((c) => c.State === 'running');
    expect(running).toHaveLength(expected);
  });

  it('never touches containers it did not label, even of the same image', async (ctx) => {
    if (!engine) return ctx.skip();
    const id = `foreign_${process.pid}`;
    const labelSets: Record<string, string>[] = [{}, { 'waymond.scaler': `someone_else_${process.pid}` }];
    for (const labels of labelSets) {
      const c = await engine.createContainer({
        Image: TEST_IMAGE,
        Cmd: ['sleep', '300'],
        Labels: labels,
        HostConfig: { NetworkMode: 'none' },
      });
      await c.start();
      foreign.push(c.id);
    }
    const h = await start(id);
    expect((await h.scaler.observe({})).count).toBe(0);
    expect((await h.reconciler.reconcileNow(2, {})).outcome).toBe('ok');
    expect((await h.reconciler.reconcileNow(0, {})).outcome).toBe('ok');
    await waitUntil(async () => (await containersLabelled(engine as Docker, id)).length === 0, 'scale to 0');
    await h.scaler.stopAll?.();
    for (const cid of foreign) expect((await engine.getContainer(cid).inspect()).State.Running).toBe(true);
  });

  it('adopts its containers after a restart: same members, no duplicates, no orphans', async (ctx) => {
    if (!engine) return ctx.skip();
    const id = `adopt_${process.pid}`;
    const h = await start(id);
    await h.reconciler.reconcileNow(3, {});
    const before = await names(id);
    expect(before).toHaveLength(3);
    await h.restart();
    const observed = await h.scaler.observe({});
    expect(observed.members?.map((m) => m.id).sort()).toEqual(before);
    const result = await h.reconciler.reconcileNow(3, {});
    expect(result).toMatchObject({ outcome: 'ok', observed: 3 });
    expect(await names(id)).toEqual(before);
  });

  it.for<[string, Record<string, unknown>]>([
    ['', {}],
    [' (behind the busy-aware scale-in wrapper)', { busy_check: 'false' }],
  ])('removes an exited container and replaces it%s', async ([, extra], ctx) => {
    if (!engine) return ctx.skip();
    const id = `exited_${Object.keys(extra).length}_${process.pid}`;
    const h = await start(id, extra);
    await h.reconciler.reconcileNow(2, {});
    const [victim] = await containersLabelled(engine, id);
    await engine.getContainer(victim?.Id as string).kill();
    const result = await h.reconciler.reconcileNow(2, {});
    expect(result).toMatchObject({ outcome: 'ok', observed: 1 });
    const now = await containersLabelled(engine, id);
    expect(now.map((c) => c.State)).toEqual(['running', 'running']);
    expect(now.some((c) => c.Id === victim?.Id)).toBe(false);
  });

  it('scale-in with busy_check stops idle containers only (exec in the container)', async (ctx) => {
    if (!engine) return ctx.skip();
    const id = `busy_${process.pid}`;
    const h = await start(id, { busy_check: 'read b < /busy 2>/dev/null && [ "$b" = 1 ]' });
    await h.reconciler.reconcileNow(3, {});
    const all = await containersLabelled(engine, id);
    const busy = all.slice(0, 2).map((c) => c.Id);
    for (const cid of busy) {
      const exec = await engine.getContainer(cid).exec({ Cmd: ['sh', '-c', 'echo 1 > /busy'] });
      const stream = await exec.start({ hijack: true, stdin: false });
      await new Promise((r) => {
        stream.on('end', r);
        stream.resume();
      });
      // The stream can end before the engine has recorded the exec's exit: wait for it.
      await waitUntil(async () => (await exec.inspect()).Running === false, 'the exec to finish');
      expect((await exec.inspect()).ExitCode).toBe(0);
    }
    const down = await h.reconciler.reconcileNow(0, {});
    expect(down.outcome).toBe('ok');
    await waitUntil(async () => (await containersLabelled(engine as Docker, id)).length === 2, 'the idle one to go');
    expect((await containersLabelled(engine, id)).map((c) => c.Id).sort()).toEqual([...busy].sort());
  });

  it('errors name the scaler and the cause: engine unreachable, image missing with pull = "never"', async (ctx) => {
    if (!engine) return ctx.skip();
    const gone = await start(`nosock_${process.pid}`, { host: 'unix:///nonexistent/docker.sock' });
    const r1 = await gone.reconciler.reconcileNow(1, {});
    expect(r1.outcome).toBe('error');
    expect(r1.error).toMatch(
      /^scaler\.nosock_\d+: listing containers on Docker engine unix:\/\/\/nonexistent\/docker\.sock failed: .*ENOENT/,
    );
    const missing = await start(`noimage_${process.pid}`, { image_tag: 'no-such-tag' });
    const r2 = await missing.reconciler.reconcileNow(1, {});
    expect(r2.outcome).toBe('error');
    expect(r2.error).toMatch(
      /^scaler\.noimage_\d+: image waymond-test\/busybox:no-such-tag is not on Docker engine .* and pull = "never"$/,
    );
    expect(await containersLabelled(engine, `noimage_${process.pid}`)).toHaveLength(0);
  });
});
