/**
 * The etcd backend's client on a real 3-member cluster started for this file: errors name
 * each endpoint and its cause (and never the password), a cluster without quorum makes calls
 * fail instead of hang, etcd authentication works, and close() leaves nothing that keeps a
 * process alive.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
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
      const error = await b.heartbeat([lease!]).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/^etcd lease keepalive failed \(/);
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
