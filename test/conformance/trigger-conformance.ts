/**
 * The conformance suite every polling trigger passes against its real source (or, for the
 * CI APIs, the documented-API test server). Three promises, the same for all:
 * - a poll emits `{ value }`: a finite number >= 0 (the figure the source holds, when the
 *   case knows it);
 * - a source that fails (unreachable: a closed port) is an error event, every time, and
 *   never an output, so never a zero that would scale a fleet away during an outage;
 * - stop closes what the trigger opened: it polls no more (no timer left on its clock), and,
 *   when it was the last trigger using them (connections are shared per server), its
 *   connections are gone, as the server sees it where the server can tell (Redis
 *   CLIENT LIST, pg_stat_activity, MariaDB's PROCESSLIST, rabbitmqctl) and as this
 *   process's own sockets show (/proc/self/fd against /proc/net/tcp).
 *
 * Every case runs on a VirtualClock, so "polls no more" is exact (no timer pending), not a
 * wait; a real-time wait happens only where a real server must act, by polling a
 * condition with a deadline.
 *
 * Usage: describeTriggerConformance({ name, definition, available, setup }).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/core/clock.js';
import type { Trigger, TriggerDefinition, WaymondEvent } from '../../src/core/types.js';
import { type TestContext, testContext } from '../helpers/context.js';

export interface TriggerSource {
  /** Raw config for a healthy source (as in a TOML table, without type and id). */
  config: Record<string, unknown>;
  /** The value the source holds now, when the case knows it exactly. */
  expectedValue?: number;
  /** The same trigger aimed at a source that fails (a closed port, a missing /proc). */
  failing: Record<string, unknown>;
  /**
   * How the trigger's connections are seen. `port`: this process's TCP sockets to it are
   * counted (all connections to that port made while the trigger runs are its own).
   * `server`: the server's own count of this trigger's connections. Absent with a reason
   * when the trigger keeps none of its own.
   */
  connections:
    | {
        port: number;
        server?: (seen: { address: string; lastValue: number | undefined }) => Promise<number>;
      }
    | { none: string };
  cleanup?(): Promise<void>;
}

export interface TriggerConformanceCase {
  /** The trigger type. */
  name: string;
  definition: TriggerDefinition;
  /** From requireService: false skips the case (outside CI), with the reason already printed. */
  available: boolean;
  setup(): Promise<TriggerSource>;
  /** Virtual time each poll may need (the system trigger measures CPU over 1 s of ctx.clock). */
  pollAdvanceMs?: number;
  /**
   * Before that virtual time passes, wait (polling a condition with a deadline) for the
   * real source to move: the kernel's CPU counters must tick between two samples.
   */
  sourceMoved?(): Promise<void>;
  /** Per-test timeout for a slow real peer. */
  timeoutMs?: number;
}

/** TCP sockets of this process connected to `port` on the loopback (IPv4 or IPv6). */
export function socketsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match) inodes.add(match[1] as string);
    } catch {
      // The fd closed while we looked.
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st ... inode: state 01 is ESTABLISHED.
      const remote = fields[2];
      if (remote?.endsWith(`:${hexPort}`) && fields[3] === '01' && inodes.has(fields[9] as string)) count++;
    }
  }
  return count;
}

const tick: WaymondEvent = { id: 'tick', topic: 'trigger.c.input', source: 'connector.c', time: 0, data: {} };

export function describeTriggerConformance(c: TriggerConformanceCase): void {
  describe.skipIf(!c.available)(`${c.name} trigger conformance`, () => {
    let source: TriggerSource;
    const running: { trigger: Trigger; t: TestContext }[] = [];
    let n = 0;

    /** This process's sockets to the source before any trigger ran (the setup's own). */
    let idleSockets = 0;

    beforeAll(async () => {
      source = await c.setup();
      if ('port' in source.connections) idleSockets = socketsTo(source.connections.port);
    });
    afterAll(async () => {
      for (const { trigger, t } of running.splice(0)) {
        await trigger.stop();
        t.close();
      }
      await source?.cleanup?.();
    });

    /** A fresh trigger (its own id, so no case sees another's connections) on a VirtualClock. */
    async function create(config: Record<string, unknown>, hasInput: boolean) {
      const id = `conf_${c.name}_${++n}`;
      const clock = new VirtualClock();
      const t = testContext('trigger', id, { clock, hasInput });
      const parsed = c.definition.schema.parse({ type: c.name, id, ...config });
      const trigger = await c.definition.create(parsed, t.ctx);
      running.push({ trigger, t });
      return { id, clock, t, trigger };
    }

    async function advancePoll(clock: VirtualClock): Promise<void> {
      if (!c.pollAdvanceMs) return;
      await c.sourceMoved?.();
      await clock.advance(c.pollAdvanceMs);
    }

    /** One poll through the input; returns the events it caused. */
    async function fireOnce(run: Awaited<ReturnType<typeof create>>): Promise<WaymondEvent[]> {
      const before = run.t.events.length;
      const fired = run.trigger.fire?.(tick);
      await advancePoll(run.clock);
      await fired;
      return run.t.events.slice(before);
    }

    const topics = (events: WaymondEvent[]) => events.map((e) => e.topic.replace(/^trigger\.[^.]+\./, ''));

    it(
      'a poll emits { value }: a finite number >= 0, the figure the source holds',
      async () => {
        const run = await create(source.config, true);
        await run.trigger.start();
        const events = await fireOnce(run);
        expect(topics(events).filter((t) => t === 'output').length).toBeGreaterThan(0);
        expect(topics(events)).not.toContain('error');
        for (const event of events) {
          expect(event.source).toBe(`trigger.${run.id}`);
          const value = event.data.value;
          expect(typeof value === 'number' && Number.isFinite(value) && value >= 0, JSON.stringify(event.data)).toBe(
            true,
          );
        }
        if (source.expectedValue !== undefined) expect(events[0]?.data.value).toBe(source.expectedValue);
      },
      c.timeoutMs,
    );

    it(
      'a source that fails is an error event on every poll, never an output (so never a zero)',
      async () => {
        const run = await create(source.failing, true);
        await run.trigger.start();
        const events = [...(await fireOnce(run)), ...(await fireOnce(run))];
        expect(topics(events)).toEqual(['error', 'error']);
        for (const event of events) expect(String(event.data.error)).not.toBe('');
      },
      c.timeoutMs,
    );

    it(
      'stop closes what it opened: no poll is scheduled any more, and its connections are gone',
      async () => {
        // Triggers share one connection per server: stop the earlier cases' triggers, so the
        // one under test is the last user and its stop must close the connection.
        for (const { trigger, t } of running.splice(0)) {
          await trigger.stop();
          t.close();
        }
        const connections = source.connections;
        if ('port' in connections) {
          await expect
            .poll(() => socketsTo(connections.port), { timeout: 10_000, message: 'sockets left by stopped triggers' })
            .toBe(idleSockets);
        }
        const baseline = idleSockets;
        // Nothing connected to its input: it runs on its own interval, polling once at start.
        const run = await create({ ...source.config, interval: '1m' }, false);
        await run.trigger.start();
        await advancePoll(run.clock);
        await expect.poll(() => topics(run.t.events), { timeout: 10_000 }).toContain('output');
        const lastValue = run.t.events.at(-1)?.data.value;
        const seen = { address: `trigger.${run.id}`, lastValue: typeof lastValue === 'number' ? lastValue : undefined };
        if ('port' in connections) {
          expect(socketsTo(connections.port)).toBeGreaterThan(baseline);
          if (connections.server) expect(await connections.server(seen)).toBeGreaterThan(0);
        }

        await run.trigger.stop();
        expect(run.clock.pending(), 'timers left on the clock after stop').toBe(0);
        const outputs = run.t.events.length;
        await run.clock.advance(3_600_000);
        expect(run.t.events.length).toBe(outputs);
        if ('port' in connections) {
          // The socket closes at once; the server may take a moment to forget the session.
          await expect.poll(() => socketsTo(connections.port), { timeout: 10_000 }).toBe(baseline);
          const server = connections.server;
          if (server) await expect.poll(() => server(seen), { timeout: 15_000 }).toBe(0);
        }
      },
      c.timeoutMs,
    );
  });
}
