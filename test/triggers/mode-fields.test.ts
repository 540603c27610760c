/**
 * The redis trigger's config switches on `mode`: each mode takes only its own fields, so a
 * field of another mode is a load error that names the field and the mode, never ignored.
 * Messages go through the same zodIssueMessages the config loader uses.
 */
import { describe, expect, it } from 'vitest';
import { formatIssue, zodIssueMessages } from '../../src/config/issues.js';
import { redis } from '../../src/triggers/redis/trigger.js';

function problems(config: Record<string, unknown>): string[] {
  const result = redis.schema.safeParse(
    { type: 'redis', id: 'q', url: 'redis://127.0.0.1:6379', ...config },
    {
      reportInput: true,
    },
  );
  if (result.success) return [];
  return zodIssueMessages(redis.schema, result.error.issues).map((m) =>
    formatIssue({ severity: 'error', file: 'w.toml', address: 'trigger.q', path: m.path, message: m.message }),
  );
}

describe('redis trigger: a field of another mode is a load error naming it', () => {
  it.each([
    [{ mode: 'list', key: 'k', queue: 'q' }, 'queue', 'list', '"bullmq", "sidekiq"'],
    [{ mode: 'list', key: 'k', group: 'g' }, 'group', 'list', '"stream"'],
    [{ mode: 'stream', stream: 's', group: 'g', key: 'k' }, 'key', 'stream', '"list", "sorted_set"'],
    [{ mode: 'stream', stream: 's', group: 'g', min: 1 }, 'min', 'stream', '"sorted_set"'],
    [{ mode: 'sorted_set', key: 'k', include_pending: true }, 'include_pending', 'sorted_set', '"stream"'],
    [{ mode: 'bullmq', queue: 'q', namespace: 'ns' }, 'namespace', 'bullmq', '"sidekiq"'],
    [{ mode: 'sidekiq', queue: 'q', prefix: 'bull' }, 'prefix', 'sidekiq', '"bullmq"'],
    [{ mode: 'sidekiq', queue: 'q', include_delayed: false }, 'include_delayed', 'sidekiq', '"bullmq"'],
  ])('%j: %s is not a field of mode %s', (config, field, mode, owners) => {
    const [message, ...rest] = problems(config);
    expect(rest).toEqual([]);
    expect(message).toMatch(
      new RegExp(`^error: w\\.toml: trigger\\.q: field "${field}": ${field} is not a field of redis mode "${mode}" `),
    );
    expect(message).toContain(`(only of mode ${owners})`);
  });

  it("a field no mode has is still an unknown field, with did-you-mean among this mode's fields", () => {
    expect(problems({ mode: 'list', key: 'k', kee: 'x' })).toEqual([
      'error: w.toml: trigger.q: field "kee": unknown field (did you mean "key"?); allowed: type, id, url, password_env, cluster, nodes, mode, key, interval, timeout',
    ]);
  });

  it('a missing or unknown mode says which modes there are', () => {
    const modes = '"list", "stream", "sorted_set", "bullmq", "sidekiq"';
    expect(problems({ key: 'k' })).toEqual([
      `error: w.toml: trigger.q: field "mode": is required (expected one of ${modes})`,
    ]);
    expect(problems({ mode: 'hash', key: 'k' })).toEqual([
      `error: w.toml: trigger.q: field "mode": expected one of ${modes}, found string "hash"`,
    ]);
  });

  it('each mode parses with only its own fields and its own defaults', () => {
    const parse = (config: Record<string, unknown>) =>
      redis.schema.parse({ type: 'redis', id: 'q', url: 'redis://127.0.0.1:6379', ...config });
    expect(parse({ mode: 'list', key: 'k' })).not.toHaveProperty('prefix');
    expect(parse({ mode: 'bullmq', queue: 'q' })).toMatchObject({ prefix: 'bull', include_delayed: true });
    expect(parse({ mode: 'sorted_set', key: 'k' })).toMatchObject({ min: '-inf', max: '+inf' });
    expect(parse({ mode: 'stream', stream: 's', group: 'g' })).toMatchObject({ include_pending: false });
  });
});
