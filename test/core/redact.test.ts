import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/core/redact.js';

describe('redactSecrets', () => {
  it.each([
    ['redis://:pw@h:6379', 'redis://:***@h:6379'],
    ['found string "redis://:hunter2@cache:6379/0"', 'found string "redis://:***@cache:6379/0"'],
    ['postgres://app:s3cret@db.internal:5432/ci', 'postgres://app:***@db.internal:5432/ci'],
    ['amqp://guest:guest@127.0.0.1:5672', 'amqp://guest:***@127.0.0.1:5672'],
    ['https://x-access-token:ghp_abcdefghijklmnop@github.com/o/r.git', 'https://x-access-token:***@github.com/o/r.git'],
    ['https://ghp_abcdefghijklmnopqrst@github.com/o/r', 'https://***@github.com/o/r'],
    ['http://h/metrics?token=abc123&x=1', 'http://h/metrics?token=***&x=1'],
    ['GET https://api.buildkite.com/v2?api_key=k1&page=2', 'GET https://api.buildkite.com/v2?api_key=***&page=2'],
    ['?sig=deadbeef', '?sig=***'],
    ['X-Amz-Signature=0a1b2c&X-Amz-Date=1', 'X-Amz-Signature=***&X-Amz-Date=1'],
    ['password=p4ss user=me', 'password=*** user=me'],
  ])('%s → %s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it.each([
    'http://example.com/path?page=2&per_page=100',
    'redis://127.0.0.1:6379',
    'postgres://app@db/ci',
    'scaler.workers: field "max": expected number, found string "ten"',
    'monkey=banana keyboard=qwerty',
  ])('leaves text without secrets alone: %s', (input) => {
    expect(redactSecrets(input)).toBe(input);
  });

  it('never lets a URL password through, whatever it is', () => {
    const password = fc.stringMatching(/^[A-Za-z0-9!$%*+,.;=_~-]{3,24}$/);
    fc.assert(
      fc.property(password, fc.constantFrom('redis', 'postgres', 'amqp', 'https', 'mqtt'), (pw, scheme) => {
        const out = redactSecrets(`could not connect to ${scheme}://user:${pw}@host:1234/x: ECONNREFUSED`);
        expect(out).toBe(`could not connect to ${scheme}://user:***@host:1234/x: ECONNREFUSED`);
      }),
    );
  });

  it('never lets a secret query parameter through', () => {
    const value = fc.stringMatching(/^[A-Za-z0-9._~-]{1,32}$/);
    fc.assert(
      fc.property(value, fc.constantFrom('token', 'key', 'secret', 'password', 'signature', 'sig'), (v, name) => {
        expect(redactSecrets(`https://h/api?a=1&${name}=${v}&b=2`)).toBe(`https://h/api?a=1&${name}=***&b=2`);
      }),
    );
  });
});
