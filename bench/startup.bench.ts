/**
 * Startup figures, each in a fresh process (a module loaded once stays loaded): importing the
 * component registry, building and starting an Engine on examples/quickstart.toml without
 * HTTP, and `waymond validate examples/quickstart.toml` end to end. Everything runs under tsx,
 * as `npm start` does; CPU counts tsx compiling the TypeScript it loads.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const QUICKSTART = `${ROOT}examples/quickstart.toml`;
const RUNS = 3;

const mib = (bytes: number) => bytes / 1048576;

/** Printed by a child as one JSON line: what loading cost it. */
interface Sample {
  ms: number;
  cpuMs: number;
  rssMiB: number;
  addedMiB: number;
}

async function measure(work: () => Promise<void>): Promise<Sample> {
  const rssBefore = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const rss = process.memoryUsage().rss;
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, rssMiB: mib(rss), addedMiB: mib(rss - rssBefore) };
}

async function importRegistry(): Promise<void> {
  const { defaultRegistry } = await import('../src/registry.js');
  defaultRegistry();
}

async function startQuickstartEngine(): Promise<void> {
  const { default: pino } = await import('pino');
  const { loadConfigFile } = await import('../src/config/load.js');
  const { createDaemon } = await import('../src/daemon.js');
  const { defaultRegistry } = await import('../src/registry.js');
  const loaded = loadConfigFile(QUICKSTART, defaultRegistry());
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  const engine = createDaemon(loaded.config, {
    logger: pino({ level: 'silent' }),
    statePath: ':memory:',
    http: false,
  }).engine;
  await engine.start();
  // Stopped outside the measurement would leave worker processes behind; stopping is quick.
  await engine.stop();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function runChild(what: string): Sample {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', what], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`${what} child failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) as string) as Sample;
}

function report(label: string, what: string): void {
  const samples = Array.from({ length: RUNS }, () => runChild(what));
  const m = (key: keyof Sample) => median(samples.map((s) => s[key]));
  console.log(
    `${label}: ${m('ms').toFixed(0)} ms wall, ${m('cpuMs').toFixed(0)} ms CPU, RSS ${m('rssMiB').toFixed(0)} MiB (+${m('addedMiB').toFixed(0)} MiB) — median of ${RUNS}`,
  );
}

function reportValidate(): void {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'validate', QUICKSTART], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (child.status !== 0) throw new Error(`validate failed: ${child.stdout}${child.stderr}`);
    times.push(performance.now() - started);
  }
  console.log(
    `waymond validate examples/quickstart.toml (whole process): ${median(times).toFixed(0)} ms — median of ${RUNS}`,
  );
}

if (process.argv[2] === '--child') {
  const what = process.argv[3];
  const sample = await measure(what === 'engine' ? startQuickstartEngine : importRegistry);
  console.log(JSON.stringify(sample));
} else {
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
  report('import the registry (defaultRegistry())', 'registry');
  report('import + build + start + stop an Engine on quickstart.toml, http: false', 'engine');
  reportValidate();
}
