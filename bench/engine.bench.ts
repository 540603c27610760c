/**
 * Core engine figures: events per second through bus -> direct connector -> noop scaler,
 * webhook-to-apply latency, and RSS with 1, 1,000 and 10,000 noop scalers on a 1 s resync.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadConfigText } from '../src/config/load.js';
import type { ComponentFactory } from '../src/core/engine.js';
import { createDaemon } from '../src/daemon.js';
import { defaultRegistry } from '../src/registry.js';

/** Triggers created but never started: the benchmark feeds their outputs itself. */
const withoutTriggers: ComponentFactory = (c, ctx) =>
  c.kind === 'trigger' ? { start() {}, stop() {} } : c.definition.create(c.config, ctx);

const logger = pino({ level: 'silent' });
const registry = defaultRegistry();

function load(text: string) {
  const result = loadConfigText(text, '/tmp/bench/waymond.toml', registry, {});
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.config;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function throughput(): Promise<void> {
  const config = load(`[[trigger]]
type = "interval"
id = "t"
every = "1h"
[[connect]]
type = "direct"
id = "c"
from = "trigger.t"
to = "scaler.s"
[[scaler]]
type = "noop"
id = "s"
max = 1000000
`);
  const engine = createDaemon(config, { logger, statePath: ':memory:', http: false, create: withoutTriggers }).engine;
  await engine.start();
  let received = 0;
  engine.bus.subscribe('scaler.s.input', 'bench', () => {
    received++;
  });
  const n = 200_000;
  const started = performance.now();
  for (let i = 0; i < n; i++) engine.bus.emit('trigger.t.output', 'trigger.t', { desired: i % 50 });
  while (received < n) await new Promise((r) => setImmediate(r));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `events through bus -> direct -> noop scaler input: ${n} in ${seconds.toFixed(2)} s = ${Math.round(n / seconds).toLocaleString('en')} events/s`,
  );
  await engine.stop();
}

async function webhookLatency(): Promise<void> {
  const config = load(`[[trigger]]
type = "http_endpoint"
id = "hook"
[[connect]]
type = "direct"
id = "c"
from = "trigger.hook"
to = "scaler.s"
[[scaler]]
type = "noop"
id = "s"
max = 1000000
`);
  const engine = createDaemon(config, { logger, statePath: ':memory:', http: { host: '127.0.0.1', port: 0 } }).engine;
  await engine.start();
  const url = `${engine.url}/hooks/hook`;
  const latencies: number[] = [];
  const n = 2000;
  for (let i = 1; i <= n; i++) {
    const applied = new Promise<void>((resolve) => {
      const off = engine.bus.subscribe('scaler.s.result', 'bench', (e) => {
        if (e.data.desired === i) {
          off();
          resolve();
        }
      });
    });
    const started = performance.now();
    await fetch(url, { method: 'POST', body: JSON.stringify({ desired: i }) }).then((r) => r.text());
    await applied;
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `webhook request -> scaler apply, ${n} sequential: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${(latencies.at(-1) as number).toFixed(2)} ms`,
  );
  await engine.stop();
}

/** Runs in a child process: N noop scalers on a 1 s resync, each asked for a count, for 10 s. */
async function rssChild(n: number): Promise<void> {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`[[scaler]]\ntype = "noop"\nid = "s${i}"\nresync_interval = "1s"\nmax = 10\n`);
  const config = load(parts.join('\n'));
  const engine = createDaemon(config, { logger, statePath: ':memory:', http: false }).engine;
  const before = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  await engine.start();
  for (let i = 0; i < n; i++) engine.scaler(`scaler.s${i}`)?.request(1 + (i % 5), {});
  await new Promise((r) => setTimeout(r, 10_000));
  (globalThis as { gc?: () => void }).gc?.();
  const rss = process.memoryUsage().rss;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuShare = (cpu.user + cpu.system) / 1e6 / 10;
  console.log(
    `${n.toLocaleString('en').padStart(6)} noop scalers, 1 s resync: RSS ${(rss / 1048576).toFixed(0)} MiB (engine ${((rss - before) / 1048576).toFixed(0)} MiB), CPU ${(cpuShare * 100).toFixed(0)}% of one core`,
  );
  await engine.stop();
}

const arg = process.argv[2];
if (arg === '--rss') {
  await rssChild(Number(process.argv[3]));
} else {
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
  await throughput();
  await webhookLatency();
  const self = fileURLToPath(import.meta.url);
  for (const n of [1, 1000, 10_000]) {
    spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--rss', String(n)], { stdio: 'inherit' });
  }
}
