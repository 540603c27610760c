/**
 * Polling sources against the real services on this machine: the cost of one poll of each
 * (fired through the engine, poll to output event), and 1,000 / 8,000 / 20,000 Redis
 * sources at 1 s (each its own trigger): the share polled on time (target >= 99 %), the
 * connections Redis sees (target <= 4: they share one per server) and the daemon's CPU.
 * `tsx bench/sources.bench.ts 20000` runs only that count (no per-poll costs).
 */
import { cpus, loadavg } from 'node:os';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfigText } from '../src/config/load.js';
import type { Engine } from '../src/core/engine.js';
import { createDaemon } from '../src/daemon.js';
import { defaultRegistry } from '../src/registry.js';

const logger = pino({ level: 'silent' });
const registry = defaultRegistry();

function engineFor(text: string): Engine {
  const result = loadConfigText(text, '/tmp/bench/sources.toml', registry, process.env);
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
  return createDaemon(result.config, { logger, statePath: ':memory:', http: false }).engine;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const queue = `waymond_bench_${process.pid}`;
const sources: Record<string, string> = {
  redis: `type = "redis"\nurl = "redis://127.0.0.1:6379"\nmode = "list"\nkey = "${queue}"`,
  postgres: `type = "postgres"\ndsn = "postgres://postgres@127.0.0.1:5432/test"\nquery = "SELECT 7"`,
  mysql: `type = "mysql"\ndsn = "mysql://root@127.0.0.1:3306/test"\nquery = "SELECT 7"`,
  rabbitmq: `type = "rabbitmq"\nurl = "amqp://guest:guest@127.0.0.1:5672"\nqueue = "${queue}"`,
  system: `type = "system"\nmetric = "load1"`,
};

async function pollCost(): Promise<void> {
  const connection = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { autoDelete: true });
  for (const [name, body] of Object.entries(sources)) {
    // A cron trigger that never fires in the run feeds the source, so it only polls when fired.
    const engine = engineFor(
      `[[trigger]]\nid = "clock"\ntype = "cron"\nexpression = "0 0 1 1 *"\n[[trigger]]\nid = "src"\n${body}\n` +
        '[[connect]]\ntype = "direct"\nid = "tick"\nfrom = "trigger.clock"\nto = "trigger.src"\n',
    );
    await engine.start();
    const times: number[] = [];
    let errors = 0;
    const rounds = name === 'system' ? 20 : 300;
    for (let i = 0; i < rounds + 10; i++) {
      let done!: () => void;
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      const offOut = engine.bus.subscribe('trigger.src.output', 'bench', () => done());
      const offErr = engine.bus.subscribe('trigger.src.error', 'bench', () => {
        errors++;
        done();
      });
      const started = performance.now();
      await engine.fire('trigger.src', {});
      await finished;
      if (i >= 10) times.push(performance.now() - started);
      offOut();
      offErr();
      // The system trigger measures CPU over at least 1 s between polls.
      if (name === 'system') await new Promise((r) => setTimeout(r, 1000));
    }
    times.sort((a, b) => a - b);
    console.log(
      `${name.padEnd(9)} one poll: p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms${errors ? ` (${errors} errors)` : ''}`,
    );
    await engine.stop();
  }
  await channel.close();
  await connection.close();
}

/** Redis connections this process holds, as Redis itself lists them (CLIENT LIST). */
async function ourRedisConnections(admin: Redis): Promise<number> {
  const name = ` name=waymond:${process.pid} `;
  return String(await admin.client('LIST'))
    .split('\n')
    .filter((line) => line.includes(name)).length;
}

const ON_TIME_TARGET = 0.99;
const CONNECTIONS_TARGET = 4;

/**
 * `n` Redis list sources at 1 s, each its own trigger, for `TICKS` ticks after a warm-up.
 * The bench joins the pollers' shared 1 s tick (first, so it sees each tick as it fires). A
 * source is on time for a tick when one of its polls emitted its output before the next
 * tick: a poll slower than the interval, or skipped because the previous one was still
 * running, leaves a hole. The ratio is the share of (source, tick) filled; the delay is
 * from the tick to each output.
 */
const TICKS = 10;

/**
 * The floor of one tick: a bare ioredis client (auto-pipelined, nothing else loaded in the
 * path) sending the same `n` LLEN at once, until the last reply; median of 5 rounds.
 */
async function rawTick(n: number): Promise<number> {
  const client = new Redis('redis://127.0.0.1:6379', { enableAutoPipelining: true });
  const times: number[] = [];
  try {
    await client.ping();
    for (let round = 0; round < 6; round++) {
      const started = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => client.llen(`${queue}_${i}`)));
      if (round > 0) times.push(performance.now() - started);
    }
  } finally {
    await client.quit();
  }
  times.sort((a, b) => a - b);
  return percentile(times, 50);
}

async function manySources(n: number, admin: Redis): Promise<void> {
  const parts: string[] = ['[[scaler]]\ntype = "noop"\nid = "sink"\n'];
  for (let i = 0; i < n; i++) {
    parts.push(
      `[[trigger]]\nid = "q${i}"\ntype = "redis"\nurl = "redis://127.0.0.1:6379"\nmode = "list"\nkey = "${queue}_${i}"\ninterval = "1s"\n`,
    );
  }
  const engine = engineFor(parts.join('\n'));
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) index.set(`trigger.q${i}`, i);
  /** Tick times (engine clock) once measuring; the last one closes the window. */
  const ticks: number[] = [];
  let measuring = false;
  let windowEnd!: () => void;
  const ended = new Promise<void>((resolve) => {
    windowEnd = resolve;
  });
  // Joined before the triggers start, so it runs first in each tick of their bucket.
  const tick = engine.clock.every(1000, () => {
    if (!measuring) return;
    ticks.push(engine.clock.now());
    if (ticks.length > TICKS) windowEnd();
  });
  const cells = new Uint8Array(n * TICKS);
  let errors = 0;
  const delays: number[] = [];
  engine.bus.subscribeAll((e) => {
    const k = ticks.length - 1;
    if (k < 0 || k >= TICKS) return;
    if (e.topic.endsWith('.error')) {
      errors++;
      return;
    }
    if (!e.topic.endsWith('.output')) return;
    const i = index.get(e.source);
    if (i === undefined) return;
    cells[i * TICKS + k] = 1;
    delays.push(e.time - (ticks[k] as number));
  });
  await engine.start();
  await new Promise((r) => setTimeout(r, 3000)); // connection open, first polls done
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, (TICKS * 1000) / 2));
  const connections = await ourRedisConnections(admin);
  await ended;
  const cpu = process.cpuUsage(cpuBefore);
  const share = (cpu.user + cpu.system) / 1e3 / (performance.now() - wallBefore);
  tick.cancel();
  let filled = 0;
  for (const cell of cells) filled += cell;
  const onTime = filled / cells.length;
  const perTick = Array.from({ length: TICKS }, (_, k) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += cells[i * TICKS + k] as number;
    return `${Math.round((sum / n) * 100)}`;
  });
  delays.sort((a, b) => a - b);
  console.log(
    `${String(n).padStart(6)} redis sources at 1 s: on time ${(onTime * 100).toFixed(2)} % (target >= ${ON_TIME_TARGET * 100} %, ratio ${(onTime / ON_TIME_TARGET).toFixed(3)}), ` +
      `connections ${connections} (target <= ${CONNECTIONS_TARGET}, ratio ${(connections / CONNECTIONS_TARGET).toFixed(2)}; one per source would be ${n}), ` +
      `daemon CPU ${(share * 100).toFixed(1)} % of one core, ${errors} errors`,
  );
  const floor = await rawTick(n);
  console.log(
    `         floor: a bare ioredis client sending the same ${n} LLEN at once answers in ${floor.toFixed(0)} ms (median); tick to output p50 is ${(percentile(delays, 50) / floor).toFixed(2)}x that`,
  );
  console.log(
    `         tick to output: p50 ${percentile(delays, 50).toFixed(0)} ms, p99 ${percentile(delays, 99).toFixed(0)} ms, max ${(delays.at(-1) ?? 0).toFixed(0)} ms; % on time per tick: ${perTick.join(' ')}`,
  );
  await engine.stop();
  // Redis forgets a closed client within a moment; give it up to 2 s.
  let closed = await ourRedisConnections(admin);
  for (let i = 0; i < 20 && closed > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    closed = await ourRedisConnections(admin);
  }
  if (closed !== 0) console.log(`  after stop: ${closed} connections still open (expected 0)`);
}

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load ${loadavg()[0]?.toFixed(2)}`,
);
if (!process.argv[2]) await pollCost();
const counts = process.argv[2] ? process.argv.slice(2).map(Number) : [1_000, 8_000, 20_000];
const admin = new Redis('redis://127.0.0.1:6379');
for (const n of counts) await manySources(n, admin);
await admin.quit();
