import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import { buildkite } from '../../src/triggers/ci/buildkite.js';
import { type BuildkiteApi, startBuildkiteApi } from '../fixtures/buildkite-api.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { SEED_DIR } from '../helpers/shared.js';

const TOKEN = 'bkua_test_token_value';

function seedTriggerSection(file: string): Record<string, unknown> {
  const seed = parse(readFileSync(`${SEED_DIR}/${file}`, 'utf8')) as { trigger: Record<string, unknown>[] };
  const section = seed.trigger.find((t) => t.type === 'buildkite');
  if (!section) throw new Error(`no buildkite trigger in ${file}`);
  return section;
}

describe('buildkite trigger', () => {
  let api: BuildkiteApi;
  let t: TestContext | undefined;
  const savedToken = process.env.BUILDKITE_TOKEN;

  beforeEach(async () => {
    api = await startBuildkiteApi(TOKEN);
    process.env.BUILDKITE_TOKEN = TOKEN;
  });
  afterEach(async () => {
    t?.close();
    t = undefined;
    await api.close();
    if (savedToken === undefined) delete process.env.BUILDKITE_TOKEN;
    else process.env.BUILDKITE_TOKEN = savedToken;
  });

  it.each(['cron-buildkite.toml', 'cron-buildkite-aws-ec2-asg.toml'])('validates the seed %s unchanged', (file) => {
    const config = buildkite.schema.parse(seedTriggerSection(file));
    expect(config.token_env).toBe('BUILDKITE_TOKEN');
    expect(config.endpoint).toBe('https://agent.buildkite.com/v3');
  });

  it('validates its own example', () => {
    const example = parse(buildkite.example) as { trigger: unknown[] };
    expect(() => buildkite.schema.parse(example.trigger[0])).not.toThrow();
  });

  it('rejects an invalid regex', () => {
    const result = buildkite.schema.safeParse({ type: 'buildkite', id: 'bk', filter_by_queue_name: '(' });
    expect(result.success).toBe(false);
  });

  it('emits one event per matching queue when fired, as the seed chain does', async () => {
    t = testContext('trigger', 'my_buildkite_org', { hasInput: true });
    const config = buildkite.schema.parse({ ...seedTriggerSection('cron-buildkite.toml'), endpoint: api.endpoint });
    const trigger = await buildkite.create(config, t.ctx);
    await trigger.start();
    await trigger.fire?.({
      id: 'x',
      topic: 'trigger.my_buildkite_org.input',
      source: 'connector.c',
      time: 0,
      data: {},
    });
    const outputs = t.events.filter((e) => e.topic === 'trigger.my_buildkite_org.output');
    expect(outputs.map((e) => e.data)).toEqual([
      {
        queue: 'aws-on-demand-arm64-ubuntu-22-ami-abc',
        value: 7,
        scheduled_jobs_count: 5,
        running_jobs_count: 2,
        waiting_jobs_count: 1,
        total_jobs_count: 8,
        idle_agents: 1,
        busy_agents: 2,
        total_agents: 3,
      },
      {
        queue: 'aws-on-demand-arm64-ubuntu-24-ami-def',
        value: 0,
        scheduled_jobs_count: 0,
        running_jobs_count: 0,
        waiting_jobs_count: 0,
        total_jobs_count: 0,
        idle_agents: 2,
        busy_agents: 0,
        total_agents: 2,
      },
    ]);
    expect(api.requests[0]?.headers.authorization).toBe(`Token ${TOKEN}`);
    await trigger.stop();
  });

  it('emits every queue without a filter', async () => {
    t = testContext('trigger', 'bk', { hasInput: true });
    const trigger = await buildkite.create(
      buildkite.schema.parse({ type: 'buildkite', id: 'bk', endpoint: api.endpoint }),
      t.ctx,
    );
    await trigger.start();
    await trigger.fire?.({ id: 'x', topic: 'trigger.bk.input', source: 'connector.c', time: 0, data: {} });
    const queues = t.events.filter((e) => e.topic === 'trigger.bk.output').map((e) => e.data.queue);
    expect(queues).toEqual([
      'aws-on-demand-arm64-ubuntu-22-ami-abc',
      'aws-on-demand-arm64-ubuntu-24-ami-def',
      'default',
    ]);
  });

  it('honours Buildkite-Agent-Metrics-Poll-Duration as the minimum poll interval', async () => {
    const clock = new VirtualClock();
    t = testContext('trigger', 'bk', { clock });
    api.pollDuration = 10;
    const trigger = await buildkite.create(
      buildkite.schema.parse({ type: 'buildkite', id: 'bk', endpoint: api.endpoint, interval: '1s' }),
      t.ctx,
    );
    await trigger.start();
    await vi.waitFor(() => expect(t?.events.some((e) => e.topic === 'trigger.bk.output')).toBe(true));
    // Nine one-second ticks inside the 10 s the server asked for: no request.
    for (let i = 0; i < 9; i++) await clock.advance(1000);
    expect(api.requests).toHaveLength(1);
    await clock.advance(1000);
    await vi.waitFor(() => expect(api.requests).toHaveLength(2));
    // stop() waits for the poll in flight, and polls never overlap: after it the log is
    // complete, so a poll started early (whose request had not arrived above) shows here.
    await trigger.stop();
    expect(api.requests).toHaveLength(2);
  });

  it('on 429 reports an error and waits for Retry-After', async () => {
    const clock = new VirtualClock();
    t = testContext('trigger', 'bk', { clock });
    api.throttleSeconds = 30;
    const trigger = await buildkite.create(
      buildkite.schema.parse({ type: 'buildkite', id: 'bk', endpoint: api.endpoint, interval: '5s' }),
      t.ctx,
    );
    await trigger.start();
    await vi.waitFor(() => expect(t?.events.map((e) => e.topic)).toEqual(['trigger.bk.error']));
    expect(String(t.events[0]?.data.error)).toContain('rate limiting this token (429)');
    for (let i = 0; i < 5; i++) await clock.advance(5000);
    expect(api.requests).toHaveLength(1);
    api.throttleSeconds = undefined;
    await clock.advance(5000);
    await vi.waitFor(() => expect(t?.events.some((e) => e.topic === 'trigger.bk.output')).toBe(true));
    // After stop the log is complete (see above): one throttled request, one served.
    await trigger.stop();
    expect(api.requests).toHaveLength(2);
  });

  it('reports a 401 as an error naming the address and the token variable, never the token', async () => {
    process.env.BUILDKITE_TOKEN = 'wrong-token-secret';
    t = testContext('trigger', 'bk', { hasInput: true });
    const trigger = await buildkite.create(
      buildkite.schema.parse({ type: 'buildkite', id: 'bk', endpoint: api.endpoint }),
      t.ctx,
    );
    await trigger.start();
    await trigger.fire?.({ id: 'x', topic: 'trigger.bk.input', source: 'connector.c', time: 0, data: {} });
    const errors = t.events.filter((e) => e.topic === 'trigger.bk.error');
    expect(errors).toHaveLength(1);
    const message = String(errors[0]?.data.error);
    expect(message).toContain('trigger.bk');
    expect(message).toContain('check BUILDKITE_TOKEN');
    expect(message).toContain('Invalid access token');
    expect(message).not.toContain('wrong-token-secret');
    expect(t.events.some((e) => e.topic === 'trigger.bk.output')).toBe(false);
  });

  it('reports a missing token variable at start without crashing or polling', async () => {
    t = testContext('trigger', 'bk');
    const trigger = await buildkite.create(
      buildkite.schema.parse({ type: 'buildkite', id: 'bk', endpoint: api.endpoint, token_env: 'WAYMOND_NO_SUCH_VAR' }),
      t.ctx,
    );
    await trigger.start();
    const errors = t.events.filter((e) => e.topic === 'trigger.bk.error');
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.data.error)).toContain('WAYMOND_NO_SUCH_VAR is not set');
    expect(api.requests).toHaveLength(0);
    await trigger.stop();
  });

  it('reports a response that is not the metrics shape as an error, not a zero', async () => {
    api.metrics = { unexpected: true };
    t = testContext('trigger', 'bk', { hasInput: true });
    const trigger = await buildkite.create(
      buildkite.schema.parse({ type: 'buildkite', id: 'bk', endpoint: api.endpoint }),
      t.ctx,
    );
    await trigger.fire?.({ id: 'x', topic: 'trigger.bk.input', source: 'connector.c', time: 0, data: {} });
    expect(t.events.map((e) => e.topic)).toEqual(['trigger.bk.error']);
  });
});
