import { createHmac, randomUUID } from 'node:crypto';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { HookResponse, Trigger } from '../../src/core/types.js';
import { githubActions } from '../../src/triggers/ci/github-actions.js';
import { labelsMatch } from '../../src/triggers/ci/job-queue.js';
import { type GithubApi, githubFixture, startGithubApi } from '../fixtures/github-api.js';
import { type TestContext, testContext } from '../helpers/context.js';

const SECRET = 'It’s a Secret to Everybody';
const TOKEN = 'ghp_test_token_value';
const LABELS = ['self-hosted', 'linux', 'x64'];

function payload(action: string, id: number, labels = LABELS): Record<string, unknown> {
  const body = githubFixture(`workflow_job.${action}.json`);
  return { ...body, workflow_job: { ...(body.workflow_job as object), id, labels } };
}

async function deliver(
  t: TestContext,
  event: string,
  body: unknown,
  options: { secret?: string; delivery?: string; raw?: Buffer; signature?: string | null } = {},
): Promise<HookResponse> {
  const handler = t.routes.get(`POST /hooks/${t.ctx.id}`);
  if (!handler) throw new Error('no webhook route mounted');
  const raw = options.raw ?? Buffer.from(JSON.stringify(body));
  const signature =
    options.signature === undefined
      ? `sha256=${createHmac('sha256', options.secret ?? SECRET)
          .update(raw)
          .digest('hex')}`
      : options.signature;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/044aadd',
    'x-github-event': event,
    'x-github-delivery': options.delivery ?? randomUUID(),
  };
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  return handler({ method: 'POST', headers, body: raw, query: {} });
}

const outputs = (t: TestContext) => t.events.filter((e) => e.topic === `${t.ctx.address}.output`).map((e) => e.data);
const errors = (t: TestContext) => t.events.filter((e) => e.topic === `${t.ctx.address}.error`).map((e) => e.data);

describe('labelsMatch (as GitHub matches runs-on to a runner)', () => {
  it.each([
    { job: ['self-hosted'], runner: LABELS, match: true, why: 'a subset matches' },
    { job: ['self-hosted', 'linux', 'x64'], runner: LABELS, match: true, why: 'the full set matches' },
    { job: ['Self-Hosted', 'LINUX'], runner: LABELS, match: true, why: 'case is ignored' },
    { job: ['self-hosted', 'gpu'], runner: LABELS, match: false, why: 'one missing label fails' },
    { job: ['ubuntu-latest'], runner: LABELS, match: false, why: 'a GitHub-hosted job does not match' },
    { job: [], runner: LABELS, match: false, why: 'a job asking for nothing is not ours' },
  ])('$why', ({ job, runner, match }) => {
    expect(labelsMatch(job, runner)).toBe(match);
  });
});

describe('github_actions schema', () => {
  it('validates its example', () => {
    const example = parse(githubActions.example) as { trigger: unknown[] };
    expect(githubActions.schema.safeParse(example.trigger[0]).success).toBe(true);
  });
  it.each([
    [{ labels: LABELS }, 'expected `secret` or `secret_env` (webhooks), or `poll = true`'],
    [{ labels: LABELS, poll: true, owner: 'o' }, 'polling needs `owner` and `repo`, or `org` and `repos`'],
    [{ labels: LABELS, poll: true, owner: 'o', repo: 'r', org: 'x' }, 'set either `owner` and `repo`'],
    [{ labels: [], secret: 's' }, 'Too small'],
  ])('rejects %j', (fields, message) => {
    const result = githubActions.schema.safeParse({ type: 'github_actions', id: 'g', ...fields });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(message);
  });
});

describe('github_actions webhooks', () => {
  let t: TestContext;
  let trigger: Trigger;
  beforeEach(async () => {
    t = testContext('trigger', 'gha');
    trigger = await githubActions.create(
      githubActions.schema.parse({ type: 'github_actions', id: 'gha', labels: LABELS, secret: SECRET }),
      t.ctx,
    );
    await trigger.start();
  });
  afterEach(async () => {
    await trigger.stop();
    t.close();
  });

  it('counts a job through queued → in_progress → completed', async () => {
    expect((await deliver(t, 'workflow_job', payload('queued', 1))).status).toBe(200);
    expect((await deliver(t, 'workflow_job', payload('queued', 2))).status).toBe(200);
    expect((await deliver(t, 'workflow_job', payload('in_progress', 1))).status).toBe(200);
    expect((await deliver(t, 'workflow_job', payload('completed', 1))).status).toBe(200);
    expect(outputs(t).map((d) => [d.value, d.queued, d.in_progress])).toEqual([
      [1, 1, 0],
      [2, 2, 0],
      [2, 1, 1],
      [1, 1, 0],
    ]);
    expect(outputs(t)[0]).toMatchObject({ labels: LABELS, waiting: 0, source: 'webhook' });
  });

  it('counts waiting jobs apart and out of value', async () => {
    await deliver(t, 'workflow_job', payload('waiting', 7));
    expect(outputs(t).at(-1)).toMatchObject({ value: 0, waiting: 1 });
  });

  it('never moves a job backwards when deliveries arrive out of order', async () => {
    await deliver(t, 'workflow_job', payload('completed', 3));
    await deliver(t, 'workflow_job', payload('in_progress', 3));
    await deliver(t, 'workflow_job', payload('queued', 3));
    expect(outputs(t)).toHaveLength(1);
    expect(outputs(t)[0]).toMatchObject({ value: 0 });
  });

  it('ignores a duplicate delivery', async () => {
    const delivery = randomUUID();
    expect((await deliver(t, 'workflow_job', payload('queued', 1), { delivery })).status).toBe(200);
    const again = await deliver(t, 'workflow_job', payload('queued', 1), { delivery });
    expect(again).toEqual({ status: 200, body: { ok: true, duplicate: true } });
    expect(outputs(t)).toHaveLength(1);
  });

  it.each([
    ['a wrong secret', { secret: 'not the secret' }],
    ['no signature', { signature: null }],
    ['a sha1 signature', { signature: 'sha1=0123456789abcdef' }],
  ])('answers 401 to %s and emits nothing', async (_, options) => {
    const response = await deliver(t, 'workflow_job', payload('queued', 1), options);
    expect(response.status).toBe(401);
    expect(t.events).toHaveLength(0);
  });

  it('answers 400 to a signed body that is not JSON, or not a workflow_job', async () => {
    expect((await deliver(t, 'workflow_job', null, { raw: Buffer.from('{nope') })).status).toBe(400);
    expect((await deliver(t, 'workflow_job', { action: 'queued' })).status).toBe(400);
    expect((await deliver(t, 'workflow_job', { action: 'exploded', workflow_job: { id: 1, labels: [] } })).status).toBe(
      400,
    );
    expect(t.events).toHaveLength(0);
  });

  it('answers ping with 200 and other events with 202', async () => {
    expect((await deliver(t, 'ping', githubFixture('ping.json'))).status).toBe(200);
    expect((await deliver(t, 'push', { ref: 'refs/heads/main' })).status).toBe(202);
    expect(t.events).toHaveLength(0);
  });

  it('ignores jobs for other labels', async () => {
    const response = await deliver(t, 'workflow_job', payload('queued', 9, ['ubuntu-latest']));
    expect(response.status).toBe(202);
    expect(outputs(t)).toHaveLength(0);
  });

  it('keeps the counts across a restart (ctx.state)', async () => {
    await deliver(t, 'workflow_job', payload('queued', 1));
    await deliver(t, 'workflow_job', payload('in_progress', 2));
    await trigger.stop();
    trigger = await githubActions.create(
      githubActions.schema.parse({ type: 'github_actions', id: 'gha', labels: LABELS, secret: SECRET }),
      t.ctx,
    );
    await trigger.fire?.({ id: 'x', topic: 'trigger.gha.input', source: 'connector.c', time: 0, data: {} });
    expect(outputs(t).at(-1)).toMatchObject({ value: 2, queued: 1, in_progress: 1, source: 'state' });
  });
});

describe('github_actions polling', () => {
  let api: GithubApi;
  let t: TestContext | undefined;
  let trigger: Trigger | undefined;
  beforeEach(async () => {
    api = await startGithubApi(TOKEN);
    process.env.WAYMOND_TEST_GITHUB_TOKEN = TOKEN;
    api.repos['octo-org/octo-repo'] = [
      {
        id: 100,
        status: 'queued',
        jobs: [
          { id: 1, status: 'queued', labels: ['self-hosted', 'linux'] },
          { id: 2, status: 'queued', labels: ['ubuntu-latest'] },
        ],
      },
      {
        id: 101,
        status: 'in_progress',
        jobs: [
          { id: 3, status: 'in_progress', labels: LABELS },
          { id: 4, status: 'queued', labels: ['self-hosted', 'X64'] },
          { id: 5, status: 'completed', labels: LABELS },
        ],
      },
    ];
  });
  afterEach(async () => {
    await trigger?.stop();
    t?.close();
    t = undefined;
    trigger = undefined;
    delete process.env.WAYMOND_TEST_GITHUB_TOKEN;
    await api.close();
  });

  const create = async (fields: Record<string, unknown>, clock?: VirtualClock) => {
    t = testContext('trigger', 'gha', { clock, hasInput: clock === undefined });
    trigger = await githubActions.create(
      githubActions.schema.parse({
        type: 'github_actions',
        id: 'gha',
        labels: LABELS,
        poll: true,
        owner: 'octo-org',
        repo: 'octo-repo',
        api_url: api.apiUrl,
        token_env: 'WAYMOND_TEST_GITHUB_TOKEN',
        ...fields,
      }),
      t.ctx,
    );
    await trigger.start();
    return t;
  };
  const fire = () => trigger?.fire?.({ id: 'x', topic: 'trigger.gha.input', source: 'connector.c', time: 0, data: {} });

  it('counts matching queued and running jobs from runs and their jobs', async () => {
    const ctx = await create({});
    await fire();
    expect(outputs(ctx)).toEqual([{ value: 3, queued: 2, in_progress: 1, waiting: 0, labels: LABELS, source: 'poll' }]);
    expect(api.log[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.log[0]?.headers['x-github-api-version']).toBe('2022-11-28');
  });

  it('sends If-None-Match and reuses the last result on 304, spending no rate limit', async () => {
    const ctx = await create({});
    await fire();
    const spent = api.rateLimit.remaining;
    const requestsBefore = api.log.length;
    await fire();
    const second = api.log.slice(requestsBefore);
    expect(second.length).toBeGreaterThan(0);
    expect(second.every((r) => r.status === 304 && typeof r.headers['if-none-match'] === 'string')).toBe(true);
    expect(api.rateLimit.remaining).toBe(spent);
    expect(outputs(ctx).map((d) => d.value)).toEqual([3, 3]);
  });

  it('replaces webhook-tracked jobs with the poll result (drift correction)', async () => {
    const ctx = await create({ secret: SECRET });
    await deliver(ctx, 'workflow_job', payload('queued', 999));
    expect(outputs(ctx).at(-1)).toMatchObject({ value: 1 });
    await fire();
    expect(outputs(ctx).at(-1)).toMatchObject({ value: 3, queued: 2, in_progress: 1 });
  });

  it('on an exhausted rate limit emits an error and waits for X-RateLimit-Reset', async () => {
    const clock = new VirtualClock(Date.now());
    api.rateLimit.remaining = 0;
    api.rateLimit.reset = Math.floor(clock.now() / 1000) + 120;
    const ctx = await create({ interval: '10s' }, clock);
    await vi.waitFor(() => expect(errors(ctx)).toHaveLength(1));
    expect(String(errors(ctx)[0]?.error)).toMatch(
      /trigger\.gha: GitHub API rate limit exceeded \(403\); next poll after/,
    );
    expect(outputs(ctx)).toHaveLength(0);
    const requests = api.log.length;
    for (let i = 0; i < 11; i++) await clock.advance(10_000);
    expect(api.log.length).toBe(requests);
    api.rateLimit.remaining = 5000;
    await clock.advance(10_000);
    await vi.waitFor(() => expect(outputs(ctx)).toHaveLength(1));
    // stop() waits for the poll in flight and polls never overlap, so the log is complete
    // now: a poll made inside the limit window would show as a second 403.
    await trigger?.stop();
    expect(api.log.filter((entry) => entry.status === 403)).toHaveLength(1);
  });

  it('reports a rejected token naming the variable, never the token', async () => {
    process.env.WAYMOND_TEST_GITHUB_TOKEN = 'ghp_wrong_secret_value';
    const ctx = await create({});
    await fire();
    const message = String(errors(ctx)[0]?.error);
    expect(message).toContain('trigger.gha');
    expect(message).toContain('Bad credentials');
    expect(message).toContain('check WAYMOND_TEST_GITHUB_TOKEN');
    expect(message).not.toContain('ghp_wrong_secret_value');
    expect(outputs(ctx)).toHaveLength(0);
  });

  it('reports a missing token at start and on input, never a zero', async () => {
    delete process.env.WAYMOND_TEST_GITHUB_TOKEN;
    const ctx = await create({});
    await fire();
    expect(errors(ctx)).toHaveLength(2);
    expect(outputs(ctx)).toHaveLength(0);
    expect(api.log).toHaveLength(0);
  });

  it('polls every repo of an org', async () => {
    api.repos['octo-org/other'] = [{ id: 200, status: 'queued', jobs: [{ id: 20, status: 'queued', labels: LABELS }] }];
    const ctx = await create({ owner: undefined, repo: undefined, org: 'octo-org', repos: ['octo-repo', 'other'] });
    await fire();
    expect(outputs(ctx)).toEqual([expect.objectContaining({ value: 4, queued: 3 })]);
  });
});
