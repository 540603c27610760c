/**
 * The daemon on `[store] url`: decisions and state go to PostgreSQL (a schema of the
 * test's own), a restart finds them there, and no SQLite file or state lock is made.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import { settle, VirtualClock } from '../../src/core/clock.js';
import { createDaemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../src/registry.js';
import { canConnect, requireService } from '../helpers/services.js';

const available = await requireService('PostgreSQL at 127.0.0.1:5432', () => canConnect(5432));
const admin = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 1 });
afterAll(() => admin.end());

describe.skipIf(!available)('daemon with [store] url', () => {
  it('keeps decisions and state in PostgreSQL across a restart, with no SQLite file or lock', async () => {
    const schema = `waymond_test_daemon_${process.pid}_${Date.now()}`;
    const dir = mkdtempSync(join(tmpdir(), 'waymond-pg-daemon-'));
    const text = `[store]\nurl = "postgres://postgres@127.0.0.1:5432/test"\nschema = "${schema}"\n\n[[scaler]]\ntype = "noop"\nid = "agents"\n`;
    const loaded = loadConfigText(text, join(dir, 'w.toml'), defaultRegistry(), {}, 'w.toml');
    if (!loaded.ok) throw new Error(loaded.issues.map(formatIssue).join('\n'));
    const start = async () => {
      const daemon = createDaemon(loaded.config, {
        logger: pino({ level: 'silent' }),
        clock: new VirtualClock(),
        http: false,
      });
      await daemon.engine.start();
      return daemon;
    };
    try {
      const first = await start();
      await first.engine.fire('scaler.agents', { desired: 3, reason: 'asked 3' });
      for (let i = 0; i < 10; i++) await settle();
      await first.engine.store.flush();
      const { rows } = await admin.query(`SELECT desired, outcome, reason FROM "${schema}".decisions`);
      expect(rows).toEqual([{ desired: 3, outcome: 'ok', reason: 'asked 3' }]);
      await first.stop();
      expect(existsSync(join(dir, '.waymond', 'state.db'))).toBe(false);
      expect(existsSync(join(dir, '.waymond', 'state.db.lock'))).toBe(false);

      const second = await start();
      expect(second.engine.store.getState('scaler.agents', 'count')).toBe(3);
      expect((await second.engine.store.listDecisions({ scaler: 'scaler.agents' }))[0]).toMatchObject({
        desired: 3,
        reason: 'asked 3',
      });
      await second.stop();
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
