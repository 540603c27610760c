/**
 * Leases on etcd (v3) through the `etcd3` gRPC client: one client for all `endpoints` (it
 * spreads calls over them and moves off a failing one), with TLS (client certificates) and
 * etcd's user/password authentication when `[cluster]` names them.
 *
 * Each instance holds one etcd lease (its session, TTL = lease_ttl) and renews it with one
 * keepalive per round of the ownership loop (no background keepalive: a renewal counts from
 * when the loop sent it, see ownership.ts); every key it writes is attached to it, so when
 * the instance dies or is cut off, etcd deletes its members entry and all its lease keys at
 * once. Taking a group's lease is a transaction "create if absent"; the key's mod_revision is
 * the fencing token (etcd revisions only grow). A fence is a transaction comparing that
 * mod_revision and, only if it still matches, writing the apply record. Events for another
 * instance are put under its inbox prefix, which it watches (and reads at every heartbeat).
 *
 * Every unary call has a deadline (`callTimeoutMs`, per attempt; the client retries a
 * failed attempt on another endpoint a few times), and so does each keepalive, so a member
 * without quorum never holds a round up for long. `close()` closes every gRPC channel.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  type ComparatorBuilder,
  Etcd3,
  type Lease as EtcdLease,
  EtcdLeaseInvalidError,
  GRPCUnavailableError,
  type IKeyValue,
  type IOptions,
  isRecoverableError,
  type Watcher,
} from 'etcd3';
import type { EventData } from '../core/types.js';
import type { AppliedRecord, ForwardedEvent, Lease, LeaseBackend, LeaseView, MemberInfo } from './backend.js';

/** How the client proves itself to etcd: a user (etcd auth) and TLS material, both optional. */
export interface EtcdSecurity {
  auth?: { username: string; password: string };
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
}

export interface EtcdBackendOptions extends EtcdSecurity {
  endpoints: string[];
  cluster: string;
  instanceId: string;
  leaseTtlMs: number;
  onError: (message: string) => void;
  /** Called for every gRPC call or stream the client sends (the backend load figure). */
  onRequest?: () => void;
}

/** The `[cluster]` fields that say how to reach etcd securely. */
export interface EtcdSecurityConfig {
  username_env?: string | undefined;
  password_env?: string | undefined;
  tls_ca_file?: string | undefined;
  tls_cert_file?: string | undefined;
  tls_key_file?: string | undefined;
}

/** Reads the user's password from the environment and the TLS files from disk; errors name the field. */
export function etcdSecurityOf(
  config: EtcdSecurityConfig,
  env: NodeJS.ProcessEnv = process.env,
  read: (path: string) => Buffer = readFileSync,
): EtcdSecurity {
  const out: EtcdSecurity = {};
  const fromEnv = (field: string, name: string): string => {
    const value = env[name];
    if (value === undefined || value === '')
      throw new Error(`[cluster] ${field}: environment variable ${name} is not set`);
    return value;
  };
  if (config.username_env !== undefined && config.password_env !== undefined)
    out.auth = {
      username: fromEnv('username_env', config.username_env),
      password: fromEnv('password_env', config.password_env),
    };
  const file = (field: string, path: string): Buffer => {
    try {
      return read(path);
    } catch (error) {
      throw new Error(`[cluster] ${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
  };
  if (config.tls_ca_file !== undefined) {
    out.credentials = { rootCertificate: file('tls_ca_file', config.tls_ca_file) };
    if (config.tls_cert_file !== undefined && config.tls_key_file !== undefined) {
      out.credentials.certChain = file('tls_cert_file', config.tls_cert_file);
      out.credentials.privateKey = file('tls_key_file', config.tls_key_file);
    }
  }
  return out;
}

/** The lease TTL in etcd's whole seconds, never shorter than lease_ttl (the loop counts on that). */
export function ttlSecondsOf(leaseTtlMs: number): number {
  return Math.max(1, Math.ceil(leaseTtlMs / 1000));
}

/**
 * A client error as one line for the log and /readyz: what was being done, the error's kind
 * and message, and each endpoint's last failure (which endpoint, which cause), with the
 * password never in it.
 */
export function describeEtcdError(
  what: string,
  error: unknown,
  secrets: readonly string[] = [],
  endpoints: readonly string[] = [],
): string {
  const e = error as Error;
  const cause =
    e instanceof EndpointSkipped
      ? 'every endpoint failed moments ago'
      : `${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e?.message ?? String(error)}`;
  let text = `etcd ${what} failed (${[cause, ...endpoints].join('; ')})`;
  for (const secret of secrets) if (secret) text = text.split(secret).join('***');
  return text
    .replace(/\s*Resolution note:\s*(?=[;)])/g, '')
    .replace(/\s+/g, ' ')
    .slice(0, 600);
}

const parse = <T>(kv: IKeyValue): T => JSON.parse(kv.value.toString('utf8')) as T;

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/** A watch reconnects after the same delay every time (the client's default grows to 30 s). */
function constantBackoff(ms: number): WatchBackoff {
  const backoff = { duration: ms, next: () => backoff };
  return backoff as unknown as WatchBackoff;
}

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

/** Thrown instead of calling an endpoint that failed moments ago: the client then tries the next one. */
class EndpointSkipped extends Error {
  override name = 'EndpointSkipped';
}

/**
 * The client's per-endpoint policy, in place of its default circuit breaker (which, once
 * open, fails every call for 5 s with "circuit breaker is open" and no cause, even once
 * quorum is back): an endpoint that just refused the connection is skipped for `cooldownMs`
 * so calls go to the others, and every endpoint's last failure is kept so an error can say
 * which endpoint failed and why.
 */
class EndpointGate {
  /** `at`: when it was found unreachable (skipped until `at + cooldownMs`); `seen`: when it failed. */
  failure?: { at: number; message: string; seen: number };
  constructor(
    readonly endpoint: string,
    private readonly cooldownMs: number,
  ) {}

  async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
    if (this.failure && performance.now() - this.failure.at < this.cooldownMs)
      throw new EndpointSkipped(`${this.endpoint} skipped after: ${this.failure.message}`);
    try {
      const result = await fn({ signal: new AbortController().signal });
      this.failure = undefined;
      return result;
    } catch (error) {
      if (isRecoverableError(error as Error)) {
        const message = (error as Error).message ?? String(error);
        // Skipped only when it cannot be reached at all; a member that answers late (an
        // election, no quorum) is remembered, for the error, but tried again at once.
        const unreachable = error instanceof GRPCUnavailableError && !message.includes('etcdserver:');
        this.failure = {
          at: unreachable ? performance.now() : Number.NEGATIVE_INFINITY,
          message,
          seen: performance.now(),
        };
      }
      throw error;
    }
  }
}

export class EtcdBackend implements LeaseBackend {
  readonly name = 'etcd' as const;
  private readonly client: Etcd3;
  private readonly callTimeoutMs: number;
  private session?: EtcdLease;
  private sessionId?: string;
  private member?: MemberInfo;
  private handlers: ((event: ForwardedEvent) => void)[] = [];
  private watcher?: Watcher;
  private closed = false;
  private readonly gates: EndpointGate[] = [];

  constructor(private readonly o: EtcdBackendOptions) {
    this.callTimeoutMs = Math.max(1000, Math.floor(o.leaseTtlMs / 2));
    const cooldownMs = Math.min(1000, Math.floor(o.leaseTtlMs / 4));
    this.client = new Etcd3({
      hosts: o.endpoints,
      ...(o.auth ? { auth: o.auth } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
      // Unused by etcd3 1.1 itself; the per-call deadlines below are what bound a call.
      dialTimeout: this.callTimeoutMs,
      defaultCallOptions: (context) => {
        this.o.onRequest?.();
        // A stream (the inbox watch) lives on; each keepalive stream gets its own deadline.
        return context.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs };
      },
      // A restarted member is dialled again soon, not after gRPC's default of up to 2 min.
      grpcOptions: {
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': Math.min(5000, o.leaseTtlMs),
      },
      faultHandling: {
        host: (endpoint) => {
          const gate = new EndpointGate(endpoint.replace(/^https?:\/\//, ''), cooldownMs);
          this.gates.push(gate);
          return gate as unknown as HostPolicy;
        },
        watchBackoff: constantBackoff(cooldownMs),
      },
    });
  }

  private get root(): string {
    return `/waymond/${this.o.cluster}/`;
  }
  private leaseKey(group: string): string {
    return `${this.root}lease/${group}`;
  }
  private inbox(instance: string): string {
    return `${this.root}inbox/${instance}/`;
  }

  /** Runs one client operation; its failure is rethrown as one line naming the operation and cause. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await this.bounded(what, run());
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  /**
   * Every attempt has a gRPC deadline; this is the bound over all of them (the client's
   * retries, a stream that ends without an answer), so no round of the loop can hang.
   */
  private bounded<T>(what: string, pending: Promise<T>): Promise<T> {
    const limitMs = (this.o.endpoints.length + 1) * this.callTimeoutMs + 500;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.o.onError(`etcd ${what} did not settle within ${limitMs} ms; given up`);
        reject(new Error(`no answer within ${limitMs} ms`));
      }, limitMs);
    });
    return Promise.race([pending, late]).finally(() => clearTimeout(timer));
  }

  /** The error of a failed operation, with each endpoint's last failure (which endpoint, which cause). */
  private failure(what: string, error: unknown): Error {
    const recent = this.gates
      .filter((g) => g.failure && performance.now() - g.failure.seen < this.o.leaseTtlMs)
      .map((g) => `${g.endpoint}: ${g.failure?.message}`);
    return new Error(describeEtcdError(what, error, [this.o.auth?.password ?? ''], recent));
  }

  private async grant(): Promise<void> {
    const lease = this.client.lease(ttlSecondsOf(this.o.leaseTtlMs), {
      autoKeepAlive: false,
      deadline: Date.now() + this.callTimeoutMs,
    });
    // The client reports a failed grant both by rejecting and by a 'lost' event.
    lease.on('lost', () => undefined);
    const id = await this.call('lease grant', () => lease.grant());
    this.session = lease;
    this.sessionId = id;
    await this.call('put of the members entry', () =>
      this.client.put(`${this.root}members/${this.o.instanceId}`).value(JSON.stringify(this.member)).lease(id).exec(),
    );
  }

  async join(member: MemberInfo): Promise<void> {
    this.member = member;
    await this.grant();
    this.watchInbox();
  }

  /**
   * One keepalive of the session, tried on each endpoint in turn (a keepalive is a stream,
   * which the client does not retry by itself). False when etcd says the lease is gone.
   */
  private async keepalive(session: EtcdLease): Promise<boolean> {
    let last: unknown;
    for (let attempt = 0; attempt < this.o.endpoints.length; attempt++) {
      try {
        await this.bounded('lease keepalive', session.keepaliveOnce({ deadline: Date.now() + this.callTimeoutMs }));
        return true;
      } catch (error) {
        if (error instanceof EtcdLeaseInvalidError) return false;
        last = error;
        if (!isRecoverableError(error as Error)) break;
      }
    }
    throw this.failure('lease keepalive', last);
  }

  async heartbeat(held: readonly Lease[]): Promise<Set<string>> {
    if (!this.session) {
      await this.grant();
      return new Set();
    }
    if (!(await this.keepalive(this.session))) {
      // The session expired (paused or cut off past its TTL): etcd deleted every key of it.
      this.o.onError('etcd session lease expired; every lease of this instance is lost');
      this.session = undefined;
      this.sessionId = undefined;
      await this.grant();
      return new Set();
    }
    // Also read the inbox: a watch on a member that lost its quorum can stay open and silent.
    for (const kv of await this.range(this.inbox(this.o.instanceId))) await this.deliver(kv);
    return new Set(held.map((l) => l.key));
  }

  async members(): Promise<MemberInfo[]> {
    const kvs = await this.range(`${this.root}members/`);
    return kvs.map((kv) => parse<MemberInfo>(kv)).sort((a, b) => a.id.localeCompare(b.id));
  }

  private async range(prefix: string): Promise<IKeyValue[]> {
    const result = await this.call(`range ${prefix}`, () => this.client.getAll().prefix(prefix).exec());
    return result.kvs;
  }

  private async commit(what: string, txn: ComparatorBuilder): Promise<{ succeeded: boolean; revision: string }> {
    const result = await this.call(what, () => txn.commit());
    return { succeeded: result.succeeded, revision: result.header.revision };
  }

  async acquire(group: string): Promise<Lease | null> {
    if (!this.sessionId) return null;
    const key = this.leaseKey(group);
    const result = await this.commit(
      `take of lease ${group}`,
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(this.o.instanceId).lease(this.sessionId)),
    );
    return result.succeeded ? { key: group, token: result.revision } : null;
  }

  async release(lease: Lease): Promise<void> {
    const key = this.leaseKey(lease.key);
    await this.commit(
      `release of lease ${lease.key}`,
      this.client.if(key, 'Mod', '==', lease.token).then(this.client.delete().key(key)),
    );
  }

  async fence(
    lease: Lease,
    scaler: string,
    record: { target: string; desired: number; data: EventData },
  ): Promise<boolean> {
    const applied: AppliedRecord = { ...record, instance: this.o.instanceId, token: lease.token, time: Date.now() };
    const result = await this.commit(
      `fence of ${scaler}`,
      this.client
        .if(this.leaseKey(lease.key), 'Mod', '==', lease.token)
        .then(this.client.put(`${this.root}applied/${scaler}/${record.target}`).value(JSON.stringify(applied))),
    );
    return result.succeeded;
  }

  async applied(scaler: string): Promise<AppliedRecord[]> {
    const kvs = await this.range(`${this.root}applied/${scaler}/`);
    return kvs.map((kv) => parse<AppliedRecord>(kv));
  }

  async leases(): Promise<LeaseView[]> {
    const prefix = `${this.root}lease/`;
    const kvs = await this.range(prefix);
    const ttls = new Map<string, number | null>();
    for (const id of new Set(kvs.map((kv) => kv.lease).filter((x) => x !== '0'))) {
      const live = await this.client.leaseClient
        .leaseTimeToLive({ ID: id })
        .then((r) => Number(r.TTL))
        .catch(() => undefined);
      ttls.set(id, live === undefined || live < 0 ? null : live * 1000);
    }
    return kvs.map((kv) => ({
      key: kv.key.toString('utf8').slice(prefix.length),
      holder: kv.value.toString('utf8'),
      token: kv.mod_revision,
      expiresInMs: kv.lease !== '0' ? (ttls.get(kv.lease) ?? null) : null,
    }));
  }

  /** Not under the sender's session: an event outlives its sender, and `reroute` collects the dead's. */
  async forward(to: string, event: ForwardedEvent): Promise<void> {
    await this.call(`forward to ${to}`, () =>
      this.client
        .put(`${this.inbox(to)}${Date.now().toString(36)}-${randomUUID()}`)
        .value(JSON.stringify(event))
        .exec(),
    );
  }

  async reroute(live: readonly string[]): Promise<ForwardedEvent[]> {
    const prefix = `${this.root}inbox/`;
    const taken: ForwardedEvent[] = [];
    for (const kv of await this.range(prefix)) {
      const owner = kv.key.toString('utf8').slice(prefix.length).split('/')[0] ?? '';
      if (live.includes(owner)) continue;
      // Taken by whoever deletes it first: each event is routed once.
      const result = await this.commit(
        'reroute of an event',
        this.client.if(kv.key, 'Version', '>', 0).then(this.client.delete().key(kv.key)),
      );
      if (result.succeeded) taken.push(parse<ForwardedEvent>(kv));
    }
    return taken;
  }

  onForward(handler: (event: ForwardedEvent) => void): void {
    this.handlers.push(handler);
  }

  /** Delivers an inbox entry once: only the call that deleted it hands it on. */
  private async deliver(kv: IKeyValue): Promise<void> {
    const deleted = await this.call('take of an inbox event', () => this.client.delete().key(kv.key).exec());
    if (Number(deleted.deleted) === 0) return;
    try {
      const event = parse<ForwardedEvent>(kv);
      for (const handler of this.handlers) handler(event);
    } catch (error) {
      this.o.onError(`unreadable forwarded event: ${(error as Error).message}`);
    }
  }

  private drainInbox(): void {
    void (async () => {
      for (const kv of await this.range(this.inbox(this.o.instanceId))) await this.deliver(kv);
    })().catch((error) => this.o.onError(`inbox: ${(error as Error).message}`));
  }

  /**
   * Watches this instance's inbox; the client re-opens the watch after a lost stream, and
   * after each (re)connect this first takes what arrived meanwhile.
   */
  private watchInbox(): void {
    if (this.closed) return;
    const watcher = this.client.watch().prefix(this.inbox(this.o.instanceId)).watcher();
    this.watcher = watcher;
    watcher.on('connected', () => this.drainInbox());
    watcher.on('put', (kv) => void this.deliver(kv).catch((err) => this.o.onError(`inbox: ${err.message}`)));
    watcher.on('disconnected', (error) => {
      if (!this.closed)
        this.o.onError(
          `etcd inbox watch lost: ${describeEtcdError('watch', error, [this.o.auth?.password ?? ''])}; watching again`,
        );
    });
    // A watch etcd cancelled (e.g. compacted away) is not re-opened by the client: open a new one.
    watcher.on('error', (error) => {
      if (this.closed) return;
      this.o.onError(`etcd inbox watch cancelled: ${describeEtcdError('watch', error)}; watching again`);
      setTimeout(() => this.watchInbox(), Math.min(1000, this.o.leaseTtlMs / 4)).unref();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Bounded: a cancel needs an answer from the member the watch is on, which may be gone.
    const cancelled = this.watcher?.cancel().catch(() => undefined);
    try {
      // Revoking the session deletes the member entry and every lease key at once.
      if (this.session)
        await this.call('lease revoke', () =>
          (this.session as EtcdLease).revoke({ deadline: Date.now() + this.callTimeoutMs }),
        );
    } catch (error) {
      this.o.onError(`could not leave the cluster cleanly: ${(error as Error).message}`);
    }
    await Promise.race([cancelled, new Promise((resolve) => setTimeout(resolve, this.callTimeoutMs).unref())]);
    // Closes every gRPC channel: nothing of the client keeps the process alive.
    this.client.close();
  }
}
