/**
 * Run by etcd-client.integration.test.ts as its own process: joins an etcd cluster (argv:
 * endpoints, comma-separated), takes a lease, forwards itself an event through its watched
 * inbox, fences, and closes. It prints "closed" and must then exit by itself: a gRPC channel
 * or timer of the client left open would keep it alive.
 */
import { EtcdBackend } from '../../src/cluster/etcd.js';

const endpoints = (process.argv[2] ?? '').split(',');
const backend = new EtcdBackend({
  endpoints,
  cluster: `exit-${process.pid}`,
  instanceId: 'x',
  leaseTtlMs: 2000,
  onError: () => undefined,
});
await backend.join({ id: 'x', since: Date.now() });
const lease = await backend.acquire('g');
if (!lease) throw new Error('lease not taken');
const got = new Promise((resolve) => backend.onForward(resolve));
await backend.forward('x', { topic: 'scaler.a.input', source: 'api', data: {}, from: 'x', hops: 1 });
await got;
if (!(await backend.fence(lease, 'scaler.a', { target: '', desired: 1, data: {} }))) throw new Error('fence failed');
await backend.heartbeat([lease]);
await backend.close();
process.stdout.write('closed\n');
