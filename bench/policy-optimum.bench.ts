/**
 * `strategy = "jobs"` against the HPA default on real job traces: for each trace and agent
 * start-up (30 s, 90 s), replay the HPA default (one agent per job in the system, the HPA's
 * default behaviour: 5 m scale-down window, no busy check, as Kubernetes deletes pods),
 * then a jobs policy whose `target_wait` is that replay's p95 wait (busy-aware scale-in).
 * Prints a Markdown table: the zero-wait bound (src/sim/bound.ts: the least agent time that
 * serves every job on arrival, arrivals known), cost (agent-seconds, start-up included) and
 * its ratio to the bound, p95 wait, the change in cost, and jobs stopped mid-run.
 *
 *   npx tsx bench/policy-optimum.bench.ts [trace.csv ...]
 *
 * Traces: examples/traces/ci-jobs.csv (synthetic CI day) and the Azure LLM inference traces
 * in test/fixtures/traces (Azure Public Dataset, "Azure LLM inference trace 2023", Patel et
 * al., "Splitwise", ISCA 2024, CC-BY 4.0). The NASA trace there is a metric trace (requests
 * per second), not a job queue, so it has no jobs policy to compare.
 */
import pino from 'pino';
import { loadConfigText } from '../src/config/load.js';
import { defaultRegistry } from '../src/registry.js';
import { zeroWaitBoundMs } from '../src/sim/bound.js';
import { type SimResult, simulateConfig } from '../src/sim/run.js';
import { loadTraceFile, type Trace } from '../src/sim/trace.js';

const traces =
  process.argv.length > 2
    ? process.argv.slice(2)
    : [
        'examples/traces/ci-jobs.csv',
        'test/fixtures/traces/azure-llm-code.csv',
        'test/fixtures/traces/azure-llm-conv.csv',
      ];
const STARTUPS_S = [30, 90];
const MAX = 1000;

const trigger = `[[trigger]]
type = "buildkite"
id = "queue"
token_env = "BENCH_TOKEN"
interval = "15s"
`;
const agents = (busyAware: boolean) => `
[[scaler]]
type = "process"
id = "agents"
command = "agent"
max = ${MAX}
${busyAware ? 'busy_check = "busy"' : ''}
`;

const hpaDefault = `${trigger}
[[connect]]
type = "policy"
id = "hpa"
from = "trigger.queue"
to = "scaler.agents"
strategy = "per_replica"
per_replica = 1
max = ${MAX}
${agents(false)}`;

const jobsPolicy = (startupS: number, targetWaitS: number, jobDurationS?: number) => `${trigger}
[[connect]]
type = "policy"
id = "jobs"
from = "trigger.queue"
to = "scaler.agents"
metric = "scheduled_jobs_count"
include = "running_jobs_count"
strategy = "jobs"
target_wait = "${targetWaitS}s"
startup = "${startupS}s"
${jobDurationS === undefined ? '' : `job_duration = "${jobDurationS}s"`}
max = ${MAX}
${agents(true)}`;

async function replay(text: string, name: string, trace: Trace, startupS: number): Promise<SimResult> {
  const loaded = loadConfigText(text, `/bench/${name}.toml`, defaultRegistry(), { BENCH_TOKEN: 'x' });
  if (!loaded.ok) throw new Error(`${name}: ${JSON.stringify(loaded.issues)}`);
  return simulateConfig(loaded.config, trace, {
    startupMs: startupS * 1000,
    speed: 'max',
    memberCapacity: 1,
    logger: pino({ level: 'silent' }),
  });
}

/** The trace's mean job duration in whole seconds (at least 1), as `job_duration` takes it. */
function meanDurationS(trace: Trace): number {
  if (trace.kind !== 'jobs' || trace.jobs.length === 0) return 1;
  return Math.max(1, Math.round(trace.jobs.reduce((sum, j) => sum + j.duration, 0) / trace.jobs.length / 1000));
}

const pct = (a: number, b: number) => `${a <= b ? '−' : '+'}${Math.abs(Math.round((1 - a / b) * 100))} %`;
const k = (n: number) => Math.round(n).toLocaleString('en');

console.log(
  '| trace | start-up | zero-wait bound, agent-s | HPA default: agent-s (× bound), p95 wait, stopped | jobs, target_wait = HPA p95: agent-s (× bound), p95 wait, stopped | vs HPA | jobs + job_duration (trace mean): agent-s (× bound), p95 wait | vs HPA |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
const started = performance.now();
for (const file of traces) {
  const trace = loadTraceFile(file, { kind: 'jobs' });
  for (const startupS of STARTUPS_S) {
    const hpa = await replay(hpaDefault, 'hpa', trace, startupS);
    const targetS = Math.max(1, Math.ceil(hpa.waitP95S));
    const jobs = await replay(jobsPolicy(startupS, targetS), 'jobs', trace, startupS);
    const known = await replay(jobsPolicy(startupS, targetS, meanDurationS(trace)), 'known', trace, startupS);
    const bound = trace.kind === 'jobs' ? zeroWaitBoundMs(trace.jobs, startupS * 1000) / 1000 : Number.NaN;
    const x = (r: SimResult) => `${k(r.memberSeconds)} (${(r.memberSeconds / bound).toFixed(2)})`;
    console.log(
      `| ${file.split('/').at(-1)} | ${startupS} s | ${k(bound)} | ${x(hpa)}, ${hpa.waitP95S.toFixed(0)} s, ${hpa.interrupted} | ${x(jobs)}, ${jobs.waitP95S.toFixed(0)} s, ${jobs.interrupted} | ${pct(jobs.memberSeconds, hpa.memberSeconds)} | ${x(known)}, ${known.waitP95S.toFixed(0)} s | ${pct(known.memberSeconds, hpa.memberSeconds)} |`,
    );
  }
}
console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
