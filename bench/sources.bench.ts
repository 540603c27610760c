/**
 * Polling sources against the real services on this machine: the cost of one poll of each
 * (fired through the engine, poll to output event), and how many sources one daemon keeps
 * polling at a 1 s interval on this machine's 2 cores (Redis lists, each its own trigger).
 */
import { cpus } from 'node:os';
import amqp from 'amqplib';
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

async function manySources(n: number): Promise<void> {
  const parts: string[] = ['[[scaler]]\ntype = "noop"\nid = "sink"\n'];
  for (let i = 0; i < n; i++) {
    parts.push(
      `[[trigger]]\nid = "q${i}"\ntype = "redis"\nurl = "redis://127.0.0.1:6379"\nmode = "list"\nkey = "${queue}_${i}"\ninterval = "1s"\n`,
    );
  }
  const engine = engineFor(parts.join('\n'));
  let outputs = 0;
  let errors = 0;
  engine.bus.subscribeAll((e) => {
    if (e.topic.endsWith('.output')) outputs++;
    else if (e.topic.endsWith('.error')) errors++;
  });
  await engine.start();
  await new Promise((r) => setTimeout(r, 3000)); // connections open, first polls done
  outputs = 0;
  errors = 0;
  const cpuBefore = process.cpuUsage();
  const seconds = 10;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpuBefore);
  const share = (cpu.user + cpu.system) / 1e6 / seconds;
  const kept = outputs / (n * seconds);
  console.log(
    `${String(n).padStart(5)} redis sources at 1 s: ${(kept * 100).toFixed(0)}% of polls done on time, ${errors} errors, daemon CPU ${(share * 100).toFixed(0)}% of one core`,
  );
  await engine.stop();
}

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
if (!process.argv[2]) await pollCost();
const counts = process.argv[2] ? process.argv.slice(2).map(Number) : [100, 500, 1000, 2000, 4000];
for (const n of counts) await manySources(n);
