/**
 * Core engine figures, each printed with its target or floor and the ratio:
 * - events per second through bus -> direct connector -> noop scaler input;
 * - webhook -> apply latency (p50/p99/max) and daemon CPU per request, against a bare
 *   node:http server measured the same way (the floor);
 * - N quiet noop scalers (100 / 1,000 / 10,000 / 100,000 on a 1 s resync, 100,000 on the
 *   default 30 s): CPU % of one core, RSS and /metrics bytes, each in a process of its own.
 *
 * The measurements run on compiled JavaScript (tsc into dist/.bench/, run by plain node),
 * as the daemon ships: under tsx, esbuild's keepNames gives every closure a defined `name`
 * (a dictionary of properties: about 2.5 KiB per noop scaler, a third of its heap).
 *
 * `npx tsx bench/engine.bench.ts` (build, then all); once built,
 * `node dist/.bench/bench/engine.bench.js --scalers N RESYNC_MS` (one child) or `--webhook`.
 * Figures, not asserts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
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
const MiB = 1024 * 1024;

function load(text: string) {
  const result = loadConfigText(text, '/tmp/bench/waymond.toml', registry, {});
  if (!result.ok) throw new Error(JSON.stringify(result.issues.slice(0, 3)));
  return result.config;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** `figure (target ≤ x: ratio)`; a ratio ≤ 1 meets the target. */
function against(figure: number, target: number, unit: string, digits = 2): string {
  return `${figure.toFixed(digits)}${unit} (target ≤ ${target}${unit}: ${(figure / target).toFixed(2)}×)`;
}

function tempState(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'waymond-bench-engine-'));
  return { path: join(dir, 'state.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
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
    `events through bus -> direct -> noop scaler input: ${n.toLocaleString('en')} in ${seconds.toFixed(2)} s = ${Math.round(n / seconds).toLocaleString('en')} events/s`,
  );
  await engine.stop();
}

/**
 * The client, in a worker thread so the main thread's CPU (process.threadCpuUsage) is the
 * server's alone: sequential POSTs of {"desired": i} on one keep-alive socket, each timed
 * until both its response and the main thread's word that `i` was applied have arrived.
 */
const CLIENT = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const applied = new Map();
const early = new Set();
parentPort.on('message', (i) => {
  const resolve = applied.get(i);
  if (resolve) { applied.delete(i); resolve(); } else early.add(i);
});
const post = (i) => new Promise((resolve, reject) => {
  const req = http.request(workerData.url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
    res.resume();
    res.on('end', resolve);
  });
  req.on('error', reject);
  req.end(JSON.stringify({ desired: i }));
});
(async () => {
  const latencies = [];
  for (let i = 1; i <= workerData.warmup + workerData.n; i++) {
    const done = early.delete(i) ? Promise.resolve() : new Promise((r) => applied.set(i, r));
    if (i === workerData.warmup + 1) parentPort.postMessage({ measuring: true });
    const started = performance.now();
    await Promise.all([post(i), done]);
    if (i > workerData.warmup) latencies.push(performance.now() - started);
  }
  agent.destroy();
  parentPort.postMessage({ latencies });
})();
`;

/** One round: each request's latency (ms) and the server thread's CPU over the round. */
interface LatencyRun {
  latencies: number[];
  cpuMs: number;
}

/** Rounds of one side pooled: percentiles over every request, CPU per request. */
function summarise(runs: LatencyRun[]) {
  const sorted = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const cpuMs = runs.reduce((sum, r) => sum + r.cpuMs, 0);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) as number,
    cpuMsPerRequest: cpuMs / sorted.length,
  };
}

/** Drives `url` from a worker; `onApplied` is handed a function the server side calls with each applied `i`. */
function drive(url: string, n: number, warmup: number, onApplied: (notify: (i: number) => void) => void) {
  return new Promise<LatencyRun>((resolve, reject) => {
    const worker = new Worker(CLIENT, { eval: true, workerData: { url, n, warmup } });
    let cpuStart: NodeJS.CpuUsage | undefined;
    onApplied((i) => worker.postMessage(i));
    worker.on('message', (m: { measuring?: true; latencies?: number[] }) => {
      if (m.measuring) cpuStart = process.threadCpuUsage();
      if (!m.latencies) return;
      const cpu = process.threadCpuUsage(cpuStart);
      void worker.terminate();
      resolve({ latencies: m.latencies, cpuMs: (cpu.user + cpu.system) / 1000 });
    });
    worker.on('error', reject);
  });
}

async function bareFloor(n: number, warmup: number): Promise<LatencyRun> {
  let notify: (i: number) => void = () => undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { desired } = JSON.parse(Buffer.concat(chunks).toString()) as { desired: number };
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
      notify(desired);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    return await drive(`http://127.0.0.1:${port}/hooks/hook`, n, warmup, (f) => {
      notify = f;
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

async function waymondWebhook(n: number, warmup: number): Promise<LatencyRun> {
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
  const state = tempState();
  const daemon = createDaemon(config, { logger, statePath: state.path, http: { host: '127.0.0.1', port: 0 } });
  const { engine } = daemon;
  await engine.start();
  try {
    return await drive(`${engine.url}/hooks/hook`, n, warmup, (notify) => {
      engine.bus.subscribe('scaler.s.result', 'bench', (e) => {
        if (typeof e.data.desired === 'number') notify(e.data.desired);
      });
    });
  } finally {
    await daemon.stop();
    state.cleanup();
  }
}

/**
 * The floor and waymond in alternating rounds, so a machine whose load changes (other
 * sessions' test runs) weighs on both sides alike; percentiles over the pooled requests.
 */
async function webhookLatency(): Promise<void> {
  const rounds = 5;
  const n = 1000;
  const warmup = 200;
  const floorRuns: LatencyRun[] = [];
  const ourRuns: LatencyRun[] = [];
  for (let round = 0; round < rounds; round++) {
    floorRuns.push(await bareFloor(n, warmup));
    ourRuns.push(await waymondWebhook(n, warmup));
  }
  const floor = summarise(floorRuns);
  const ours = summarise(ourRuns);
  const line = (r: ReturnType<typeof summarise>) =>
    `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms, server CPU ${(r.cpuMsPerRequest * 1000).toFixed(0)} µs/request`;
  const how = `${rounds} alternating rounds of ${n} sequential POSTs (after ${warmup} warm-up each)`;
  console.log(`bare node:http (floor), ${how}: ${line(floor)}`);
  console.log(`webhook -> direct -> noop apply (SQLite file), same client and rounds: ${line(ours)}`);
  console.log(
    `  p99 ${(ours.p99 / floor.p99).toFixed(2)}× the floor (target ≤ 1.5×), p50 ${(ours.p50 / floor.p50).toFixed(2)}×; CPU ${against(ours.cpuMsPerRequest, 0.15, ' ms', 3)} per request (main thread: HTTP, bus, reconcile, SQLite)`,
  );
}

/**
 * One child: N noop scalers, each asked once for a count, then left alone on a resync of
 * `resyncMs`. After a warm-up of two resync rounds, CPU over `windowMs` (the whole process,
 * GC threads included), RSS, then one scrape of /metrics.
 */
async function scalersChild(n: number, resyncMs: number): Promise<void> {
  const parts: string[] = [];
  for (let i = 0; i < n; i++)
    parts.push(`[[scaler]]\ntype = "noop"\nid = "s${i}"\nresync_interval = "${resyncMs}ms"\nmax = 10\n`);
  const loadStarted = performance.now();
  const config = load(parts.join('\n'));
  const loadedMs = performance.now() - loadStarted;
  const state = tempState();
  const daemon = createDaemon(config, {
    logger,
    statePath: state.path,
    http: { host: '127.0.0.1', port: 0 },
    processMetrics: true,
  });
  const { engine } = daemon;
  await engine.start();
  for (let i = 0; i < n; i++) engine.scaler(`scaler.s${i}`)?.request(1 + (i % 5), {});
  // Two resync rounds, and past the store's first WAL checkpoint (5 s after it opened), which
  // copies the N decisions and states written by the requests above: that is their cost,
  // not the quiet resyncs'.
  await new Promise((r) => setTimeout(r, Math.max(7000, 2 * resyncMs)));
  const windowMs = Math.max(10_000, 2 * resyncMs);
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const cpu = process.cpuUsage(cpuBefore);
  const share = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  const metricsBody = await (await fetch(`${engine.url}/metrics`)).text();
  const metricsBytes = Buffer.byteLength(metricsBody);
  const gzipped = gzipSync(metricsBody).length;
  const label = `${n.toLocaleString('en').padStart(7)} quiet noop scalers, ${resyncMs / 1000} s resync`;
  const cpuTarget = n === 10_000 && resyncMs === 1000 ? 2 : n === 100_000 && resyncMs === 30_000 ? 10 : undefined;
  const cpuText = cpuTarget ? against(share * 100, cpuTarget, '%', 1) : `${(share * 100).toFixed(1)}%`;
  const rssText =
    n === 100_000 && resyncMs === 30_000 ? against(rss / MiB, 1024, ' MiB', 0) : `${(rss / MiB).toFixed(0)} MiB`;
  const metricsText =
    (n === 10_000 ? against(metricsBytes / MiB, 2, ' MiB', 2) : `${(metricsBytes / MiB).toFixed(2)} MiB`) +
    ` (${(gzipped / 1024).toFixed(0)} KiB gzipped)`;
  console.log(
    `${label}: CPU ${cpuText} of one core over ${windowMs / 1000} s; RSS ${rssText} (JS heap ${(heapUsed / MiB).toFixed(0)} MiB); /metrics ${metricsText}; config loaded in ${(loadedMs / 1000).toFixed(1)} s`,
  );
  await daemon.stop();
  state.cleanup();
}

const arg = process.argv[2];
const self = fileURLToPath(import.meta.url);
if (arg === '--scalers') {
  await scalersChild(Number(process.argv[3]), Number(process.argv[4]));
} else if (arg === '--webhook') {
  await webhookLatency();
} else if (self.endsWith('.ts')) {
  // Under tsx: compile, then run every figure on the compiled code.
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'bench/tsconfig.built.json')],
    {
      stdio: 'inherit',
    },
  );
  if (tsc.status !== 0) process.exit(1);
  const built = spawnSync(process.execPath, ['--expose-gc', join(root, 'dist/.bench/bench/engine.bench.js')], {
    stdio: 'inherit',
  });
  process.exit(built.status ?? 1);
} else {
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await throughput();
  await webhookLatency();
  const runs: [number, number][] = [
    [100, 1000],
    [1000, 1000],
    [10_000, 1000],
    [100_000, 1000],
    [100_000, 30_000],
  ];
  for (const [n, resyncMs] of runs) {
    spawnSync(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=4096', self, '--scalers', String(n), String(resyncMs)],
      { stdio: 'inherit' },
    );
  }
}
