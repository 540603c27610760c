/**
 * The etcd backend's client on a real 3-member cluster started for this file: errors name
 * each endpoint and its cause (and never the password), a cluster without quorum makes calls
 * fail instead of hang, etcd authentication works, TLS with a client certificate works (on a
 * single TLS member started here), and close() leaves nothing that keeps a process alive.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEtcdError, EtcdBackend, etcdSecurityOf, ttlSecondsOf } from '../../src/cluster/etcd.js';
import { ROOT, waitUntil } from '../helpers/daemon.js';
import { requireService } from '../helpers/services.js';
import { type EtcdCluster, etcdInstalled, startEtcdCluster } from '../peers/etcd.js';

const TTL = 2000;
const available = await requireService('etcd (apt-get install etcd-server etcd-client)', async () => etcdInstalled());

describe('etcd client helpers', () => {
  it('the etcd TTL is never shorter than lease_ttl', () => {
    expect([1000, 1400, 2000, 2500, 15_000].map(ttlSecondsOf)).toEqual([1, 2, 2, 3, 15]);
  });

  it('an error says what failed, on which endpoint, and hides the password', () => {
    const text = describeEtcdError(
      'fence of scaler.a',
      new Error('auth hunter2 rejected'),
      ['hunter2'],
      ['127.0.0.1:1: connect ECONNREFUSED'],
    );
    expect(text).toBe('etcd fence of scaler.a failed (auth *** rejected; 127.0.0.1:1: connect ECONNREFUSED)');
  });

  it('security: the user from the environment, TLS from files; a missing variable or file names the field', () => {
    const files: Record<string, string> = { '/ca.pem': 'CA', '/c.pem': 'CERT', '/k.pem': 'KEY' };
    const read = (path: string) => {
      const body = files[path];
      if (body === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return Buffer.from(body);
    };
    const full = etcdSecurityOf(
      { username_env: 'U', password_env: 'P', tls_ca_file: '/ca.pem', tls_cert_file: '/c.pem', tls_key_file: '/k.pem' },
      { U: 'waymond', P: 'pw' },
      read,
    );
    expect(full.auth).toEqual({ username: 'waymond', password: 'pw' });
    expect(full.credentials?.rootCertificate.toString()).toBe('CA');
    expect(full.credentials?.certChain?.toString()).toBe('CERT');
    expect(full.credentials?.privateKey?.toString()).toBe('KEY');
    expect(etcdSecurityOf({}, {}, read)).toEqual({});
    expect(() => etcdSecurityOf({ username_env: 'U', password_env: 'P' }, { U: 'w' }, read)).toThrow(
      '[cluster] password_env: environment variable P is not set',
    );
    expect(() => etcdSecurityOf({ tls_ca_file: '/nope.pem' }, {}, read)).toThrow(
      '[cluster] tls_ca_file: cannot read /nope.pem (ENOENT)',
    );
  });
});

describe.skipIf(!available)('etcd client on a real cluster', () => {
  let etcd: EtcdCluster;
  const open: EtcdBackend[] = [];
  beforeAll(async () => {
    etcd = await startEtcdCluster();
  });
  afterAll(async () => {
    for (const b of open) await b.close().catch(() => undefined);
    etcd?.stop();
  });
  const backend = (id: string, extra: Partial<ConstructorParameters<typeof EtcdBackend>[0]> = {}) => {
    const errors: string[] = [];
    const b = new EtcdBackend({
      endpoints: etcd.endpoints,
      cluster: `c-${randomUUID().slice(0, 8)}`,
      instanceId: id,
      leaseTtlMs: TTL,
      onError: (m) => errors.push(m),
      ...extra,
    });
    open.push(b);
    return { b, errors };
  };

  it('close() leaves no gRPC channel or timer open: the process exits by itself', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/cluster/etcd-exit.child.ts', etcd.endpoints.join(',')],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    let code: number | null | undefined;
    child.once('exit', (c) => {
      code = c;
    });
    try {
      await waitUntil(() => code !== undefined, 'the child to exit after close()', 20_000);
    } finally {
      if (code === undefined && child.pid) process.kill(child.pid, 'SIGKILL');
    }
    expect(out).toContain('closed');
    expect(code).toBe(0);
  });

  it('2 of 3 members down: calls fail (not hang) naming each endpoint and its cause; one back: they work again', async () => {
    const { b } = backend('q');
    await b.join({ id: 'q', since: Date.now() });
    const lease = await b.acquire('g');
    expect(lease).not.toBeNull();
    etcd.kill(1);
    etcd.kill(2);
    try {
      // The lone member may renew the session until it notices it lost the leadership (a
      // lease renewal needs no raft round); the heartbeat's inbox read already needs quorum.
      let error: Error | undefined;
      await waitUntil(
        async () => {
          error = await b.heartbeat([lease!]).then(
            () => undefined,
            (e: Error) => e,
          );
          return error !== undefined;
        },
        'a heartbeat to fail without quorum',
        10_000,
      );
      expect(error?.message).toMatch(/^etcd (lease keepalive|range \S+) failed \(/);
      // The two stopped members refuse the connection; the error says which they are.
      for (const endpoint of etcd.endpoints.slice(0, 2))
        expect(error?.message).toContain(`${endpoint.replace('http://', '')}: 14 UNAVAILABLE`);
      await expect(b.fence(lease!, 'scaler.a', { target: '', desired: 1, data: {} })).rejects.toThrow(
        /^etcd fence of scaler\.a failed/,
      );
    } finally {
      etcd.restart(1);
    }
    await waitUntil(
      async () =>
        b.heartbeat([]).then(
          () => true,
          () => false,
        ),
      'a heartbeat to succeed with quorum back',
      20_000,
    );
    etcd.restart(2);
  });

  it('etcd authentication: the right user works, a wrong password is refused without being echoed', async () => {
    const ctl = (...args: string[]) =>
      execFileSync('etcdctl', [`--endpoints=${etcd.endpoints.join(',')}`, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 20_000,
      });
    ctl('user', 'add', 'root:rootpw');
    ctl('auth', 'enable');
    try {
      const { b } = backend('u', { auth: { username: 'root', password: 'rootpw' } });
      await b.join({ id: 'u', since: Date.now() });
      const lease = await b.acquire('g');
      expect(lease).not.toBeNull();
      expect(await b.fence(lease!, 'scaler.a', { target: '', desired: 2, data: {} })).toBe(true);
      expect((await b.applied('scaler.a')).map((r) => r.desired)).toEqual([2]);
      const wrong = backend('w', { auth: { username: 'root', password: 'not-the-password' } }).b;
      const error = await wrong.join({ id: 'w', since: Date.now() }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/^etcd lease grant failed \(.*authentication failed/);
      expect(error?.message).not.toContain('not-the-password');
    } finally {
      ctl('--user=root:rootpw', 'auth', 'disable');
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 30_000 });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=waymond-test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', '127.0.0.1'],
    ['client', 'waymond'],
  ] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
}

const opensslThere = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!available || !opensslThere)('etcd client over TLS with a client certificate', () => {
  let dir = '';
  let pid: number | undefined;
  let endpoint = '';
  const open: EtcdBackend[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waymond-etcd-tls-'));
    makeCertificates(dir);
    const [client, peer] = [await freePort(), await freePort()];
    endpoint = `https://127.0.0.1:${client}`;
    const child = spawn(
      'etcd',
      [
        '--name',
        'tls1',
        '--data-dir',
        join(dir, 'data'),
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-cluster',
        `tls1=http://127.0.0.1:${peer}`,
        '--cert-file',
        join(dir, 'server.pem'),
        '--key-file',
        join(dir, 'server.key'),
        '--trusted-ca-file',
        join(dir, 'ca.pem'),
        '--client-cert-auth',
      ],
      { stdio: 'ignore' },
    );
    pid = child.pid;
  });
  afterAll(async () => {
    for (const b of open) await b.close().catch(() => undefined);
    if (pid) process.kill(pid, 'SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const make = (id: string, files: Parameters<typeof etcdSecurityOf>[0]) => {
    const b = new EtcdBackend({
      endpoints: [endpoint],
      cluster: `tls-${randomUUID().slice(0, 8)}`,
      instanceId: id,
      leaseTtlMs: TTL,
      onError: () => undefined,
      ...etcdSecurityOf(files),
    });
    open.push(b);
    return b;
  };

  it('with the CA and a client certificate it leases and fences; without the certificate etcd refuses it', async () => {
    const files = {
      tls_ca_file: join(dir, 'ca.pem'),
      tls_cert_file: join(dir, 'client.pem'),
      tls_key_file: join(dir, 'client.key'),
    };
    let b = make('t', files);
    // The member may still be starting: join once it answers.
    await waitUntil(
      async () =>
        b.join({ id: 't', since: Date.now() }).then(
          () => true,
          async () => {
            await b.close();
            b = make('t', files);
            return false;
          },
        ),
      'the TLS member to answer',
      20_000,
    );
    const lease = await b.acquire('g');
    expect(lease).not.toBeNull();
    expect(await b.fence(lease!, 'scaler.a', { target: '', desired: 3, data: {} })).toBe(true);
    expect((await b.members()).map((m) => m.id)).toEqual(['t']);
    const anonymous = make('n', { tls_ca_file: join(dir, 'ca.pem') });
    await expect(anonymous.join({ id: 'n', since: Date.now() })).rejects.toThrow(/^etcd lease grant failed/);
  });
});
