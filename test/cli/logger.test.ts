import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/cli/logger.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).trim().split('\n'));
      done();
    },
  });
  return { stream, lines };
}

describe('the daemon logger', () => {
  it('redacts secrets in messages, fields and errors, whoever logged them', async () => {
    const { stream, lines } = capture();
    const logger = createLogger('info', stream);
    logger.warn({ url: 'redis://:hunter2@cache:6379' }, 'poll failed');
    logger.error({ err: 'connect ECONNREFUSED postgres://ci:s3cret@db:5432/ci' }, 'lost https://h/x?token=abc&page=2');
    await new Promise((r) => setImmediate(r));
    const text = lines.join('\n');
    expect(text).not.toMatch(/hunter2|s3cret|token=abc/);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ url: 'redis://:***@cache:6379', msg: 'poll failed' });
    expect(JSON.parse(lines[1] as string)).toMatchObject({
      err: 'connect ECONNREFUSED postgres://ci:***@db:5432/ci',
      msg: 'lost https://h/x?token=***&page=2',
    });
  });
});
