import { describe, expect, it } from 'vitest';
import { lazyConnection } from '../../src/triggers/lazy-connection.js';

/** A stand-in peer: each open makes a numbered connection that can be lost or closed. */
function peer() {
  const opened: { n: number; closed: boolean; lose: () => void }[] = [];
  let gate: Promise<void> = Promise.resolve();
  let fail: Error | undefined;
  let loseAtOnce = false;
  const connection = lazyConnection({
    async open(lost) {
      await gate;
      if (fail) throw fail;
      const c = { n: opened.length + 1, closed: false, lose: lost };
      opened.push(c);
      if (loseAtOnce) lost();
      return c;
    },
    close(c) {
      c.closed = true;
    },
    isAlive: (c) => !c.closed,
  });
  return {
    connection,
    opened,
    hold() {
      let release: () => void = () => undefined;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => release();
    },
    failWith(error: Error | undefined) {
      fail = error;
    },
    loseAtOnce(on: boolean) {
      loseAtOnce = on;
    },
  };
}

describe('lazyConnection', () => {
  it('connects on first use, then reuses the connection', async () => {
    const p = peer();
    expect(p.opened).toHaveLength(0);
    const a = await p.connection.get();
    const b = await p.connection.get();
    expect(a).toBe(b);
    expect(p.opened).toHaveLength(1);
  });

  it('shares a connect in flight instead of opening a second', async () => {
    const p = peer();
    const release = p.hold();
    const first = p.connection.get();
    const second = p.connection.get();
    release();
    expect(await first).toBe(await second);
    expect(p.opened).toHaveLength(1);
  });

  it('reopens on the next use after the connection was lost or discarded', async () => {
    const p = peer();
    const a = await p.connection.get();
    a.lose();
    const b = await p.connection.get();
    expect(b.n).toBe(2);
    await p.connection.discard(b);
    expect(b.closed).toBe(true);
    expect((await p.connection.get()).n).toBe(3);
  });

  it('a failed connect is reported to that caller and retried by the next', async () => {
    const p = peer();
    p.failWith(new Error('cannot connect to x: ECONNREFUSED'));
    await expect(p.connection.get()).rejects.toThrow('ECONNREFUSED');
    p.failWith(undefined);
    expect((await p.connection.get()).n).toBe(1);
  });

  it('close closes the connection, refuses later use, and closes a connect that lands after it', async () => {
    const p = peer();
    const a = await p.connection.get();
    await p.connection.close();
    expect(a.closed).toBe(true);
    await expect(p.connection.get()).rejects.toThrow('stopped');

    const q = peer();
    const release = q.hold();
    const late = q.connection.get();
    const closing = q.connection.close();
    release();
    await expect(late).rejects.toThrow('stopped');
    await closing;
    expect(q.opened.map((c) => c.closed)).toEqual([true]);
    expect(q.connection.current).toBeUndefined();
  });

  it('a connection lost while it was being opened is closed and never handed out', async () => {
    const p = peer();
    p.loseAtOnce(true);
    await expect(p.connection.get()).rejects.toThrow('lost as soon as it was opened');
    expect(p.opened[0]?.closed).toBe(true);
    p.loseAtOnce(false);
    expect((await p.connection.get()).n).toBe(2);
  });
});
