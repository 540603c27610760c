import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { HookResponse, Trigger } from '../../src/core/types.js';
import { gitlab } from '../../src/triggers/ci/gitlab.js';
import { labelsMatch } from '../../src/triggers/ci/job-queue.js';
import { type GitlabApi, gitlabFixture, startGitlabApi } from '../fixtures/gitlab-api.js';
import { type TestContext, testContext } from '../helpers/context.js';

const TOKEN = 'glpat-test-token-value';
const SECRET = 'gitlab-webhook-secret';
const TAGS = ['linux', 'docker'];

const outputs = (t: TestContext) => t.events.filter((e) => e.topic === `${t.ctx.address}.output`).map((e) => e.data);
const errors = (t: TestContext) => t.events.filter((e) => e.topic === `${t.ctx.address}.error`).map((e) => e.data);

function jobEvent(status: 'pending' | 'running' | 'success', id: number, extra: Record<string, unknown> = {}) {
  return { ...gitlabFixture(`job-event.${status}.json`), build_id: id, ...extra };
}

async function deliver(
  t: TestContext,
  body: unknown,
  options: { token?: string | null; event?: string; raw?: Buffer } = {},
): Promise<HookResponse> {
  const handler = t.routes.get(`POST /hooks/${t.ctx.id}`);
  if (!handler) throw new Error('no webhook route mounted');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitLab/17.6.0',
    'x-gitlab-event': options.event ?? 'Job Hook',
  };
  if (options.token !== null) headers['x-gitlab-token'] = options.token ?? SECRET;
  return handler({ method: 'POST', headers, body: options.raw ?? Buffer.from(JSON.stringify(body)), query: {} });
}

describe('gitlab schema', () => {
  it('validates its example', () => {
    const example = parse(gitlab.example) as { trigger: unknown[] };
    expect(gitlab.schema.safeParse(example.trigger[0]).success).toBe(true);
  });
  it.each([
    [{ secret_token: 's' }, 'expected at least one tag, or `run_untagged = true`'],
    [{ tags: TAGS }, 'expected `secret_token` or `secret_token_env` (webhooks), or `poll = true`'],
    [{ tags: TAGS, poll: true }, 'polling needs `projects`'],
  ])('rejects %j', (fields, message) => {
    const result = gitlab.schema.safeParse({ type: 'gitlab', id: 'gl', ...fields });
    expect(JSON.stringify(result.error?.issues)).toContain(message);
  });
  it.each([
    [['linux'], TAGS, false, true],
    [['Docker', 'LINUX'], TAGS, false, true],
    [['linux', 'gpu'], TAGS, false, false],
    [[], TAGS, false, false],
    [[], TAGS, true, true],
  ])('job tags %j on runner %j (run_untagged %s) → %s', (job, runner, untagged, match) => {
    expect(labelsMatch(job, runner, untagged)).toBe(match);
  });
});

describe('gitlab trigger', () => {
  let api: GitlabApi;
  let t: TestContext | undefined;
  let trigger: Trigger | undefined;

  beforeEach(async () => {
    api = await startGitlabApi(TOKEN);
    process.env.WAYMOND_TEST_GITLAB_TOKEN = TOKEN;
    api.projects.test = {
      id: 380,
      path: 'gitlab-org/gitlab-test',
      jobs: [
        { id: 1977, status: 'pending', tag_list: ['linux', 'docker'] },
        { id: 1978, status: 'pending', tag_list: ['windows'] },
        { id: 1979, status: 'running', tag_list: ['docker'] },
        { id: 1980, status: 'success', tag_list: ['docker'] },
        { id: 1981, status: 'pending', tag_list: [] },
      ],
    };
  });
  afterEach(async () => {
    await trigger?.stop();
    t?.close();
    t = undefined;
    trigger = undefined;
    delete process.env.WAYMOND_TEST_GITLAB_TOKEN;
    await api.close();
  });

  const create = async (fields: Record<string, unknown>, clock?: VirtualClock) => {
    t = testContext('trigger', 'gl', { clock, hasInput: clock === undefined });
    trigger = await gitlab.create(
      gitlab.schema.parse({
        type: 'gitlab',
        id: 'gl',
        tags: TAGS,
        api_url: api.apiUrl,
        token_env: 'WAYMOND_TEST_GITLAB_TOKEN',
        ...fields,
      }),
      t.ctx,
    );
    await trigger.start();
    return t;
  };
  const fire = () => trigger?.fire?.({ id: 'x', topic: 'trigger.gl.input', source: 'connector.c', time: 0, data: {} });

  describe('polling', () => {
    it('counts pending and running jobs whose tags the runners have', async () => {
      const ctx = await create({ poll: true, projects: ['gitlab-org/gitlab-test'] });
      await fire();
      expect(outputs(ctx)).toEqual([{ value: 2, queued: 1, in_progress: 1, waiting: 0, tags: TAGS, source: 'poll' }]);
      expect(api.log[0]?.url).toContain('/projects/gitlab-org%2Fgitlab-test/jobs?scope[]=pending&scope[]=running');
      expect(api.log[0]?.headers['private-token']).toBe(TOKEN);
    });

    it('counts untagged jobs only with run_untagged', async () => {
      const ctx = await create({ poll: true, projects: [380], run_untagged: true });
      await fire();
      expect(outputs(ctx)[0]).toMatchObject({ value: 3, queued: 2 });
    });

    it('follows X-Next-Page through every page', async () => {
      const many = Array.from({ length: 230 }, (_, i) => ({
        id: 5000 + i,
        status: 'pending' as const,
        tag_list: ['linux'],
      }));
      api.projects.test?.jobs.push(...many);
      const ctx = await create({ poll: true, projects: [380] });
      await fire();
      expect(api.log.map((r) => new URL(r.url, 'http://x').searchParams.get('page'))).toEqual(['1', '2', '3']);
      expect(outputs(ctx)[0]).toMatchObject({ queued: 231, in_progress: 1 });
    });

    it('reports a rejected token naming the variable, never the token', async () => {
      process.env.WAYMOND_TEST_GITLAB_TOKEN = 'glpat-wrong-secret';
      const ctx = await create({ poll: true, projects: [380] });
      await fire();
      const message = String(errors(ctx)[0]?.error);
      expect(message).toContain('trigger.gl');
      expect(message).toContain('401 Unauthorized');
      expect(message).toContain('check WAYMOND_TEST_GITLAB_TOKEN');
      expect(message).not.toContain('glpat-wrong-secret');
      expect(outputs(ctx)).toHaveLength(0);
    });

    it('on 429 emits an error and waits for Retry-After', async () => {
      const clock = new VirtualClock(Date.now());
      api.throttleSeconds = 60;
      const ctx = await create({ poll: true, projects: [380], interval: '10s' }, clock);
      await vi.waitFor(() => expect(errors(ctx)).toHaveLength(1));
      expect(String(errors(ctx)[0]?.error)).toContain('rate limit exceeded (429)');
      const requests = api.log.length;
      for (let i = 0; i < 5; i++) await clock.advance(10_000);
      expect(api.log.length).toBe(requests);
      api.throttleSeconds = undefined;
      await clock.advance(10_000);
      await vi.waitFor(() => expect(outputs(ctx)).toHaveLength(1));
      // After stop the log is complete: a poll made while throttled would be a second 429.
      await trigger?.stop();
      expect(api.log.filter((entry) => entry.status === 429)).toHaveLength(1);
    });
  });

  describe('webhooks', () => {
    it('tracks a job from pending to running to success, looking its tags up once', async () => {
      api.projects.test = {
        id: 380,
        path: 'gitlab-org/gitlab-test',
        jobs: [{ id: 1977, status: 'pending', tag_list: TAGS }],
      };
      const ctx = await create({ secret_token: SECRET });
      expect((await deliver(ctx, jobEvent('pending', 1977))).status).toBe(200);
      expect((await deliver(ctx, jobEvent('running', 1977))).status).toBe(200);
      expect((await deliver(ctx, jobEvent('success', 1977))).status).toBe(200);
      expect(outputs(ctx).map((d) => [d.value, d.queued, d.in_progress])).toEqual([
        [1, 1, 0],
        [1, 0, 1],
        [0, 0, 0],
      ]);
      expect(api.log.map((r) => r.url)).toEqual(['/api/v4/projects/380/jobs/1977']);
    });

    it('ignores jobs for other tags, and finished jobs it never counted', async () => {
      api.projects.test = { id: 380, path: 'p', jobs: [{ id: 1, status: 'pending', tag_list: ['windows'] }] };
      const ctx = await create({ secret_token: SECRET });
      expect((await deliver(ctx, jobEvent('pending', 1))).status).toBe(202);
      expect((await deliver(ctx, jobEvent('success', 2))).status).toBe(200);
      expect(outputs(ctx)).toHaveLength(0);
    });

    it('answers 401 to a missing or wrong X-Gitlab-Token and emits nothing', async () => {
      const ctx = await create({ secret_token: SECRET });
      expect((await deliver(ctx, jobEvent('pending', 1977), { token: null })).status).toBe(401);
      expect((await deliver(ctx, jobEvent('pending', 1977), { token: 'nope' })).status).toBe(401);
      expect(ctx.events).toHaveLength(0);
    });

    it('answers 400 to malformed bodies and 202 to other events', async () => {
      const ctx = await create({ secret_token: SECRET });
      expect((await deliver(ctx, null, { raw: Buffer.from('[') })).status).toBe(400);
      expect((await deliver(ctx, { object_kind: 'build', build_status: 'pending' })).status).toBe(400);
      expect((await deliver(ctx, { object_kind: 'push' }, { event: 'Push Hook' })).status).toBe(202);
      expect(ctx.events).toHaveLength(0);
    });

    it('reports a failed tag lookup as an error and answers 202 so GitLab keeps the hook', async () => {
      const ctx = await create({ secret_token: SECRET });
      const response = await deliver(ctx, jobEvent('pending', 424242));
      expect(response.status).toBe(202);
      expect(String(errors(ctx)[0]?.error)).toContain('could not read the tags of job 424242');
      expect(outputs(ctx)).toHaveLength(0);
    });

    it('a poll replaces webhook-tracked jobs', async () => {
      api.projects.test = { id: 380, path: 'p', jobs: [{ id: 7, status: 'pending', tag_list: TAGS }] };
      const ctx = await create({ secret_token: SECRET, poll: true, projects: [380] });
      await deliver(ctx, jobEvent('pending', 7));
      const job = api.projects.test.jobs[0];
      if (job) job.status = 'failed'; // its "failed" delivery was missed
      await fire();
      expect(outputs(ctx).map((d) => d.value)).toEqual([1, 0]);
    });
  });
});
