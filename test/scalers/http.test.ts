import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Reconciler } from '../../src/core/reconciler.js';
import { http } from '../../src/scalers/http.js';
import { type TestContext, testContext } from '../helpers/context.js';

interface Received {
  method: string;
  url: string;
  authorization?: string;
  body: unknown;
}

describe('http scaler', () => {
  let server: Server;
  let base: string;
  let received: Received[];
  let size: number;
  let t: TestContext | undefined;
  let reconciler: Reconciler | undefined;

  beforeEach(async () => {
    received = [];
    size = 2;
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          body: text ? JSON.parse(text) : undefined,
        });
        if (req.method === 'POST') size = (JSON.parse(text) as { desired: number }).desired;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ size }));
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await reconciler?.stop(1000);
    t?.close();
    reconciler = undefined;
    t = undefined;
    await new Promise<void>((done) => server.close(() => done()));
  });

  async function boot(options: { dryRun?: boolean } = {}) {
    t = testContext('scaler', 'pool', { dryRun: options.dryRun });
    const parsed = http.schema.parse({
      type: 'http',
      id: 'pool',
      url: `${base}/pool/size`,
      observe_url: `${base}/pool`,
      current: 'size',
      headers: { Authorization: 'Bearer s3cr3t-token' },
    });
    const scaler = await http.create(parsed, t.ctx);
    reconciler = new Reconciler({
      address: 'scaler.pool',
      scaler,
      settings: parsed,
      clock: t.clock,
      bus: t.bus,
      store: t.store,
      logger: pino({ level: 'silent' }),
      dryRun: options.dryRun,
    });
    return reconciler;
  }

  it('a dry run lists exactly the request apply sends, without its headers', async () => {
    const dry = await boot({ dryRun: true });
    const listed = await dry.reconcileNow(5, {}, null, 'asked 5');
    expect(listed).toMatchObject({ outcome: 'dry_run', observed: 2 });
    expect(listed.reason).toBe(
      `asked 5; dry run, would call: POST ${base}/pool/size {"desired":5,"scaler":"scaler.pool","reason":"asked 5"}`,
    );
    expect(listed.reason).not.toContain('s3cr3t');
    expect(received.map((r) => r.method)).toEqual(['GET']);
    expect(size).toBe(2);
    const listedBody = JSON.parse(listed.reason.slice(listed.reason.indexOf('{')));
    await dry.stop(1000);
    t?.close();

    received = [];
    const real = await boot();
    expect((await real.reconcileNow(5, {}, null, 'asked 5')).outcome).toBe('ok');
    const posts = received.filter((r) => r.method === 'POST');
    expect(posts.map((r) => [r.url, r.body])).toEqual([['/pool/size', listedBody]]);
    expect(posts[0]?.authorization).toBe('Bearer s3cr3t-token');
    expect(size).toBe(5);
  });
});
