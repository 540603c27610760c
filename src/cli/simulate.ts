/**
 * `waymond simulate -c FILE [-c FILE2 ...] --trace FILE`: replays a workload trace through
 * each config's own connectors, policies and reconcilers on a virtual clock, against
 * simulated fleets with a start-up delay, and reports cost against service.
 */
import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import type { Logger } from 'pino';
import type { Baseline } from '../sim/compare.js';
import type { SimResult } from '../sim/run.js';
import type { Trace } from '../sim/trace.js';
import { LOG_LEVELS } from './choices.js';

export interface SimulateOptions {
  config: string[];
  trace: string;
  out?: string;
  startup: string;
  speed: string;
  json?: boolean;
  /** False with --no-baseline: no HPA default replay (the bound is still computed). */
  baseline?: boolean;
  input?: string;
  tick?: string;
  duration?: string;
  memberCapacity: string;
  traceKind?: 'jobs' | 'metric';
  tokensPerSecond: string;
  prefillTokensPerSecond: string;
  logLevel: string;
}

/** Commander collector for a repeatable option (`-c a.toml -c b.toml`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function fail(message: string): number {
  process.stderr.write(`error: ${message}\n`);
  return 1;
}

function durationOption(
  parseDuration: (text: string) => number | undefined,
  name: string,
  value: string | undefined,
): number | undefined | Error {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  return ms === undefined ? new Error(`${name}: expected a duration like "90s" or "1m30s", found "${value}"`) : ms;
}

function positiveNumber(name: string, value: string): number | Error {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : new Error(`${name}: expected a number > 0, found "${value}"`);
}

export async function simulateCommand(options: SimulateOptions): Promise<number> {
  // Loaded here, not at the top: main.ts imports this file for the verb's options, and
  // core/duration.ts brings zod.
  const { parseDuration } = await import('../core/duration.js');
  const startup = durationOption(parseDuration, '--startup', options.startup);
  const tick = durationOption(parseDuration, '--tick', options.tick);
  const limit = durationOption(parseDuration, '--duration', options.duration);
  const capacity = positiveNumber('--member-capacity', options.memberCapacity);
  const tps = positiveNumber('--tokens-per-second', options.tokensPerSecond);
  const prefill = positiveNumber('--prefill-tokens-per-second', options.prefillTokensPerSecond);
  const speed = options.speed === 'max' ? 'max' : positiveNumber('--speed', options.speed);
  for (const value of [startup, tick, limit, capacity, tps, prefill, speed])
    if (value instanceof Error) return fail(value.message);
  if (tick === 0) return fail('--tick: must be longer than 0');

  const [{ default: pino }, { loadConfigFile }, { defaultRegistry }, sim, trace_, report, { printIssues }, compare] =
    await Promise.all([
      import('pino'),
      import('../config/load.js'),
      import('../registry.js'),
      import('../sim/run.js'),
      import('../sim/trace.js'),
      import('../sim/report.js'),
      import('./report.js'),
      import('../sim/compare.js'),
    ]);
  const { SimulationError, simulateConfig } = sim;
  const { readTraceFile, TraceError } = trace_;
  const { jsonSummary, summaryTable } = report;

  let trace: Trace;
  try {
    trace = await readTraceFile(options.trace, {
      ...(options.traceKind ? { kind: options.traceKind } : {}),
      tokensPerSecond: tps as number,
      prefillTokensPerSecond: prefill as number,
      ...(limit !== undefined ? { maxDurationMs: limit as number } : {}),
    });
  } catch (error) {
    if (error instanceof TraceError) return fail(error.message);
    throw error;
  }

  // Logs go to stderr so `--json` output stays one object per line on stdout.
  const logger: Logger = pino({ level: options.logLevel, base: undefined }, pino.destination(2));
  const registry = defaultRegistry();
  const results: SimResult[] = [];
  let baseline: Baseline | undefined;
  for (const file of options.config) {
    const loaded = loadConfigFile(file, registry);
    if (!loaded.ok) {
      printIssues(loaded.issues);
      return 1;
    }
    try {
      // The bound and the HPA default once, beside the first config, before any is replayed.
      baseline ??= await compare.baselineFor(trace, registry, {
        startupMs: startup as number,
        memberCapacity: capacity as number,
        logger,
        nextTo: loaded.config.file,
        hpa: options.baseline !== false,
      });
      const result = await simulateConfig(loaded.config, trace, {
        startupMs: startup as number,
        ...(tick !== undefined ? { tickMs: tick as number } : {}),
        ...(options.input !== undefined ? { input: options.input } : {}),
        speed: speed as 'max' | number,
        memberCapacity: capacity as number,
        logger,
      });
      results.push({ ...result, config: file });
      if (options.json) process.stdout.write(`${JSON.stringify(jsonSummary({ ...result, config: file }, baseline))}\n`);
    } catch (error) {
      if (error instanceof SimulationError) return fail(`${file}: ${error.message}`);
      throw error;
    }
  }

  if (!baseline) return 0;
  if (!options.json) process.stdout.write(summaryTable(results, baseline, trace.attribution));
  else if (trace.attribution) process.stderr.write(`Trace: ${trace.attribution}\n`);
  if (options.out) {
    const { htmlReport } = await import('../sim/html.js');
    writeFileSync(
      options.out,
      htmlReport({
        results,
        baseline,
        traceFile: options.trace,
        traceKind: trace.kind,
        originMs: trace.originMs,
        startupMs: startup as number,
        ...(trace.attribution ? { attribution: trace.attribution } : {}),
      }),
    );
    if (!options.json) process.stdout.write(`report written to ${options.out}\n`);
  }
  return 0;
}

/** Adds the verb to the program (main.ts calls this, so the options live beside the command). */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('Replay a workload trace through configs on a virtual clock; report cost against queue wait.')
    .requiredOption('-c, --config <file>', 'config file (repeat to compare several)', collect)
    .requiredOption('--trace <file>', 'CSV time,value or time,duration, Azure LLM CSV, per-second numbers (.tbz2 ok)')
    .option('--out <file>', 'write a self-contained HTML report')
    .option('--startup <duration>', 'time from a member starting to serving', '60s')
    .option('--speed <speed>', '"max", or a multiple of real time', 'max')
    .option('--json', 'one JSON object per config per line')
    .option('--no-baseline', 'do not replay the HPA default beside the configs (the zero-wait bound is still shown)')
    .option('--input <trigger>', 'trigger the trace feeds (default: the only one reaching a scaler)')
    .option('--tick <duration>', "how often demand is emitted (default: the trigger's interval, else 15s)")
    .option('--duration <duration>', 'simulate only the first part of the trace')
    .option('--member-capacity <n>', 'metric traces: work per second one ready member serves', '1')
    .addOption(
      new Option('--trace-kind <kind>', 'headerless two-column CSV: jobs or metric').choices(['jobs', 'metric']),
    )
    .option('--tokens-per-second <n>', 'token traces: generation speed of one member', '50')
    .option('--prefill-tokens-per-second <n>', 'token traces: prompt speed of one member', '2000')
    .addOption(new Option('--log-level <level>', 'log level (stderr)').choices([...LOG_LEVELS]).default('error'))
    .action(async (options: SimulateOptions) => {
      process.exitCode = await simulateCommand(options);
    });
}
