/** /api/decisions shows a steady signal as one decision with its repeat count and last-seen time. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import { settle, VirtualClock } from '../../src/core/clock.js';
import { createDaemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../src/registry.js';

it('/api/decisions: repeats and lastSeen of a steady signal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'waymond-api-decisions-'));
  const loaded = loadConfigText(
    '[[scaler]]\ntype = "noop"\nid = "agents"\n',
    join(dir, 'w.toml'),
    defaultRegistry(),
    {},
  );
  if (!loaded.ok) throw new Error(loaded.issues.map(formatIssue).join('\n'));
  const clock = new VirtualClock();
  const daemon = createDaemon(loaded.config, {
    logger: pino({ level: 'silent' }),
    clock,
    statePath: join(dir, 'state.db'),
    http: { host: '127.0.0.1', port: 0 },
  });
  try {
    await daemon.engine.start();
    const handle = daemon.engine.scaler('scaler.agents');
    for (let i = 0; i < 5; i++) {
      handle?.request(3, { queue: 'q' });
      for (let j = 0; j < 5; j++) await settle();
      clock.advance(1000);
    }
    for (let j = 0; j < 5; j++) await settle();
    const body = (await (await fetch(`${daemon.engine.url}/api/decisions?scaler=agents`)).json()) as {
      decisions: { action: string; repeats: number; time: number; lastSeen: number }[];
    };
    // The scale-up, then one "none (3)" that the three after it were folded into.
    expect(body.decisions.map((d) => [d.action, d.repeats])).toEqual([
      ['none (3)', 3],
      ['scale_up +3 (0 -> 3)', 0],
    ]);
    const [steady] = body.decisions;
    expect((steady?.lastSeen ?? 0) - (steady?.time ?? 0)).toBe(3000);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
