/**
 * The daemon's two listeners, against the real CLI: a public [hooks] listener that serves
 * webhooks and nothing else, HTTPS on both from a certificate the test makes, a missing
 * certificate named at start, a port in use failing the start before any member is started
 * or an adopted one stopped, and /readyz naming a trigger that can never work.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hookToNoop } from '../helpers/configs.js';
import { type Daemon, runCli, startDaemon, waitUntil } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'waymond-listeners-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOOKED = hookToNoop();

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The public listener's URL, from the line the daemon logs when it binds it. */
function hooksUrl(daemon: Daemon): string {
  for (const line of daemon.logs) {
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'webhooks listening' && entry.url) return entry.url;
    } catch {
      // not JSON
    }
  }
  throw new Error(`no "webhooks listening" line in:\n${daemon.logs.join('\n')}`);
}

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', body: JSON.stringify(body) });

describe('[hooks]: a public listener for webhooks only', () => {
  let daemon: Daemon;
  let hooks: string;
  beforeAll(async () => {
    const config = write('hooks.toml', `[hooks]\nhost = "127.0.0.1"\nport = 0\n\n${HOOKED}`);
    daemon = await startDaemon(['-c', config, '--state', join(dir, 'hooks.db')]);
    hooks = hooksUrl(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('serves the hooks, and the admin listener keeps the API', async () => {
    expect(hooks).not.toBe(daemon.url);
    expect((await post(`${hooks}/hooks/set`, { desired: 3 })).status).toBe(202);
    await waitUntil(async () => {
      const { components } = (await (await fetch(`${daemon.url}/api/components`)).json()) as {
        components: { address: string; desired?: number }[];
      };
      return components.find((c) => c.address === 'scaler.s')?.desired === 3;
    }, 'the hook on the public port to set scaler.s to 3');
  });

  it('answers 404 for everything else on the public port: /api, /metrics, /readyz, the dashboard', async () => {
    for (const path of ['/api/components', '/api/events', '/metrics', '/readyz', '/']) {
      expect((await fetch(`${hooks}${path}`)).status, path).toBe(404);
    }
    expect((await post(`${hooks}/api/fire/trigger.set`, { desired: 1 })).status).toBe(404);
    expect((await post(`${hooks}/hooks/nothing-here`, {})).status).toBe(404);
    expect(await (await fetch(`${hooks}/healthz`)).json()).toEqual({ status: 'ok' });
  });

  it('no longer serves the hooks on the admin listener', async () => {
    expect((await post(`${daemon.url}/hooks/set`, { desired: 2 })).status).toBe(404);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
  });
});

describe('HTTPS on both listeners', () => {
  let daemon: Daemon;
  let ca: Buffer;
  beforeAll(async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(cert);
    const tls = `tls_cert_file = "cert.pem"\ntls_key_file = "key.pem"\n`;
    const config = write('tls.toml', `[http]\n${tls}\n[hooks]\nhost = "127.0.0.1"\nport = 0\n${tls}\n${HOOKED}`);
    daemon = await startDaemon(['-c', config, '--state', join(dir, 'tls.db')]);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  /** A request over HTTPS that trusts only the test's own certificate. */
  function httpsRequest(url: string, method = 'GET', body = ''): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method, ca }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('answers over https with the configured certificate', async () => {
    expect(daemon.url.startsWith('https://')).toBe(true);
    const components = await httpsRequest(`${daemon.url}/api/components`);
    expect(components.status).toBe(200);
    expect(components.body).toContain('scaler.s');
    const hooks = hooksUrl(daemon);
    expect(hooks.startsWith('https://')).toBe(true);
    expect((await httpsRequest(`${hooks}/hooks/set`, 'POST', '{"desired":2}')).status).toBe(202);
    // Plain HTTP to a TLS port gets no answer a client could read as HTTP.
    await expect(fetch(daemon.url.replace('https://', 'http://') + '/healthz')).rejects.toThrow();
  });

  it('a missing certificate file is a startup error naming the field and the path', () => {
    const missing = join(dir, 'nope.pem');
    const config = write(
      'missing-cert.toml',
      `[hooks]\nport = 0\ntls_cert_file = "${missing}"\ntls_key_file = "key.pem"\n\n${HOOKED}`,
    );
    const result = runCli(['run', '-c', config, '--state', join(dir, 'missing.db'), '--http-port', '0']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`error: [hooks] tls_cert_file: cannot read ${missing} (ENOENT)`);
  });

  it('only one of the two files is a config error', () => {
    const config = write('half-tls.toml', `[http]\ntls_cert_file = "cert.pem"\n\n${HOOKED}`);
    const result = runCli(['validate', config]);
    expect(result.status).toBe(1);
    expect(result.stdout + result.stderr).toContain('tls_cert_file and tls_key_file go together');
  });
});

describe('a port in use fails the start before any member is touched', () => {
  let taken: Server;
  let port: number;
  const pidFile = join(dir, 'member.pid');
  const processConfig = (onShutdown: 'keep' | 'stop', hooksPort: number) =>
    write(
      `process-${onShutdown}.toml`,
      `[hooks]\nhost = "127.0.0.1"\nport = ${hooksPort}\n\n[[trigger]]\ntype = "http_endpoint"\nid = "set"\n\n[[connect]]\ntype = "direct"\nid = "c"\nfrom = "trigger.set"\nto = "scaler.p"\n\n[[scaler]]\ntype = "process"\nid = "p"\nmin = 0\nmax = 2\non_shutdown = "${onShutdown}"\ncommand = "sh"\nargs = ["-c", "echo $$ >> '${pidFile}'; exec sleep 120"]\n`,
    );
  // Running, not a zombie waiting for whichever process reaps orphans here.
  const alive = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  };
  const started = () => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim().split('\n').filter(Boolean) : []);
  let memberPid: number | undefined;

  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const pid of started().map(Number)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await new Promise((resolve) => taken.close(resolve));
  });

  it('neither stops the member it would have adopted nor starts one', async () => {
    const state = join(dir, 'adopt.db');
    // A first daemon starts one member and leaves it running (on_shutdown = "keep").
    const first = await startDaemon(['-c', processConfig('keep', 0), '--state', state]);
    expect((await post(`${hooksUrl(first)}/hooks/set`, { desired: 1 })).status).toBe(202);
    await waitUntil(() => started().length === 1, 'the member to start');
    memberPid = Number(started()[0]);
    expect(await first.stop()).toBe(0);
    expect(alive(memberPid)).toBe(true);
    // A second one, which would stop its members on the way out, cannot bind its [hooks] port.
    const result = runCli(['run', '-c', processConfig('stop', port), '--state', state, '--http-port', '0']);
    expect(result.status).toBe(1);
    expect(result.stdout + result.stderr).toContain('EADDRINUSE');
    expect(alive(memberPid)).toBe(true);
    expect(started()).toEqual([String(memberPid)]);
  });

  it('names the [http] port in use the same way, and starts nothing', () => {
    const result = runCli([
      'run',
      '-c',
      processConfig('stop', 0),
      '--state',
      join(dir, 'http-taken.db'),
      '--http-port',
      String(port),
    ]);
    expect(result.status).toBe(1);
    expect(result.stdout + result.stderr).toContain('EADDRINUSE');
    expect(started()).toEqual([String(memberPid)]);
  });
});

describe('/readyz', () => {
  it('answers 503 naming a trigger whose token variable is unset', async () => {
    const config = write(
      'unready.toml',
      HOOKED.replace('id = "set"\n', 'id = "set"\ntoken_env = "WAYMOND_TEST_UNSET_HOOK_TOKEN"\n'),
    );
    const daemon = await startDaemon(['-c', config, '--state', join(dir, 'unready.db')], {
      WAYMOND_TEST_UNSET_HOOK_TOKEN: '',
    });
    try {
      const response = await fetch(`${daemon.url}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        status: 'not ready',
        failing: [
          {
            address: 'trigger.set',
            reason: 'environment variable WAYMOND_TEST_UNSET_HOOK_TOKEN is not set; the endpoint refuses every request',
          },
        ],
      });
    } finally {
      await daemon.stop();
    }
  });
});
