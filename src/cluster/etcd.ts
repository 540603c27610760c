/**
 * Leases on etcd (v3), spoken through etcd's own JSON gateway (`/v3/kv/txn`, `/v3/lease/*`,
 * `/v3/watch` on every client URL), so it needs no gRPC client in the package.
 *
 * Each instance holds one etcd lease (its session, TTL = lease_ttl) and renews it with one
 * keepalive per round; every key it writes is attached to it, so when the instance dies or
 * is cut off, etcd deletes its members entry and all its lease keys at once. Taking a
 * group's lease is a transaction "create if absent"; the key's mod_revision is the fencing
 * token (etcd revisions only grow). A fence is a transaction comparing that mod_revision and,
 * only if it still matches, writing the apply record. Events for another instance are put
 * under its inbox prefix, which it watches (and reads at every heartbeat).
 */
import { randomUUID } from 'node:crypto';
import type { EventData } from '../core/types.js';
import type { AppliedRecord, ForwardedEvent, Lease, LeaseBackend, LeaseView, MemberInfo } from './backend.js';

export interface EtcdBackendOptions {
  endpoints: string[];
  cluster: string;
  instanceId: string;
  leaseTtlMs: number;
  onError: (message: string) => void;
  /** Called for every gateway request sent (the backend load figure). */
  onRequest?: () => void;
}

interface KeyValue {
  key: string;
  value?: string;
  mod_revision?: string;
  lease?: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** The end of a prefix range: the prefix with its last byte plus one. */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) + 1;
  return bytes.toString('base64');
}

export class EtcdBackend implements LeaseBackend {
  readonly name = 'etcd' as const;
  private session?: string;
  private member?: MemberInfo;
  private current = 0;
  private handlers: ((event: ForwardedEvent) => void)[] = [];
  private watching?: AbortController;
  private closed = false;

  constructor(private readonly o: EtcdBackendOptions) {}

  private get root(): string {
    return `/waymond/${this.o.cluster}/`;
  }
  private leaseKey(group: string): string {
    return `${this.root}lease/${group}`;
  }
  private inbox(instance: string): string {
    return `${this.root}inbox/${instance}/`;
  }

  /** One gateway call, on the endpoint that worked last, moving on to the next when one fails. */
  private async call<T>(
    path: string,
    body: unknown,
    timeoutMs = Math.max(1000, Math.floor(this.o.leaseTtlMs / 2)),
  ): Promise<T> {
    let last: unknown;
    for (let i = 0; i < this.o.endpoints.length; i++) {
      const index = (this.current + i) % this.o.endpoints.length;
      const endpoint = (this.o.endpoints[index] as string).replace(/\/$/, '');
      try {
        this.o.onRequest?.();
        const response = await fetch(`${endpoint}${path}`, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.text();
        if (!response.ok) throw new Error(`etcd ${endpoint}${path} answered ${response.status}: ${text.slice(0, 200)}`);
        this.current = index;
        return JSON.parse(text) as T;
      } catch (error) {
        last = error;
      }
    }
    throw new Error(`etcd unreachable on every endpoint (${(last as Error)?.message ?? last})`);
  }

  private ttlSeconds(): number {
    return Math.max(1, Math.round(this.o.leaseTtlMs / 1000));
  }

  private async grant(): Promise<string> {
    const granted = await this.call<{ ID: string }>('/v3/lease/grant', { TTL: this.ttlSeconds() });
    this.session = granted.ID;
    await this.putMember();
    return granted.ID;
  }

  private async putMember(): Promise<void> {
    await this.call('/v3/kv/put', {
      key: b64(`${this.root}members/${this.o.instanceId}`),
      value: b64(JSON.stringify(this.member)),
      lease: this.session,
    });
  }

  async join(member: MemberInfo): Promise<void> {
    this.member = member;
    await this.grant();
    void this.watchInbox();
  }

  async heartbeat(held: readonly Lease[]): Promise<Set<string>> {
    if (!this.session) {
      await this.grant();
      return new Set();
    }
    const kept = await this.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: this.session });
    if (!kept.result?.TTL || Number(kept.result.TTL) <= 0) {
      // The session expired (paused or cut off past its TTL): etcd deleted every key of it.
      this.o.onError('etcd session lease expired; every lease of this instance is lost');
      this.session = undefined;
      await this.grant();
      return new Set();
    }
    // Also read the inbox: a watch on a member that lost its quorum can stay open and silent.
    for (const kv of await this.range(this.inbox(this.o.instanceId))) await this.deliver(kv);
    return new Set(held.map((l) => l.key));
  }

  async members(): Promise<MemberInfo[]> {
    const prefix = `${this.root}members/`;
    const kvs = await this.range(prefix);
    return kvs.map((kv) => JSON.parse(unb64(kv.value)) as MemberInfo).sort((a, b) => a.id.localeCompare(b.id));
  }

  private async range(prefix: string): Promise<KeyValue[]> {
    const result = await this.call<{ kvs?: KeyValue[] }>('/v3/kv/range', {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
    });
    return result.kvs ?? [];
  }

  async acquire(group: string): Promise<Lease | null> {
    if (!this.session) return null;
    const key = b64(this.leaseKey(group));
    const result = await this.call<{ succeeded?: boolean; header: { revision: string } }>('/v3/kv/txn', {
      compare: [{ key, target: 'CREATE', create_revision: '0' }],
      success: [{ request_put: { key, value: b64(this.o.instanceId), lease: this.session } }],
    });
    return result.succeeded === true ? { key: group, token: result.header.revision } : null;
  }

  async release(lease: Lease): Promise<void> {
    const key = b64(this.leaseKey(lease.key));
    await this.call('/v3/kv/txn', {
      compare: [{ key, target: 'MOD', mod_revision: lease.token }],
      success: [{ request_delete_range: { key } }],
    });
  }

  async fence(
    lease: Lease,
    scaler: string,
    record: { target: string; desired: number; data: EventData },
  ): Promise<boolean> {
    const applied: AppliedRecord = { ...record, instance: this.o.instanceId, token: lease.token, time: Date.now() };
    const result = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key: b64(this.leaseKey(lease.key)), target: 'MOD', mod_revision: lease.token }],
      success: [
        {
          request_put: {
            key: b64(`${this.root}applied/${scaler}/${record.target}`),
            value: b64(JSON.stringify(applied)),
          },
        },
      ],
    });
    return result.succeeded === true;
  }

  async applied(scaler: string): Promise<AppliedRecord[]> {
    const kvs = await this.range(`${this.root}applied/${scaler}/`);
    return kvs.map((kv) => JSON.parse(unb64(kv.value)) as AppliedRecord);
  }

  async leases(): Promise<LeaseView[]> {
    const prefix = `${this.root}lease/`;
    const kvs = await this.range(prefix);
    const ttls = new Map<string, number | null>();
    for (const id of new Set(kvs.map((kv) => kv.lease).filter((x): x is string => x !== undefined))) {
      const live = await this.call<{ TTL?: string }>('/v3/lease/timetolive', { ID: id }).catch(() => ({
        TTL: undefined,
      }));
      ttls.set(id, live.TTL === undefined ? null : Number(live.TTL) * 1000);
    }
    return kvs.map((kv) => ({
      key: unb64(kv.key).slice(prefix.length),
      holder: unb64(kv.value),
      token: kv.mod_revision ?? '',
      expiresInMs: kv.lease ? (ttls.get(kv.lease) ?? null) : null,
    }));
  }

  /** Not under the sender's session: an event outlives its sender, and `reroute` collects the dead's. */
  async forward(to: string, event: ForwardedEvent): Promise<void> {
    await this.call('/v3/kv/put', {
      key: b64(`${this.inbox(to)}${Date.now().toString(36)}-${randomUUID()}`),
      value: b64(JSON.stringify(event)),
    });
  }

  async reroute(live: readonly string[]): Promise<ForwardedEvent[]> {
    const prefix = `${this.root}inbox/`;
    const taken: ForwardedEvent[] = [];
    for (const kv of await this.range(prefix)) {
      const owner = unb64(kv.key).slice(prefix.length).split('/')[0] ?? '';
      if (live.includes(owner)) continue;
      // Taken by whoever deletes it first: each event is routed once.
      const result = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
        compare: [{ key: kv.key, target: 'VERSION', version: '0', result: 'GREATER' }],
        success: [{ request_delete_range: { key: kv.key } }],
      });
      if (result.succeeded === true) taken.push(JSON.parse(unb64(kv.value)) as ForwardedEvent);
    }
    return taken;
  }

  onForward(handler: (event: ForwardedEvent) => void): void {
    this.handlers.push(handler);
  }

  /** Delivers an inbox entry once: only the call that deleted it hands it on. */
  private async deliver(kv: KeyValue): Promise<void> {
    const deleted = await this.call<{ deleted?: string }>('/v3/kv/deleterange', { key: kv.key });
    if (Number(deleted.deleted ?? 0) === 0) return;
    try {
      const event = JSON.parse(unb64(kv.value)) as ForwardedEvent;
      for (const handler of this.handlers) handler(event);
    } catch (error) {
      this.o.onError(`unreadable forwarded event: ${(error as Error).message}`);
    }
  }

  /** Watches this instance's inbox; after each (re)connect it first takes what arrived meanwhile. */
  private async watchInbox(): Promise<void> {
    const prefix = this.inbox(this.o.instanceId);
    while (!this.closed) {
      const abort = new AbortController();
      this.watching = abort;
      const endpoint = (this.o.endpoints[this.current] as string).replace(/\/$/, '');
      try {
        const response = await fetch(`${endpoint}/v3/watch`, {
          method: 'POST',
          body: JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix) } }),
          signal: abort.signal,
        });
        if (!response.ok || !response.body) throw new Error(`watch answered ${response.status}`);
        for (const kv of await this.range(prefix)) await this.deliver(kv);
        let buffer = '';
        const decoder = new TextDecoder();
        for await (const chunk of response.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let newline = buffer.indexOf('\n');
          while (newline >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            newline = buffer.indexOf('\n');
            if (!line) continue;
            const message = JSON.parse(line) as { result?: { events?: { type?: string; kv: KeyValue }[] } };
            for (const e of message.result?.events ?? [])
              if (e.type !== 'DELETE') void this.deliver(e.kv).catch((err) => this.o.onError(`inbox: ${err}`));
          }
        }
        throw new Error('watch stream ended');
      } catch (error) {
        if (this.closed) return;
        this.o.onError(`etcd inbox watch lost: ${(error as Error).message}; watching again`);
        this.current = (this.current + 1) % this.o.endpoints.length;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, this.o.leaseTtlMs / 4)));
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watching?.abort();
    if (!this.session) return;
    try {
      // Revoking the session deletes the member entry and every lease key at once.
      await this.call('/v3/lease/revoke', { ID: this.session });
    } catch (error) {
      this.o.onError(`could not leave the cluster cleanly: ${(error as Error).message}`);
    }
  }
}
