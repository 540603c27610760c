import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bearerMatches, isLoopbackHost, jsonDepth, needsToken } from '../../src/server/guard.js';

describe('the admin token', () => {
  it.each([
    ['/api/components', true],
    ['/api/fire/trigger.x', true],
    ['/api/tap?filter=x', true],
    ['/api/graph', true],
    ['/dashboard', false],
    ['/dashboard/assets/app.js', false],
    ['/healthz', false],
    ['/readyz', false],
    ['/metrics', false],
    ['/hooks/github', false],
  ])('%s needs the token: %s', (path, expected) => {
    expect(needsToken(path)).toBe(expected);
  });

  it('accepts exactly "Bearer <token>"', () => {
    expect(bearerMatches('Bearer s3cret', 's3cret')).toBe(true);
    expect(bearerMatches('bearer s3cret', 's3cret')).toBe(true);
    expect(bearerMatches('Bearer s3cret2', 's3cret')).toBe(false);
    expect(bearerMatches('Bearer s3cre', 's3cret')).toBe(false);
    expect(bearerMatches('s3cret', 's3cret')).toBe(false);
    expect(bearerMatches('Basic czNjcmV0', 's3cret')).toBe(false);
    expect(bearerMatches(undefined, 's3cret')).toBe(false);
    expect(bearerMatches('Bearer ', 's3cret')).toBe(false);
  });
});

describe('loopback listeners', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['localhost', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
    ['ci.example.com', false],
  ])('%s is loopback: %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('jsonDepth', () => {
  it.each([
    ['{}', 1],
    ['{"a":{"b":[1,[2]]}}', 4],
    ['"{{{{"', 0],
    ['{"a":"}}}{{{\\"{{"}', 1],
    ['3', 0],
  ])('%s has depth %i', (text, depth) => {
    expect(jsonDepth(text)).toBe(depth);
  });

  it('agrees with the structure of any JSON value', () => {
    const depthOf = (v: unknown): number =>
      v !== null && typeof v === 'object'
        ? 1 + Math.max(0, ...Object.values(v as Record<string, unknown>).map(depthOf))
        : 0;
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => jsonDepth(JSON.stringify(v)) === depthOf(v)));
  });

  it('measures a body nested 20,000 deep without recursion', () => {
    expect(jsonDepth(`${'['.repeat(20_000)}${']'.repeat(20_000)}`)).toBe(20_000);
  });
});
