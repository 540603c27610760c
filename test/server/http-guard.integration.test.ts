/**
 * The admin API behind its token, against the real CLI: what needs it, what stays open, the
 * CLI verbs sending it, refusing to listen publicly without it, and hostile bodies and
 * clients bounced at the door.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hookToNoop } from '../helpers/configs.js';
import { type Daemon, runCli, startDaemon, waitUntil } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'waymond-guard-'));
const config = join(dir, 'guarded.toml');
writeFileSync(
  config,
  `[http]
token_env = "TEST_ADMIN_TOKEN"

${hookToNoop()}`,
);
const TOKEN = 'test-token-7f3a9c';
let daemon: Daemon;

beforeAll(async () => {
  daemon = await startDaemon(['-c', config, '--state', join(dir, 'state.db')], { TEST_ADMIN_TOKEN: TOKEN });
});
afterAll(async () => {
  await daemon?.stop();
});

const get = (path: string, token?: string) =>
  fetch(`${daemon.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('[http] token_env', () => {
  it.each(['/api/components', '/api/decisions', '/api/events', '/api/tap'])(
    '%s answers 401 without the token',
    async (path) => {
      const response = await get(path);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="waymond"');
      expect(await response.json()).toEqual({
        error: 'this API needs "Authorization: Bearer <token>" (the token [http] token_env names)',
      });
      expect((await get(path, 'wrong-token')).status).toBe(401);
    },
  );

  it('answers with the token', async () => {
    const response = await get('/api/components', TOKEN);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { components: unknown[] }).components).toHaveLength(3);
  });

  it('POST /api/fire needs it too: without it the scaler is not touched', async () => {
    const denied = await fetch(`${daemon.url}/api/fire/scaler.s`, { method: 'POST', body: '{"desired":7}' });
    expect(denied.status).toBe(401);
    const decisions = (await (await get('/api/decisions?scaler=s', TOKEN)).json()) as { decisions: unknown[] };
    expect(decisions.decisions.filter((d) => (d as { desired: number }).desired === 7)).toEqual([]);
  });

  it.each(['/healthz', '/readyz', '/metrics'])('%s stays open', async (path) => {
    expect((await get(path)).status).toBe(200);
  });

  it('webhooks stay open (they carry their own token or signature when configured)', async () => {
    const response = await fetch(`${daemon.url}/hooks/set`, { method: 'POST', body: '{"desired":2}' });
    expect(response.status).toBe(202);
    await waitUntil(async () => {
      const body = (await (await get('/api/components', TOKEN)).json()) as {
        components: { address: string; observed?: number }[];
      };
      return body.components.find((c) => c.address === 'scaler.s')?.observed === 2;
    }, 'the webhook to take effect');
  });

  it('waymond fire sends the token from WAYMOND_TOKEN, or from --token-env', async () => {
    const without = runCli(['fire', 'scaler.s', '--data', '{"desired":3}', '--url', daemon.url], {
      WAYMOND_TOKEN: '',
    });
    expect(without.status).toBe(1);
    expect(without.stderr).toBe(
      'error: scaler.s: the daemon needs its admin token: set WAYMOND_TOKEN (or pass --token-env NAME)\n',
    );
    expect(
      runCli(['fire', 'scaler.s', '--data', '{"desired":3}', '--url', daemon.url], { WAYMOND_TOKEN: TOKEN }).status,
    ).toBe(0);
    const named = runCli(
      ['fire', 'scaler.s', '--data', '{"desired":4}', '--url', daemon.url, '--token-env', 'MY_TOKEN'],
      { MY_TOKEN: TOKEN },
    );
    expect(named.status).toBe(0);
  });

  it('refuses a JSON body nested deeper than 64 levels, on the API and on hooks', async () => {
    const deep = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const api = await fetch(`${daemon.url}/api/fire/scaler.s`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: deep,
    });
    expect(api.status).toBe(400);
    expect(await api.json()).toEqual({ error: 'JSON body nested deeper than 64 levels' });
    const hook = await fetch(`${daemon.url}/hooks/set`, { method: 'POST', body: deep });
    expect(hook.status).toBe(400);
    const ok = await fetch(`${daemon.url}/hooks/set`, {
      method: 'POST',
      body: `${'{"a":'.repeat(60)}{"desired":1}${'}'.repeat(60)}`,
    });
    expect(ok.status).not.toBe(400);
  });

  it('drops a tap client that never reads instead of buffering for it', async () => {
    const { hostname, port } = new URL(daemon.url);
    const socket = connect(Number(port), hostname);
    socket.pause(); // never read, until the flood is over
    let received = 0;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(`GET /api/tap HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    // 200 hook calls, each putting several events carrying this 200 kB reason on the tap:
    // over 100 MB the daemon would have to hold for a client that reads nothing.
    const reason = 'r'.repeat(200_000);
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${daemon.url}/hooks/set`, { method: 'POST', body: JSON.stringify({ desired: 1, reason }) }),
        ),
      );
    }
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.resume();
    await closed;
    // What was in flight (kernel buffers on both sides plus the 1 MiB backlog), never the flood.
    expect(received).toBeLessThan(32 * 1024 * 1024);
    expect((await get('/healthz')).status).toBe(200);
  });
});

describe('a listener other machines can reach', () => {
  it('is refused without a token, naming the fix', () => {
    const open = join(dir, 'public.toml');
    writeFileSync(open, '[http]\nhost = "0.0.0.0"\n[[scaler]]\ntype = "noop"\nid = "s"\n');
    const result = runCli(['run', '-c', open, '--state', join(dir, 'public.db')]);
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([
      `error: ${open}: the HTTP listener on 0.0.0.0 is reachable from other machines and its API would need no credentials: set [http] token_env = "WAYMOND_TOKEN" (and that variable), or listen on 127.0.0.1`,
    ]);
  });

  it('is refused when token_env names an unset variable', () => {
    const named = join(dir, 'named.toml');
    writeFileSync(named, '[http]\ntoken_env = "UNSET_ADMIN_TOKEN_X"\n[[scaler]]\ntype = "noop"\nid = "s"\n');
    const result = runCli(['run', '-c', named, '--state', join(dir, 'named.db')], { UNSET_ADMIN_TOKEN_X: '' });
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([
      `error: ${named}: [http] token_env names UNSET_ADMIN_TOKEN_X, which is not set or empty: set it to the admin token`,
    ]);
  });
});
