import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Daemon, runCli, startDaemon, waitUntil } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'waymond-verbs-'));
const good = join(dir, 'good.toml');
writeFileSync(
  good,
  '[[trigger]]\ntype = "interval"\nid = "tick"\nevery = "1h"\nimmediately = false\n[[connect]]\ntype = "direct"\nid = "c"\nfrom = "trigger.tick"\nto = "scaler.s"\n[[scaler]]\ntype = "noop"\nid = "s"\nmax = 4\n',
);
const bad = join(dir, 'bad.toml');
writeFileSync(bad, '[[scaler]]\ntype = "noop"\nid = "s"\nmax = "ten"\nmni = 1\n');

describe('waymond validate', () => {
  it('exits 0 and summarises a valid file', () => {
    const result = runCli(['validate', good]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`ok: ${good} (1 triggers, 1 connectors, 1 scalers)\n`);
  });

  it('exits 1 and prints every error of every file', () => {
    const result = runCli(['validate', good, bad]);
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `error: ${bad}: scaler.s: field "max": expected number, found string "ten"`,
      `error: ${bad}: scaler.s: field "mni": unknown field (did you mean "min"?); allowed: ${result.stderr.split('allowed: ')[1]?.trim()}`,
    ]);
  });

  it('--deny-warnings fails on a scaler nothing feeds', () => {
    const lonely = join(dir, 'lonely.toml');
    writeFileSync(lonely, '[[scaler]]\ntype = "noop"\nid = "s"\n');
    expect(runCli(['validate', lonely]).status).toBe(0);
    expect(runCli(['validate', '--deny-warnings', lonely]).status).toBe(1);
  });
});

describe('waymond run --state', () => {
  it('refuses a SQLite --state when [store] keeps the state in PostgreSQL, naming both', () => {
    const shared = join(dir, 'shared.toml');
    writeFileSync(
      shared,
      `[store]\nurl = "postgres://waymond@127.0.0.1:1/none"\n${'[[scaler]]\ntype = "noop"\nid = "s"\n'}`,
    );
    const result = runCli(['run', '-c', shared, '--state', join(dir, 'own.db')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('--state names a SQLite file, but [store] url keeps the state in PostgreSQL');
  });
});

describe('waymond graph', () => {
  it('prints mermaid by default', () => {
    const result = runCli(['graph', good]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('flowchart LR');
    expect(result.stdout).toContain('trigger_tick --> connector_c');
    expect(result.stdout).toContain('connector_c --> scaler_s');
  });
  it('prints dot', () => {
    const result = runCli(['graph', good, '--format', 'dot']);
    expect(result.stdout).toContain('"trigger.tick" -> "connector.c";');
  });
});

describe('waymond schema', () => {
  it('prints a JSON Schema that knows every component type', () => {
    const result = runCli(['schema']);
    expect(result.status).toBe(0);
    const schema = JSON.parse(result.stdout) as Record<string, unknown>;
    const text = JSON.stringify(schema);
    for (const type of ['interval', 'cron', 'http_endpoint', 'direct', 'process', 'noop', 'exec'])
      expect(text).toContain(`"const":"${type}"`);
  });
});

describe('waymond fire and the original -config flag', () => {
  let daemon: Daemon;
  afterAll(async () => {
    await daemon?.stop();
  });

  it('fires a trigger of a running daemon', async () => {
    daemon = await startDaemon(['-config', good, '--state', join(dir, 'state.db')]);
    const fired = runCli(['fire', 'trigger.tick', '--data', '{"desired":3}', '--url', daemon.url]);
    expect(fired.status).toBe(0);
    expect(fired.stdout).toMatch(/"event_id"/);
    await waitUntil(async () => {
      const { decisions } = (await (await fetch(`${daemon.url}/api/decisions?scaler=scaler.s`)).json()) as {
        decisions: { desired: number }[];
      };
      return decisions[0]?.desired === 3;
    }, 'the decision');
  });

  it('reports an unknown address', () => {
    const result = runCli(['fire', 'trigger.nope', '--url', daemon.url]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no trigger or scaler at trigger.nope');
  });

  it('streams live events to tap, filtered by topic', async () => {
    const abort = new AbortController();
    const response = await fetch(`${daemon.url}/api/tap?filter=scaler.s.result`, { signal: abort.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    runCli(['fire', 'scaler.s', '--data', '{"desired":2}', '--url', daemon.url]);
    const { value } = await reader.read();
    abort.abort();
    const event = JSON.parse(new TextDecoder().decode(value).split('\n')[0] as string) as {
      topic: string;
      data: { desired: number };
    };
    expect(event.topic).toBe('scaler.s.result');
    expect(event.data.desired).toBe(2);
  });

  it('answers health and readiness', async () => {
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
  });
});
