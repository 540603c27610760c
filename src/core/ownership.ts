/**
 * Who may change a scaler when several instances run one config (`[cluster]`). The core
 * only asks; the answer comes from outside (src/cluster: leases on PostgreSQL or etcd).
 * Without an Ownership the engine owns everything, as a single instance does.
 *
 * - `owns(address)` is local and cheap: does this instance hold the lease covering the
 *   component now, by its own clock (a lease it could not renew in time is not held, so an
 *   instance that was paused past its lease answers false the moment it resumes).
 * - `fence(address, record)` proves the lease with the backend right before an apply and, in
 *   the same atomic step, records what is about to be applied (the desired count a new owner
 *   starts from). It resolves to the lease's token, or null when the lease is gone: then the
 *   caller must not apply.
 */
import type { Address, EventData } from './types.js';

/** What an apply is about to do, recorded atomically with the lease check. */
export interface FenceRecord {
  target: string;
  desired: number;
  data: EventData;
}

/** The increasing token of the lease an apply was fenced with ('' for a component under no lease). */
export interface FenceToken {
  token: string;
}

export interface Ownership {
  owns(address: Address): boolean;
  fence(address: Address, record: FenceRecord): Promise<FenceToken | null>;
  /** Called with the components whose ownership changed (gained or lost); returns the unsubscribe. */
  onChange(listener: (address: Address, owned: boolean) => void): () => void;
  /** Why this instance cannot apply anything now (backend lost), for /readyz; undefined when fine. */
  problem(): string | undefined;
}
