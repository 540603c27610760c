/**
 * How fast `waymond simulate` replays a day: the first 24 hours of the NASA per-second
 * workload (86,400 points) at a 1 s tick through a real engine (JSONata transform,
 * reconciler) against a simulated fleet. Prints the time to read the trace (streamed from
 * the .tbz2: the decompressor stops after the first day of 58), the time to simulate, and
 * their sum against the target (< 1 s), and trace points per second.
 *
 *   npx tsx bench/simulate.bench.ts [trace] [config]
 *
 * Trace: NASA-HTTP logs (NASA Kennedy Space Center web server, July-August 1995) from the
 * Internet Traffic Archive, as processed into per-second counts by the
 * reconfigurable-ml-pipeline/web-service-datasets project.
 */
import pino from 'pino';
import { loadConfigFile } from '../src/config/load.js';
import { defaultRegistry } from '../src/registry.js';
import { simulateConfig } from '../src/sim/run.js';
import { readTraceFile } from '../src/sim/trace.js';

const traceFile =
  process.argv[2] ?? new URL('../../shared/traces/nasa-http-1995-per-second.tbz2', import.meta.url).pathname;
const configFile = process.argv[3] ?? 'test/sim/fixtures/metric-per-request.toml';

const loaded = loadConfigFile(configFile, defaultRegistry());
if (!loaded.ok) throw new Error(`${configFile} does not load`);
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};
let cpuStarted = process.cpuUsage();
let started = performance.now();
const read = { chars: 0 };
const trace = await readTraceFile(traceFile, { maxDurationMs: 86_400_000 }, read);
const loadMs = performance.now() - started;
const loadCpuS = cpuSeconds(cpuStarted);
const points = trace.kind === 'metric' ? trace.points.length : trace.jobs.length;

cpuStarted = process.cpuUsage();
started = performance.now();
const result = await simulateConfig(loaded.config, trace, {
  startupMs: 60_000,
  tickMs: 1000,
  speed: 'max',
  memberCapacity: 2,
  logger: pino({ level: 'silent' }),
});
const simMs = performance.now() - started;
const simCpuS = cpuSeconds(cpuStarted);

console.log(
  `trace: ${traceFile} (${points} points over ${(trace.endMs / 3_600_000).toFixed(1)} h, read in ${loadMs.toFixed(0)} ms, ${(read.chars / 1024).toFixed(0)} KiB of text read)`,
);
console.log(
  `simulated ${result.series.length - 1} ticks of 1 s in ${(simMs / 1000).toFixed(2)} s (${simCpuS.toFixed(2)} s CPU)`,
);
// On a loaded machine the wall time measures the neighbours; the CPU time is this process's own.
const wallS = (loadMs + simMs) / 1000;
const cpuS = loadCpuS + simCpuS;
console.log(
  `24 h at 1 s, read + simulate: ${wallS.toFixed(2)} s wall, ${cpuS.toFixed(2)} s CPU (target < 1 s: ${wallS.toFixed(2)}× the target by wall, ${cpuS.toFixed(2)}× by CPU)`,
);
console.log(`${Math.round(points / (simMs / 1000))} trace points per second`);
console.log(
  `member-seconds ${Math.round(result.memberSeconds)}, wait p95 ${result.waitP95S.toFixed(2)} s, over capacity ${result.overCapacityS} s, ${result.actions} actions, ${result.errors} errors`,
);
if (trace.attribution) console.log(`Trace: ${trace.attribution}`);
