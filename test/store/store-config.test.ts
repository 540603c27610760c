import { describe, expect, it } from 'vitest';
import { serverUrlOf } from '../../src/daemon.js';
import { configMessages } from '../connectors/run-engine.js';

/** The config's errors (a lone scaler's warning aside). */
const errors = (text: string) => configMessages(text).filter((m) => !m.startsWith('warning'));

const scaler = '\n[[scaler]]\ntype = "noop"\nid = "agents"\n';

describe('[store] config', () => {
  it('takes a url or a dsn_env, with a schema and retention', () => {
    expect(errors(`[store]\nurl = "postgres://waymond@db.internal/waymond"\nschema = "fleet_a"${scaler}`)).toEqual([]);
    expect(errors(`[store]\ndsn_env = "WAYMOND_DB"\nretention = 500${scaler}`)).toEqual([]);
    expect(errors(`[store]\nretention_bytes = 1048576${scaler}`)).toEqual([]);
  });

  it('refuses both sources, a password in the url, path with a server, schema without one, a bad schema', () => {
    const messages = (store: string) => configMessages(`[store]\n${store}${scaler}`).join('\n');
    expect(messages('url = "postgres://a@h/d"\ndsn_env = "X"')).toContain(
      'expected one of `url` and `dsn_env`, not both',
    );
    const withPassword = messages('url = "postgres://a:hunter2@h/d"');
    expect(withPassword).toContain(
      'this URL carries a password; put it in an environment variable and name it in `dsn_env`',
    );
    expect(withPassword).not.toContain('hunter2');
    expect(messages('url = "postgres://a@h/d"\npath = "state.db"')).toContain(
      'is the SQLite file: not used with `url`/`dsn_env` (PostgreSQL)',
    );
    expect(messages('schema = "x"')).toContain('is for PostgreSQL: set `url` or `dsn_env` too');
    expect(messages('url = "postgres://a@h/d"\nschema = "Fleet-A"')).toContain(
      'expected a lower-case identifier (a-z, 0-9, _)',
    );
    expect(messages('url = "mysql://a@h/d"')).toContain('expected a postgres:// URL');
  });

  it('dsn_env is read at start; unset, it is an error naming the variable, never a fallback to SQLite', () => {
    const base = { retention: 10_000, retention_bytes: 268_435_456 };
    expect(serverUrlOf({ ...base, dsn_env: 'WAYMOND_DB' }, { WAYMOND_DB: 'postgres://u:p@h/d' })).toBe(
      'postgres://u:p@h/d',
    );
    expect(() => serverUrlOf({ ...base, dsn_env: 'WAYMOND_DB' }, {})).toThrow(
      '[store] dsn_env: environment variable WAYMOND_DB is not set (it should hold the PostgreSQL URL)',
    );
    expect(serverUrlOf(base, {})).toBeUndefined();
  });
});
