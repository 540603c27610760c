/**
 * Start-up of the installed CLI (the bundle `npm run build` makes, dist/bundle/waymond.js,
 * which package.json's `bin` runs) against the floor of a bare `node -e 0`:
 *
 * - `waymond validate examples/quickstart.toml`, whole process: target ≤ 3× the floor;
 * - `waymond run -c examples/quickstart.toml` until /readyz answers 200: target ≤ 4×.
 *
 * The bundle is rebuilt first (`npm run build:cli`, about a second) so the figures are of
 * the sources as they are. Runs are interleaved (floor, validate, run, floor, ...) so a
 * machine whose load changes affects all three alike; each prints the median and the best
 * (min) wall time, and the process's own CPU (user + system, all threads, read at its exit
 * by a one-line preload that every measured command gets, the floor included). The ratios
 * are of medians and of mins: on a loaded machine the min is the better estimate of the cost.
 *
 *   npx tsx bench/startup.bench.ts [runs]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'dist', 'bundle', 'waymond.js');
const QUICKSTART = join(ROOT, 'examples', 'quickstart.toml');
const RUNS = Number(process.argv[2] ?? 15);
/** Prints the process's CPU time (µs) on stderr as it exits: the same few bytes for every command. */
const CPU_AT_EXIT = `data:text/javascript,process.on('exit',()=>{const u=process.cpuUsage();process.stderr.write('\\ncpu-us='+(u.user+u.system)+'\\n')})`;

interface Sample {
  wallMs: number;
  cpuMs: number;
}

function cpuOf(stderr: string): number {
  const match = /cpu-us=(\d+)/.exec(stderr);
  if (!match) throw new Error(`no CPU figure in the child's stderr: ${stderr.slice(-400)}`);
  return Number(match[1]) / 1000;
}

function timed(args: string[]): Sample {
  const started = performance.now();
  const child = spawnSync(process.execPath, ['--import', CPU_AT_EXIT, ...args], { cwd: ROOT, encoding: 'utf8' });
  const wallMs = performance.now() - started;
  if (child.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${child.stdout}${child.stderr}`);
  return { wallMs, cpuMs: cpuOf(child.stderr) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function readyzStatus(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

/** `waymond run` on the quickstart until /readyz is 200 (polled every 2 ms), then SIGTERM and its exit. */
async function runUntilReady(): Promise<Sample> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'waymond-startup-bench-'));
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [BIN, 'run', '-c', QUICKSTART, '--http-port', String(port), '--state', join(state, 'state.db')],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, WAYMOND_LOG_FORMAT: 'json' } },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const deadline = started + 30_000;
    for (;;) {
      if ((await readyzStatus(port)) === 200) break;
      if (child.exitCode !== null) throw new Error(`waymond run exited early: ${stderr}`);
      if (performance.now() > deadline) throw new Error(`waymond run: no /readyz 200 within 30 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const wallMs = performance.now() - started;
    // CPU up to ready is not separable from the polling; the wall time is the figure.
    return { wallMs, cpuMs: Number.NaN };
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(state, { recursive: true, force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const min = (values: number[]) => Math.min(...values);

function line(label: string, samples: Sample[], floor?: Sample[], target?: number): string {
  const wall = samples.map((s) => s.wallMs);
  const cpu = samples.map((s) => s.cpuMs).filter((c) => !Number.isNaN(c));
  let text = `${label}: ${median(wall).toFixed(0)} ms wall (min ${min(wall).toFixed(0)})`;
  if (cpu.length > 0) text += `, ${median(cpu).toFixed(0)} ms CPU`;
  if (floor) {
    const floorWall = floor.map((s) => s.wallMs);
    const floorCpu = floor.map((s) => s.cpuMs);
    text += ` — ${(median(wall) / median(floorWall)).toFixed(1)}× the floor's median, ${(min(wall) / min(floorWall)).toFixed(1)}× its min`;
    if (cpu.length > 0) text += `, ${(median(cpu) / median(floorCpu)).toFixed(1)}× its CPU`;
    if (target !== undefined) text += ` (target ≤ ${target}×)`;
  }
  return text;
}

const build = spawnSync('npm', ['run', '--silent', 'build:cli'], { cwd: ROOT, encoding: 'utf8' });
if (build.status !== 0) throw new Error(`npm run build:cli failed: ${build.stdout}${build.stderr}`);

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load average ${loadavg()[0]?.toFixed(1)} at the start`,
);
const floor: Sample[] = [];
const validate: Sample[] = [];
const run: Sample[] = [];
for (let i = 0; i < RUNS; i++) {
  floor.push(timed(['-e', '0']));
  validate.push(timed([BIN, 'validate', QUICKSTART]));
  run.push(await runUntilReady());
}
console.log(line('floor: node -e 0', floor));
console.log(line('waymond validate examples/quickstart.toml (dist/bundle, whole process)', validate, floor, 3));
console.log(line('waymond run -c examples/quickstart.toml → /readyz 200', run, floor, 4));
console.log(`${RUNS} interleaved runs each; load average ${loadavg()[0]?.toFixed(1)} at the end`);
