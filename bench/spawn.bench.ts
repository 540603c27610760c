/**
 * Webhook -> 10 `sleep` members, against a bare spawn floor. The daemon runs in this process
 * (a real config: http_endpoint -> direct -> process scaler, SQLite state in a temp dir,
 * the real HTTP server); one round is POST {"desired": 10} until the reconcile's result
 * event (10 members started and recorded), then back to 0. The floor is a bare `node`
 * (nothing loaded) spawning the same 10 `sleep` processes in parallel, detached, until the
 * last one's 'spawn' event: what starting 10 processes costs at best on this machine. Its
 * rounds alternate with waymond's, so both see the same load on a shared machine.
 * Target: waymond <= 1.5x the floor (medians). Also prints the daemon's CPU per scale-up
 * and its RSS (the image a fork from the daemon would copy).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { loadConfigText } from '../src/config/load.js';
import { createDaemon } from '../src/daemon.js';
import { defaultRegistry } from '../src/registry.js';
import { useSpawner } from '../src/scalers/spawner.js';

const MEMBERS = 10;
const silent = pino({ level: 'silent' });
const ROUNDS = Number(process.env.WAYMOND_SPAWN_ROUNDS ?? 30);
const TARGET_RATIO = 1.5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function p90(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] as number;
}

/**
 * The floor: a bare node (nothing loaded) that, for each line it reads, spawns MEMBERS
 * `sleep`s in parallel, detached, and answers the ms until the last one's 'spawn' event.
 * Kept running, so its rounds interleave with waymond's and see the same machine load.
 */
const FLOOR_SCRIPT = `
const { spawn } = require('node:child_process');
const n = ${MEMBERS};
require('node:readline').createInterface({ input: process.stdin }).on('line', async () => {
  const started = performance.now();
  const children = [];
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH } });
    children.push(child);
    child.once('spawn', resolve);
    child.once('error', reject);
  })));
  const ms = performance.now() - started;
  for (const c of children) { try { process.kill(-c.pid, 'SIGKILL'); } catch {} }
  process.stdout.write(ms + '\\n');
});`;

function startFloor(): { round(): Promise<number>; stop(): void } {
  const child = spawn(process.execPath, ['-e', FLOOR_SCRIPT], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH },
  });
  const waiting: ((ms: number) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
    waiting.shift()?.(Number(line)),
  );
  return {
    round: () =>
      new Promise<number>((resolve) => {
        waiting.push(resolve);
        child.stdin?.write('go\n');
      }),
    stop: () => child.kill(),
  };
}

/**
 * For reference, what the process scaler did before the spawner: the same 10 parallel
 * spawns from this process, the daemon's own image (wall ms and this process's CPU ms).
 */
async function fromDaemonImage(): Promise<{ ms: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const children = await Promise.all(
    Array.from(
      { length: MEMBERS },
      () =>
        new Promise<number>((resolve, reject) => {
          const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH } });
          child.once('spawn', () => resolve(child.pid as number));
          child.once('error', reject);
          child.unref();
        }),
    ),
  );
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  for (const pid of children) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

/** Live group leaders carrying WAYMOND_SCALER=<id>. */
function members(id: string): number {
  const needle = `WAYMOND_SCALER=${id}`;
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || Number(pgrp) !== Number(entry)) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(needle)) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

interface Figures {
  floor: number[];
  waymond: number[];
  cpuMs: number[];
  direct: number[];
  directCpuMs: number[];
  rssMiB: number;
  spawnerRssMiB: number;
}

/** Resident size of a process, from /proc/<pid>/status (MiB). */
function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

async function run(): Promise<Figures> {
  const floor = startFloor();
  const dir = mkdtempSync(join(tmpdir(), 'waymond-spawn-bench-'));
  const id = `spawnbench_${process.pid}`;
  const text = `[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "set_fleet"
from = "trigger.set"
to = "scaler.${id}"

[[scaler]]
type = "process"
id = "${id}"
command = "sleep"
args = ["60"]
max = ${MEMBERS}
stop_timeout = "2s"
resync_interval = "1h"
`;
  const loaded = loadConfigText(text, join(dir, 'waymond.toml'), defaultRegistry(), process.env);
  if (!loaded.ok) throw new Error(loaded.issues.map((i) => i.message).join('\n'));
  const daemon = createDaemon(loaded.config, {
    logger: silent,
    statePath: join(dir, 'state.db'),
    http: { host: '127.0.0.1', port: 0 },
  });
  const { engine } = daemon;
  await engine.start();
  const url = engine.url as string;
  const figures: Figures = {
    floor: [],
    waymond: [],
    cpuMs: [],
    direct: [],
    directCpuMs: [],
    rssMiB: 0,
    spawnerRssMiB: 0,
  };
  const post = async (desired: number) => {
    const res = await fetch(`${url}/hooks/set`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ desired }),
    });
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
  };
  const resultFor = (desired: number) =>
    new Promise<void>((resolve) => {
      const off = engine.bus.subscribe(`scaler.${id}.result`, 'bench', (event) => {
        if (event.data.desired === desired) {
          off();
          resolve();
        }
      });
    });
  try {
    await post(0); // a first request warms the HTTP path
    // Each round: the floor, waymond, then the same spawns from this process, back to back.
    for (let round = 0; round < ROUNDS + 3; round++) {
      const floorMs = await floor.round();
      const done = resultFor(MEMBERS);
      const cpu = process.cpuUsage();
      const started = performance.now();
      await post(MEMBERS);
      await done;
      const elapsed = performance.now() - started;
      const used = process.cpuUsage(cpu);
      if (members(id) !== MEMBERS) throw new Error(`expected ${MEMBERS} live members, found ${members(id)}`);
      figures.rssMiB = Math.max(figures.rssMiB, process.memoryUsage().rss / 2 ** 20);
      const look = useSpawner(silent);
      figures.spawnerRssMiB = Math.max(figures.spawnerRssMiB, rssOf(look.pid));
      look.release();
      const gone = resultFor(0);
      await post(0);
      await gone;
      const deadline = Date.now() + 10_000;
      while (members(id) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const direct = await fromDaemonImage();
      if (round < 3) continue; // warm-up
      figures.floor.push(floorMs);
      figures.waymond.push(elapsed);
      figures.cpuMs.push((used.user + used.system) / 1000);
      figures.direct.push(direct.ms);
      figures.directCpuMs.push(direct.cpuMs);
    }
  } finally {
    floor.stop();
    await engine.stop();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load ${loadavg()[0]?.toFixed(2)}`,
);
const f = await run();
const floorMs = median(f.floor);
const oursMs = median(f.waymond);
const ratios = f.waymond.map((ms, i) => ms / (f.floor[i] as number));
console.log(
  `bare spawn floor (a bare node starting ${MEMBERS} sleep in parallel): median ${floorMs.toFixed(1)} ms, p90 ${p90(f.floor).toFixed(1)} ms (${ROUNDS} rounds, interleaved with waymond's)`,
);
console.log(
  `reference, the same ${MEMBERS} spawns forked from the daemon's own image (no spawner): median ${median(f.direct).toFixed(1)} ms, p90 ${p90(f.direct).toFixed(1)} ms, daemon CPU ${median(f.directCpuMs).toFixed(1)} ms`,
);
console.log(
  `webhook -> ${MEMBERS} sleep members: median ${oursMs.toFixed(1)} ms, p90 ${p90(f.waymond).toFixed(1)} ms; ratio ${(oursMs / floorMs).toFixed(2)}x the floor (median of per-round ratios ${median(ratios).toFixed(2)}x; target <= ${TARGET_RATIO}x); daemon CPU ${median(f.cpuMs).toFixed(1)} ms per scale-up; daemon RSS ${f.rssMiB.toFixed(0)} MiB, the spawner's ${f.spawnerRssMiB.toFixed(0)} MiB`,
);
