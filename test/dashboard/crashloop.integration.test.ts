/**
 * A crash-looping process scaler on a real daemon: its members (`sh -c "exit 3"`) die at
 * once, and /api/components, /api/graph (the dashboard's node) and /metrics say so; the
 * change of health is logged once, not on every reconcile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import type { Engine } from '../../src/core/engine.js';
import { createDaemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../src/registry.js';
import { waitUntil } from '../helpers/daemon.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';

const id = `loop_${process.pid}`;
const CONFIG = `
[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "pass"
from = "trigger.set"
to = "scaler.${id}"

[[scaler]]
type = "process"
id = "${id}"
command = "sh"
args = ["-c", "exit 3"]
max = 2
min_uptime = "10s"
resync_interval = "1s"
`;

interface ComponentView {
  address: string;
  health?: string;
  reason?: string;
  lastExitCode?: number | null;
}

describe('a crash-looping scaler on the API, the dashboard and /metrics', () => {
  let dir: string;
  let engine: Engine;
  let url: string;
  const logLines: { msg?: string; health?: string }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waymond-crashloop-api-'));
    const loaded = loadConfigText(CONFIG, join(dir, 'w.toml'), defaultRegistry(), {}, 'w.toml');
    if (!loaded.ok) throw new Error(loaded.issues.map(formatIssue).join('\n'));
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
        done();
      },
    });
    ({ engine } = createDaemon(loaded.config, {
      logger: pino({ level: 'info' }, sink),
      http: { host: '127.0.0.1', port: 0 },
      statePath: join(dir, 'state.db'),
    }));
    await engine.start();
    url = engine.url as string;
  });

  afterAll(async () => {
    await engine?.stop();
    killAll(pidsWithEnv('WAYMOND_SCALER', id));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const scalerView = async () => {
    const body = (await (await fetch(`${url}/api/components`)).json()) as { components: ComponentView[] };
    return body.components.find((c) => c.address === `scaler.${id}`);
  };
  const restarts = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`waymond_member_restarts_total{scaler="scaler.${id}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('shows crash_looping with the exit code, counts restarts, and logs the change once', async () => {
    expect(await scalerView()).toMatchObject({ health: 'ok' });
    await fetch(`${url}/hooks/set`, { method: 'POST', body: '{"desired":1}' });
    await waitUntil(async () => (await scalerView())?.health === 'crash_looping', 'the scaler to be crash looping');
    const view = await scalerView();
    expect(view?.lastExitCode).toBe(3);
    expect(view?.reason).toMatch(/^slot 1 exited with code 3 within 10s, \d+ times?$/);

    const graph = (await (await fetch(`${url}/api/graph`)).json()) as {
      nodes: { address: string; health: { state: string; reason?: string } }[];
    };
    const node = graph.nodes.find((n) => n.address === `scaler.${id}`);
    expect(node?.health.state).toBe('crash_looping');
    expect(node?.health.reason).toContain('exited with code 3');

    // Backoff 1 s, then 2 s: two restarts within a few resyncs, and no more log lines.
    await waitUntil(async () => (await restarts()) >= 2, 'two restarts on /metrics', 20_000);
    const changes = logLines.filter((l) => l.msg?.startsWith('scaler is crash_looping'));
    expect(changes).toHaveLength(1);
    expect(changes[0]?.health).toBe('crash_looping');
  }, 30_000);
});
