/**
 * Triggers whose config switches on a field (redis `mode`; github_actions and gitlab
 * `poll`) take only the fields of the branch chosen, so a field of another branch is a
 * load error that names the field and the branch, never silently ignored. Messages go
 * through the same zodIssueMessages the config loader uses.
 */
import { describe, expect, it } from 'vitest';
import { formatIssue, zodIssueMessages } from '../../src/config/issues.js';
import type { TriggerDefinition } from '../../src/core/types.js';
import { githubActions } from '../../src/triggers/ci/github-actions.js';
import { gitlab } from '../../src/triggers/ci/gitlab.js';
import { redis } from '../../src/triggers/redis/trigger.js';

function loadErrors(definition: TriggerDefinition, id: string, table: Record<string, unknown>): string[] {
  const result = definition.schema.safeParse({ type: definition.type, id, ...table }, { reportInput: true });
  if (result.success) return [];
  return zodIssueMessages(definition.schema, result.error.issues).map((m) =>
    formatIssue({ severity: 'error', file: 'w.toml', address: `trigger.${id}`, path: m.path, message: m.message }),
  );
}

const problems = (config: Record<string, unknown>) =>
  loadErrors(redis, 'q', { url: 'redis://127.0.0.1:6379', ...config });

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

describe('github_actions and gitlab: polling fields exist only with poll = true', () => {
  const labels = ['self-hosted', 'linux'];

  it.each([
    ['owner', { owner: 'octo-org' }],
    ['repos', { repos: ['a'] }],
    ['token_env', { token_env: 'GH_TOKEN' }],
    ['api_url', { api_url: 'https://ghe.example/api/v3' }],
    ['interval', { interval: '1m' }],
  ])('github_actions webhook-only (poll left out, or false): %s is a load error', (field, extra) => {
    for (const poll of [{}, { poll: false }]) {
      const [message, ...rest] = loadErrors(githubActions, 'gha', {
        labels,
        secret_env: 'HOOK_SECRET',
        ...poll,
        ...extra,
      });
      expect(rest).toEqual([]);
      expect(message).toMatch(
        new RegExp(
          `^error: w\\.toml: trigger\\.gha: field "${field}": ${field} is not a field of github_actions with poll = false \\(only with poll = true\\)`,
        ),
      );
    }
  });

  it('github_actions with poll = true takes them', () => {
    expect(
      loadErrors(githubActions, 'gha', { labels, poll: true, owner: 'o', repo: 'r', token_env: 'T', interval: '1m' }),
    ).toEqual([]);
  });

  it.each([
    ['projects', { projects: [380] }],
    ['interval', { interval: '1m' }],
    ['timeout', { timeout: '5s' }],
  ])('gitlab webhook-only: %s is a load error', (field, extra) => {
    const [message, ...rest] = loadErrors(gitlab, 'gl', { tags: ['docker'], secret_token_env: 'HOOK', ...extra });
    expect(rest).toEqual([]);
    expect(message).toContain(
      `field "${field}": ${field} is not a field of gitlab with poll = false (only with poll = true)`,
    );
  });

  it('gitlab webhooks keep the API fields (they look job tags up) and polling needs projects', () => {
    expect(
      loadErrors(gitlab, 'gl', {
        tags: ['docker'],
        secret_token_env: 'HOOK',
        token_env: 'T',
        api_url: 'https://gl.example/api/v4',
      }),
    ).toEqual([]);
    expect(loadErrors(gitlab, 'gl', { tags: ['docker'], poll: true })).toEqual([
      'error: w.toml: trigger.gl: field "projects": is required (expected array)',
    ]);
    const raw = gitlab.schema.safeParse({ type: 'gitlab', id: 'gl', tags: ['docker'], poll: true });
    expect(raw.error?.issues[0]?.message).toBe('polling needs `projects`');
  });

  it('a poll that is not a boolean says what it may be', () => {
    expect(loadErrors(githubActions, 'gha', { labels, poll: 'yes' })).toEqual([
      'error: w.toml: trigger.gha: field "poll": expected one of false, true, found string "yes"',
    ]);
  });
});
