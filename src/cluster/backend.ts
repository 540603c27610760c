/**
 * What the ownership loop needs of a coordination engine; PostgreSQL (postgres.ts) and etcd
 * (etcd.ts) implement it. Expiry is decided by the backend's own clock (PostgreSQL's now(),
 * etcd's lease TTL), never by comparing the instances' clocks.
 */
import type { EventData } from '../core/types.js';

/** A live instance, as it registered itself. */
export interface MemberInfo {
  id: string;
  /** Its admin URL (for `waymond cluster status` and people), when it serves HTTP. */
  url?: string;
  /** When it joined (ms since the epoch, its own clock). */
  since: number;
}

/** A lease this instance holds; `token` increases every time the key changes holder. */
export interface Lease {
  key: string;
  token: string;
}

/** A lease as the backend has it, for the status view. */
export interface LeaseView {
  key: string;
  holder: string;
  token: string;
  /** Milliseconds until it expires unless renewed (null when the backend cannot say). */
  expiresInMs: number | null;
}

/** What the last fenced apply of a target recorded: where a new owner starts from. */
export interface AppliedRecord {
  target: string;
  desired: number;
  data: EventData;
  instance: string;
  token: string;
  time: number;
}

/** An event handed from the instance that received it to the owner of its component. */
export interface ForwardedEvent {
  topic: string;
  source: string;
  data: EventData;
  from: string;
  hops: number;
}

export interface LeaseBackend {
  readonly name: 'postgres' | 'etcd';
  /** Connects, creates what it needs, and registers this instance as live. */
  join(member: MemberInfo): Promise<void>;
  /**
   * Proves this instance is alive and renews every lease it holds, in one round trip where
   * the backend allows. Resolves to the keys still held (a lease lost meanwhile is missing).
   */
  heartbeat(held: readonly Lease[]): Promise<Set<string>>;
  members(): Promise<MemberInfo[]>;
  /** Takes the lease of `key` if nobody holds it (or it expired); null when another holds it. */
  acquire(key: string): Promise<Lease | null>;
  /** Lets go of a lease (another instance may take it at once). */
  release(lease: Lease): Promise<void>;
  /**
   * Atomically: still the holder of `lease` with its token → record the apply of `scaler`
   * (one of the lease's components) and resolve true; otherwise write nothing, resolve false.
   */
  fence(lease: Lease, scaler: string, record: Omit<AppliedRecord, 'instance' | 'token' | 'time'>): Promise<boolean>;
  /** The last fenced applies of a scaler, one per target. */
  applied(scaler: string): Promise<AppliedRecord[]>;
  leases(): Promise<LeaseView[]>;
  /**
   * Hands an event to another instance; `onForward` receives those sent to this one. Events
   * wait in the backend until their instance takes them, so one that lands while its
   * instance is reconnecting is delivered when it is back.
   */
  forward(to: string, event: ForwardedEvent): Promise<void>;
  onForward(handler: (event: ForwardedEvent) => void): void;
  /** Takes the events waiting for instances that are not among `live` (they died), to route them anew. */
  reroute(live: readonly string[]): Promise<ForwardedEvent[]>;
  /** Leaves the cluster: releases every lease and the membership, then disconnects. */
  close(): Promise<void>;
}
