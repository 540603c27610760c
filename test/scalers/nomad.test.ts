import { readFileSync } from 'node:fs';
import pino from 'pino';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reconciler } from '../../src/core/reconciler.js';
import type { Scaler } from '../../src/core/types.js';
import { wireScaler } from '../../src/core/wire-scaler.js';
import { nomad } from '../../src/scalers/nomad.js';
import { type NomadApi, startNomadApi } from '../fixtures/nomad-api.js';
import { type TestContext, testContext } from '../helpers/context.js';

const TOKEN_ENV = 'WAYMOND_TEST_NOMAD_TOKEN_UNIT';
const TOKEN = '5f0e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b';

describe('nomad config', () => {
  it('validates its own example', () => {
    const example = parse(nomad.example) as { scaler: unknown[] };
    expect(() => nomad.schema.parse(example.scaler[0])).not.toThrow();
  });

  it('defaults to the local agent', () => {
    expect(nomad.schema.parse({ type: 'nomad', id: 'n', job: 'j', group: 'g' }).address).toBe('http://127.0.0.1:4646');
  });
});

describe('nomad scaler against the job scale API', () => {
  let api: NomadApi;
  let t: TestContext | undefined;
  let reconciler: Reconciler | undefined;
  let scaler: Scaler | undefined;

  beforeEach(async () => {
    api = await startNomadApi();
    api.token = TOKEN;
    process.env[TOKEN_ENV] = TOKEN;
    api.addJob({
      id: 'buildkite-agent',
      namespace: 'ci',
      groups: { agents: { count: 2, running: 1, healthy: 1, scaling: { min: 0, max: 10 } } },
    });
  });
  afterEach(async () => {
    await reconciler?.stop(1000);
    t?.close();
    reconciler = undefined;
    scaler = undefined;
    t = undefined;
    delete process.env[TOKEN_ENV];
    await api.close();
  });

  async function boot(config: Record<string, unknown> = {}, options: { dryRun?: boolean } = {}) {
    t = testContext('scaler', 'nomad', { dryRun: options.dryRun });
    const parsed = nomad.schema.parse({
      type: 'nomad',
      id: 'nomad',
      address: api.address,
      job: 'buildkite-agent',
      group: 'agents',
      namespace: 'ci',
      token_env: TOKEN_ENV,
      retry_initial: '10s',
      ...config,
    });
    scaler = await nomad.create(parsed, t.ctx);
    reconciler = wireScaler({
      address: 'scaler.nomad',
      scaler,
      settings: parsed,
      clock: t.clock,
      bus: t.bus,
      store: t.store,
      logger: pino({ level: 'silent' }),
      dryRun: options.dryRun,
    }).reconciler;
    return { scaler, reconciler };
  }

  const job = () => api.job('buildkite-agent', 'ci');
  const posts = () => api.requests.filter((r) => r.method === 'POST');

  it('reads Desired as the count and Running as ready, in the recorded shape', async () => {
    const recorded = JSON.parse(readFileSync(new URL('../fixtures/nomad/scale-status.json', import.meta.url), 'utf8'));
    const g = recorded.TaskGroups.agents;
    const fixtureJob = job();
    if (fixtureJob) fixtureJob.groups.agents = { count: g.Desired, running: g.Running, healthy: g.Healthy };
    const { scaler } = await boot();
    expect(await scaler.observe({})).toEqual({ count: 2, ready: 1 });
    expect(api.requests[0]?.query.get('namespace')).toBe('ci');
    expect(api.requests[0]?.token).toBe(TOKEN);
  });

  it('posts Count, Target.Group, the reason as Message, and Meta', async () => {
    const { reconciler } = await boot({ region: 'global' });
    const result = await reconciler.reconcileNow(5, {}, null, 'queue has 5 jobs');
    expect(result.outcome).toBe('ok');
    expect(job()?.groups.agents?.count).toBe(5);
    expect(job()?.scaleRequests).toEqual([
      {
        Count: 5,
        Target: { Group: 'agents' },
        Message: 'queue has 5 jobs',
        Meta: { 'waymond.scaler': 'scaler.nomad', 'waymond.previous_count': 2 },
      },
    ]);
    expect(posts()[0]?.query.get('region')).toBe('global');
  });

  it('surfaces Permission denied without a valid token', async () => {
    process.env[TOKEN_ENV] = 'not-the-token';
    const { reconciler } = await boot();
    const result = await reconciler.reconcileNow(3, {});
    expect(result.error).toBe('scaler.nomad: GET /v1/job/buildkite-agent/scale answered 403: Permission denied');
    expect(posts()).toEqual([]);
  });

  it('says so when the token variable is unset, without calling Nomad', async () => {
    delete process.env[TOKEN_ENV];
    const { reconciler } = await boot();
    const result = await reconciler.reconcileNow(3, {});
    expect(result.error).toBe(`scaler.nomad: environment variable ${TOKEN_ENV} is not set`);
    expect(api.requests).toEqual([]);
  });

  it('reports an unknown job', async () => {
    const { reconciler } = await boot({ job: 'nope' });
    const result = await reconciler.reconcileNow(3, {});
    expect(result.error).toBe('scaler.nomad: GET /v1/job/nope/scale answered 404: job not found');
  });

  it('reports an unknown task group with the groups the job has', async () => {
    const { reconciler } = await boot({ group: 'nope' });
    const result = await reconciler.reconcileNow(3, {});
    expect(result.error).toBe('scaler.nomad: job "buildkite-agent" has no task group "nope" (groups: agents)');
  });

  it("surfaces the scaling policy maximum with Nomad's message and changes nothing", async () => {
    const { reconciler } = await boot();
    const result = await reconciler.reconcileNow(12, {});
    expect(result.outcome).toBe('error');
    expect(result.error).toBe(
      'scaler.nomad: POST /v1/job/buildkite-agent/scale answered 400: group count was greater than scaling policy maximum: 12 > 10',
    );
    expect(job()?.groups.agents?.count).toBe(2);
  });

  it('refuses to scale a stopped job', async () => {
    const stopped = job();
    if (stopped) stopped.stopped = true;
    const { reconciler } = await boot();
    const result = await reconciler.reconcileNow(3, {});
    expect(result.error).toBe('scaler.nomad: job "buildkite-agent" is stopped; waymond does not scale a stopped job');
    expect(posts()).toEqual([]);
  });

  it('honours disable_scale_in and disable_scale_out', async () => {
    const first = await boot({ disable_scale_in: true });
    expect((await first.reconciler.reconcileNow(0, {})).outcome).toBe('ok');
    expect(job()?.groups.agents?.count).toBe(2);
    expect(posts()).toEqual([]);
    await first.reconciler.reconcileNow(4, {});
    expect(job()?.groups.agents?.count).toBe(4);
    await first.reconciler.stop(1000);
    t?.close();
    // boot() replaces the reconciler afterEach stops.
    const second = await boot({ disable_scale_out: true });
    await second.reconciler.reconcileNow(9, {});
    expect(job()?.groups.agents?.count).toBe(4);
  });

  it('in dry run only reads', async () => {
    const { reconciler } = await boot({}, { dryRun: true });
    const result = await reconciler.reconcileNow(7, {}, null, 'asked 7');
    expect(result.outcome).toBe('dry_run');
    expect(result.reason).toMatch(
      /^asked 7; dry run, would call: POST http:\/\/127\.0\.0\.1:\d+\/v1\/job\/[\w-]+\/scale\S* \{"Count":7,"Target":\{"Group":"agents"\},"Message":"asked 7","Meta":\{"waymond\.scaler":"scaler\.nomad","waymond\.previous_count":2\}\}$/,
    );
    expect(api.requests.map((r) => r.method)).toEqual(['GET']);
    expect(job()?.groups.agents?.count).toBe(2);
  });

  it('a dry run lists exactly the request apply sends', async () => {
    const dry = await boot({}, { dryRun: true });
    const listed = await dry.reconciler.reconcileNow(7, {}, null, 'asked 7');
    const body = /would call: POST \S+ (\{.*\})$/.exec(listed.reason)?.[1];
    await dry.reconciler.stop(1000);
    t?.close();
    const real = await boot();
    expect((await real.reconciler.reconcileNow(7, {}, null, 'asked 7')).outcome).toBe('ok');
    expect(posts().map((r) => r.body)).toEqual([JSON.parse(body ?? 'null')]);
  });
});
