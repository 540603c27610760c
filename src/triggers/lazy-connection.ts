/**
 * The connection lifecycle every queue trigger (redis, rabbitmq, nats_jetstream) shares:
 * connect on first use (not at start, so a daemon with a broker down still starts and
 * reports it as error events), share a connect already in flight (a poll that timed out may
 * have left one running: never open a second), reconnect on the next use after the
 * connection was lost, and close on stop. A connect that finishes after stop is closed at
 * once rather than leaked.
 */

export interface LazyConnectionOptions<C> {
  /**
   * Opens one connection. Call `lost()` when it drops for good (its 'close' or 'end'
   * event), so the next `get()` opens a fresh one. Throw a message that says where.
   */
  open(lost: () => void): Promise<C>;
  /** Closes one connection; errors are ignored (it may be half dead already). */
  close(connection: C): Promise<void> | void;
  /** Whether a connection kept from before is still usable (checked on every `get()`). */
  isAlive?(connection: C): boolean;
}

export interface LazyConnection<C> {
  /** The open connection, opening it first when there is none. Fails after `close()`. */
  get(): Promise<C>;
  /** Forgets `connection` (a fatal error made it unusable) and closes it; the next `get()` reopens. */
  discard(connection: C): Promise<void>;
  /** Closes the connection, and any connect still in flight when it lands. Idempotent. */
  close(): Promise<void>;
  /** The connection if one is open now (for tests and status). */
  readonly current: C | undefined;
}

export function lazyConnection<C>(options: LazyConnectionOptions<C>): LazyConnection<C> {
  let current: C | undefined;
  let opening: Promise<C> | undefined;
  let closed = false;

  const shut = async (connection: C): Promise<void> => {
    try {
      await options.close(connection);
    } catch {
      // Closing a connection that already broke may throw; it is gone either way.
    }
  };

  const get = (): Promise<C> => {
    if (closed) return Promise.reject(new Error('the trigger is stopped'));
    if (current !== undefined && (options.isAlive?.(current) ?? true)) return Promise.resolve(current);
    current = undefined;
    opening ??= (async () => {
      try {
        let self: C | undefined;
        let lostWhileOpening = false;
        const connection = await options.open(() => {
          if (self === undefined) lostWhileOpening = true;
          else if (current === self) current = undefined;
        });
        self = connection;
        if (closed) {
          await shut(connection);
          throw new Error('the trigger is stopped');
        }
        // Dropped before it was even handed out: never keep a dead connection as the current one.
        if (lostWhileOpening) {
          await shut(connection);
          throw new Error('the connection was lost as soon as it was opened');
        }
        current = connection;
        return connection;
      } finally {
        opening = undefined;
      }
    })();
    return opening;
  };

  return {
    get,
    async discard(connection) {
      if (current === connection) current = undefined;
      await shut(connection);
    },
    async close() {
      closed = true;
      const connection = current;
      current = undefined;
      await opening?.catch(() => undefined);
      if (connection !== undefined) await shut(connection);
    },
    get current() {
      return current;
    },
  };
}
