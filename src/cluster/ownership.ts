/**
 * The ownership loop: the core's `Ownership` for an instance of a cluster.
 *
 * Every `lease_ttl / 3` it heartbeats (renewing every lease it holds in the same round trip),
 * reads the live members, computes its share of the graph's groups by rendezvous hashing,
 * takes the free leases of its share and stops renewing those that hash elsewhere now (they
 * expire and the new owner takes them: a handoff never overlaps two appliers). A lease
 * counts as held only until `sent + lease_ttl - margin` by this process's monotonic clock,
 * where `sent` is when the renewal that proved it was sent: a paused or cut-off instance
 * stops owning by itself, before the backend gives the lease to someone else.
 *
 * A new owner re-asserts, per scaler and target, the desired count the last fenced apply
 * recorded in the backend. Events that land at an instance that does not own their
 * component (a webhook, `/api/fire`) are forwarded to the owner through the backend.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorMessage } from '../core/context.js';
import type { Graph } from '../core/graph.js';
import type { FenceRecord, FenceToken, Ownership } from '../core/ownership.js';
import type { Address, Bus, ScalerDirectory, WaymondEvent } from '../core/types.js';
import type { AppliedRecord, ForwardedEvent, Lease, LeaseBackend, LeaseView, MemberInfo } from './backend.js';
import type { ClusterConfig } from './config.js';
import { groupsOf, ownerOf } from './rendezvous.js';

/** Trigger types that only receive (webhooks): they serve on every instance and forward. */
const RECEIVING_TRIGGERS = new Set(['http_endpoint']);
/**
 * `placement` when the config leaves it out: `local` for scalers whose members live on the
 * instance's own host (`process`, and `systemd` without `hosts`), `shared` for the rest.
 */
export function defaultPlacement(type: string, config: Record<string, unknown>): 'local' | 'shared' {
  if (type === 'process') return 'local';
  if (type === 'systemd' && config.hosts === undefined) return 'local';
  return 'shared';
}
const MAX_HOPS = 3;
/** Forwarding retries while the backend fails over (spread over about 15 lease thirds). */
const FORWARD_ATTEMPTS = 5;
/**
 * How many lease thirds an event waits at the instance that is about to take its lease: a
 * handoff takes up to a lease (the last holder's lease must expire) plus one round, so 6
 * thirds (two leases) cover it with room to spare.
 */
const TAKE_WAIT_ROUNDS = 6;

/** Where a forwarded event is in its retries: forward failures, lease thirds waited, its arrival. */
interface Retry {
  attempt: number;
  waited: number;
  seq: number;
}

interface Held {
  lease: Lease;
  /** performance.now() when the renewal that proved the lease was sent. */
  provenAt: number;
  since: number;
}

export interface ClusterView {
  instance: string;
  backend: string;
  lease_ttl_ms: number;
  healthy: boolean;
  problem?: string;
  members: { id: string; url?: string; since: number; owns: string[] }[];
  leases: (LeaseView & { components: string[] })[];
  local: string[];
}

export interface ClusterOwnershipOptions {
  config: ClusterConfig;
  instanceId: string;
  backend: LeaseBackend;
  logger: Logger;
  registry?: Registry;
}

/** What the loop needs of the engine it guards (given after the engine is built with it). */
export interface EngineView {
  graph: Graph;
  bus: Bus;
  url: string | undefined;
  scaler: ScalerDirectory['get'];
}

export class ClusterOwnership implements Ownership {
  private held = new Map<string, Held>();
  private members: string[] = [];
  private listeners: ((address: Address, owned: boolean) => void)[] = [];
  private joined = false;
  private failure?: { since: number; message: string };
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private ticking?: Promise<void>;
  /** True while a forwarded event is emitted here (the bus dispatches synchronously). */
  private reinjecting = false;
  /**
   * Per topic, how many events arrived at this instance. An event being retried or waiting
   * for this instance's lease gives up once a newer one of its topic arrived: delivered late,
   * the older count would undo the newer one (latest wins).
   */
  private arrivals = new Map<string, number>();
  private groups = new Map<Address, string>();
  private localGroups = new Set<string>();
  private readonly ttl: number;
  private readonly margin: number;
  private readonly errors?: Counter;
  private readonly owned?: Gauge;
  private readonly forwarded?: Counter;
  private engine?: EngineView;

  constructor(private readonly o: ClusterOwnershipOptions) {
    this.ttl = o.config.lease_ttl;
    // Renewals go out every ttl/3; the margin covers the backend's clock running a bit fast.
    this.margin = Math.max(50, Math.floor(this.ttl / 10));
    if (o.registry) {
      const registers = [o.registry];
      this.errors = new Counter({
        name: 'waymond_cluster_backend_errors_total',
        help: 'Failed round trips to the cluster backend (while failing, this instance applies nothing).',
        registers,
      });
      this.owned = new Gauge({
        name: 'waymond_cluster_owned_groups',
        help: 'Leases (groups of components) this instance holds.',
        registers,
      });
      this.forwarded = new Counter({
        name: 'waymond_cluster_forwarded_events_total',
        help: 'Events handed to the instance that owns their component.',
        labelNames: ['direction'],
        registers,
      });
    }
    o.backend.onForward((event) => this.receive(event));
  }

  /** Binds the loop to the engine it guards; the loop itself starts when the engine subscribes. */
  attach(engine: EngineView): void {
    this.engine = engine;
    this.regroup();
    engine.bus.subscribeAll((event) => this.maybeForward(event));
  }

  private get view_(): EngineView {
    if (!this.engine) throw new Error('cluster ownership used before attach');
    return this.engine;
  }

  get instanceId(): string {
    return this.o.instanceId;
  }

  /** Recomputes the groups from the running graph (after a reload). */
  regroup(): void {
    const graph = this.view_.graph;
    this.groups = groupsOf(graph);
    this.localGroups = new Set(
      graph.scalers
        .filter((s) => (s.config.placement ?? defaultPlacement(s.definition.type, s.config)) === 'local')
        .map((s) => this.groups.get(s.address) as string),
    );
  }

  private groupOf(address: Address): string | undefined {
    return this.groups.get(address);
  }

  /** Whether the lease covering the group is held and proven recently enough. */
  private holds(group: string): boolean {
    if (this.localGroups.has(group)) return true;
    const held = this.held.get(group);
    return held !== undefined && performance.now() < held.provenAt + this.ttl - this.margin;
  }

  owns(address: Address): boolean {
    const group = this.groupOf(address);
    if (group === undefined) return false;
    if (this.isReceiver(address)) return true;
    return this.holds(group);
  }

  async fence(address: Address, record: FenceRecord): Promise<FenceToken | null> {
    const group = this.groupOf(address);
    if (group === undefined) return null;
    if (this.localGroups.has(group)) return { token: '' };
    const held = this.held.get(group);
    if (!held || !this.holds(group)) return null;
    try {
      const ok = await this.o.backend.fence(held.lease, address, record);
      if (!ok) {
        this.o.logger.warn({ address, token: held.lease.token }, 'lease lost (fenced out): standing down');
        this.lose(group);
        return null;
      }
      return { token: held.lease.token };
    } catch (error) {
      this.failed(error);
      return null;
    }
  }

  onChange(listener: (address: Address, owned: boolean) => void): () => void {
    this.listeners.push(listener);
    if (!this.timer && !this.ticking && !this.stopped) this.schedule(0);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  problem(): string | undefined {
    if (!this.failure) return this.joined ? undefined : 'not joined to the cluster yet';
    const seconds = Math.round((Date.now() - this.failure.since) / 1000);
    return `cluster backend ${this.o.backend.name} failing for ${seconds}s (${this.failure.message}); no applies until a lease is proven again`;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        this.schedule(Math.floor(this.ttl / 3));
      });
    }, delay);
  }

  /** One round: heartbeat and renew, read members, take this instance's share. */
  private async tick(): Promise<void> {
    try {
      if (!this.joined) {
        await this.o.backend.join(this.memberInfo());
        this.joined = true;
        this.o.logger.info({ instance: this.o.instanceId, backend: this.o.backend.name }, 'joined the cluster');
      }
      const sent = performance.now();
      const still = await this.o.backend.heartbeat([...this.held.values()].map((h) => h.lease));
      for (const [group, held] of this.held) {
        if (still.has(group)) held.provenAt = sent;
        else {
          this.o.logger.warn({ group, token: held.lease.token }, 'lease could not be renewed: standing down');
          this.lose(group);
        }
      }
      const live = (await this.o.backend.members()).map((m) => m.id);
      if (!live.includes(this.o.instanceId)) live.push(this.o.instanceId);
      live.sort();
      if (live.join(',') !== this.members.join(',')) this.o.logger.info({ members: live }, 'cluster members changed');
      this.members = live;
      // Events handed to an instance that died before it took them go to the new owners.
      for (const event of await this.o.backend.reroute(live)) this.receive(event);
      if (this.failure) {
        this.o.logger.info({ backend: this.o.backend.name }, 'cluster backend reachable again');
        this.failure = undefined;
      }
      await this.rebalance();
    } catch (error) {
      this.failed(error);
    }
    this.owned?.set(this.held.size);
  }

  private async rebalance(): Promise<void> {
    const wanted = new Set<string>();
    for (const group of new Set(this.groups.values())) {
      if (this.localGroups.has(group)) continue;
      if (ownerOf(group, this.members) === this.o.instanceId) wanted.add(group);
    }
    // Moved elsewhere: stop renewing; the lease expires and the new owner takes it.
    for (const group of [...this.held.keys()]) {
      if (!wanted.has(group)) {
        this.o.logger.info({ group }, 'group hashes to another instance now: handing it off');
        const { lease } = this.held.get(group) as Held;
        this.lose(group);
        // Released a lease later, not now: an apply that passed its fence just before may
        // still be running, and the new owner must not start while it does.
        setTimeout(() => void this.o.backend.release(lease).catch(() => undefined), this.ttl);
      }
    }
    for (const group of wanted) {
      if (this.held.has(group) || this.stopped) continue;
      const sent = performance.now();
      const lease = await this.o.backend.acquire(group);
      if (!lease) continue;
      // Read before owning: until the records are requested, a resync of this instance's
      // own (possibly stale) desired count must not run under the new lease.
      const records = await this.lastApplied(group);
      this.held.set(group, { lease, provenAt: sent, since: Date.now() });
      this.o.logger.info({ group, token: lease.token }, 'lease taken');
      for (const { address, record } of records) {
        this.o.logger.info(
          { address, target: record.target, desired: record.desired, last_applied_by: record.instance },
          'taking over: re-asserting the last applied desired count',
        );
        this.view_.scaler(address)?.request(record.desired, record.data);
      }
      this.emit(group, true);
    }
  }

  /** What the last fenced apply of each scaler in the group recorded. */
  private async lastApplied(group: string): Promise<{ address: Address; record: AppliedRecord }[]> {
    const out: { address: Address; record: AppliedRecord }[] = [];
    for (const [address, g] of this.groups) {
      if (g !== group || !address.startsWith('scaler.')) continue;
      for (const record of await this.o.backend.applied(address)) out.push({ address, record });
    }
    return out;
  }

  private lose(group: string): void {
    if (!this.held.delete(group)) return;
    this.emit(group, false);
  }

  private emit(group: string, owned: boolean): void {
    for (const [address, g] of this.groups) {
      if (g !== group) continue;
      // A receiving trigger stays owned whatever its group does.
      const now = owned || this.owns(address);
      for (const listener of this.listeners) listener(address, now);
    }
  }

  private failed(error: unknown): void {
    const message = errorMessage(error);
    this.errors?.inc();
    if (!this.failure) {
      this.failure = { since: Date.now(), message };
      this.o.logger.error(
        { backend: this.o.backend.name, err: message },
        'cluster backend unreachable: no applies until a lease is proven again',
      );
    } else this.failure.message = message;
  }

  private memberInfo(): MemberInfo {
    const url = this.view_.url;
    return { id: this.o.instanceId, since: Date.now(), ...(url ? { url } : {}) };
  }

  private isReceiver(address: Address): boolean {
    if (!address.startsWith('trigger.')) return false;
    const c = this.view_.graph.triggers.find((t) => t.address === address);
    return c !== undefined && RECEIVING_TRIGGERS.has(c.definition.type);
  }

  /** Events that must run where the component is owned: trigger outputs, and `/api/fire` of a scaler. */
  private maybeForward(event: WaymondEvent): void {
    if (event.topic === 'waymond.reload') this.regroup();
    if (this.reinjecting) return;
    const forwardable =
      (event.topic.startsWith('trigger.') && event.topic.endsWith('.output')) ||
      (event.topic.startsWith('scaler.') && event.topic.endsWith('.input') && event.source === 'api');
    if (!forwardable) return;
    const address = event.topic.slice(0, event.topic.lastIndexOf('.'));
    const group = this.groupOf(address);
    const seq = this.arrived(event.topic);
    if (group === undefined || this.holds(group)) return;
    void this.send(
      group,
      { topic: event.topic, source: event.source, data: event.data, from: this.o.instanceId, hops: 0 },
      { attempt: 0, waited: 0, seq },
    );
  }

  private arrived(topic: string): number {
    const n = (this.arrivals.get(topic) ?? 0) + 1;
    this.arrivals.set(topic, n);
    return n;
  }

  private async send(group: string, event: ForwardedEvent, r: Retry): Promise<void> {
    if (this.stopped) return;
    if (this.arrivals.get(event.topic) !== r.seq) {
      this.o.logger.debug({ topic: event.topic }, 'event superseded by a newer one before it was delivered');
      return;
    }
    const owner = ownerOf(group, this.members);
    if (owner === undefined || event.hops >= MAX_HOPS || r.waited >= TAKE_WAIT_ROUNDS) {
      this.o.logger.warn({ topic: event.topic, owner }, 'event dropped: no instance owns its component');
      return;
    }
    const next = { ...event, hops: event.hops + 1 };
    if (owner === this.o.instanceId) {
      // This instance is about to take the lease: try again once it had a round. Waiting is
      // not a hop (it would drop the event during a handoff, which lasts up to a lease).
      setTimeout(() => this.receive(event, { waited: r.waited + 1, seq: r.seq }), Math.floor(this.ttl / 3));
      return;
    }
    try {
      await this.o.backend.forward(owner, next);
      this.forwarded?.inc({ direction: 'sent' });
      this.o.logger.debug({ topic: event.topic, to: owner }, 'event forwarded to the owner');
    } catch (error) {
      this.failed(error);
      if (r.attempt >= FORWARD_ATTEMPTS) {
        this.o.logger.error(
          { topic: event.topic, to: owner, err: errorMessage(error) },
          'event dropped: could not be forwarded',
        );
        return;
      }
      // The backend is failing over (an etcd election, a reconnect): try again, to whoever owns it then.
      this.o.logger.warn(
        { topic: event.topic, to: owner, err: errorMessage(error), attempt: r.attempt },
        'event could not be forwarded yet',
      );
      setTimeout(
        () => void this.send(group, event, { ...r, attempt: r.attempt + 1 }),
        Math.floor(this.ttl / 3) * (r.attempt + 1),
      );
    }
  }

  /** `wait`: set when the event already waited here for this instance to take its lease. */
  private receive(event: ForwardedEvent, wait?: { waited: number; seq: number }): void {
    const seq = wait?.seq ?? this.arrived(event.topic);
    if (wait && this.arrivals.get(event.topic) !== seq) return;
    const address = event.topic.slice(0, event.topic.lastIndexOf('.'));
    const group = this.groupOf(address);
    if (group === undefined) return;
    if (!this.holds(group)) {
      void this.send(group, event, { attempt: 0, waited: wait?.waited ?? 0, seq });
      return;
    }
    this.forwarded?.inc({ direction: 'received' });
    this.reinjecting = true;
    try {
      this.view_.bus.emit(event.topic, event.source, event.data);
    } finally {
      this.reinjecting = false;
    }
  }

  /** For GET /api/cluster and `waymond cluster status`. */
  async view(): Promise<ClusterView> {
    // Without the backend: what this instance last knew (members) and holds, marked unhealthy.
    const [members, leases] = await Promise.all([this.o.backend.members(), this.o.backend.leases()]).catch(
      (error): [MemberInfo[], LeaseView[]] => {
        this.failed(error);
        return [
          this.members.map((id) => ({ id, since: 0 })),
          [...this.held].map(([key, h]) => ({
            key,
            holder: this.o.instanceId,
            token: h.lease.token,
            expiresInMs: null,
          })),
        ];
      },
    );
    const componentsOf = (group: string) => [...this.groups].filter(([, g]) => g === group).map(([address]) => address);
    const problem = this.problem();
    return {
      instance: this.o.instanceId,
      backend: this.o.backend.name,
      lease_ttl_ms: this.ttl,
      healthy: problem === undefined,
      ...(problem ? { problem } : {}),
      members: members.map((m) => ({
        ...m,
        owns: leases.filter((l) => l.holder === m.id).flatMap((l) => componentsOf(l.key)),
      })),
      leases: leases.map((l) => ({ ...l, components: componentsOf(l.key) })),
      local: [...this.localGroups].flatMap(componentsOf),
    };
  }

  /** Stops the loop and leaves: every lease released, so the others take over at once. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    for (const group of [...this.held.keys()]) this.lose(group);
    await this.o.backend.close();
  }
}
