/**
 * One connection per server, shared by every trigger that polls it: 8,000 redis triggers on
 * one URL used to hold 8,001 connections (Redis allows 10,000 by default) and spent half
 * their time in per-poll socket writes. A trigger takes a lease on the connection for its
 * key (server and connection options, secrets included, so two credentials never share),
 * and gives it back when it stops; the last lease closes the connection.
 *
 * The shared value is usually a lazyConnection (connect on first use, reconnect after a
 * loss), so an outage is still seen by every trigger: each poll asks the same lazy
 * connection, and each fails as its own error event.
 */

export interface Lease<T> {
  readonly value: T;
  /** Gives the lease back; the last one closes the shared value. Idempotent. */
  release(): Promise<void>;
}

interface Entry<T> {
  value: T;
  users: number;
}

export class SharedConnections<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly closeValue: (value: T) => Promise<void> | void) {}

  /** A lease on the value for `key`, opening it with `open` when nobody holds one. */
  acquire(key: string, open: () => T): Lease<T> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { value: open(), users: 0 };
      this.entries.set(key, entry);
    }
    entry.users++;
    const held = entry;
    let released = false;
    return {
      value: held.value,
      release: async () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.users > 0) return;
        // Forget it first: a trigger starting while this one closes opens a fresh one.
        if (this.entries.get(key) === held) this.entries.delete(key);
        try {
          await this.closeValue(held.value);
        } catch {
          // A connection that already broke may throw on close; it is gone either way.
        }
      },
    };
  }

  /** How many triggers hold the value for `key` now (for tests and status). */
  users(key: string): number {
    return this.entries.get(key)?.users ?? 0;
  }

  /** How many distinct shared values are open. */
  get size(): number {
    return this.entries.size;
  }
}

/** One trigger's hold on a shared value: taken on first use, given back at stop, taken again after. */
export interface Hold<T> {
  /** The shared value, taking a lease first when this trigger holds none. */
  get(): T;
  /** Gives this trigger's lease back (idempotent); a later `get()` takes a new one. */
  release(): Promise<void>;
}

/**
 * A hold taken lazily: on the first poll, not at create, so a trigger stopped and started
 * again (a reload) gets the connection back.
 */
export function holdShared<T>(shared: SharedConnections<T>, key: string, open: () => T): Hold<T> {
  let lease: Lease<T> | undefined;
  return {
    get() {
      lease ??= shared.acquire(key, open);
      return lease.value;
    },
    async release() {
      const held = lease;
      lease = undefined;
      await held?.release();
    },
  };
}

/**
 * The key of a connection: every option that changes what is opened. JSON of an array, so
 * values cannot run into each other; it stays in this process's memory and is never logged
 * (it may hold a password).
 */
export function connectionKey(...parts: unknown[]): string {
  return JSON.stringify(parts);
}

/**
 * The name waymond gives a shared connection where the server shows one (Redis CLIENT
 * LIST, pg_stat_activity, RabbitMQ's connection_name): the daemon's pid, since one
 * connection now serves many triggers.
 */
export function sharedConnectionName(separator: string): string {
  return `waymond${separator}${process.pid}`;
}
