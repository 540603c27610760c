/**
 * This host's load, CPU and memory use, read from Linux's /proc. Every poll emits all of
 * them as details; `metric` picks which one is `value`.
 *
 * CPU use is a fraction (0..1) of all CPUs' time spent busy between two samples of
 * /proc/stat. There is no "previous sample" at the first poll, and a single sample only
 * tells the average since boot, which says nothing about now. So when there is no sample
 * at least CPU_WINDOW_MS old, the poll takes one, waits CPU_WINDOW_MS (on ctx.clock) and
 * measures over that window: the first event comes ~1 s late but is a real figure, and
 * every later poll measures the whole time since the previous one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { triggerSchema } from '../core/schema.js';
import type { TriggerDefinition } from '../core/types.js';
import { createPoller, pollingFields } from './poller.js';

const METRICS = ['load1', 'load5', 'load15', 'cpu', 'memory'] as const;

/** Shortest window CPU use is measured over; shorter ones are all rounding (100 ticks/s). */
export const CPU_WINDOW_MS = 1000;

const schema = triggerSchema('system', {
  metric: z
    .enum(METRICS)
    .describe(
      'Which figure is `value`: `load1`/`load5`/`load15` (load average), `cpu` (busy fraction 0..1 of all CPUs since the previous poll; the first poll measures over 1 s) or `memory` (used fraction 0..1, from MemAvailable).',
    ),
  proc_path: z
    .string()
    .default('/proc')
    .describe("Where /proc is mounted; set it to the host's /proc mounted into a container (e.g. `/host/proc`)."),
  ...pollingFields,
});

export interface LoadAverage {
  load1: number;
  load5: number;
  load15: number;
}

export interface CpuSample {
  /** Ticks spent idle or waiting for I/O, over all CPUs. */
  idle: number;
  /** All ticks, over all CPUs. */
  total: number;
  cpuCount: number;
}

export interface MemoryInfo {
  totalBytes: number;
  availableBytes: number;
}

export function parseLoadavg(text: string): LoadAverage {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if ([a, b, c].some((n) => n === undefined || !Number.isFinite(n))) {
    throw new Error(`unexpected loadavg format: ${JSON.stringify(text.slice(0, 60))}`);
  }
  return { load1: a as number, load5: b as number, load15: c as number };
}

export function parseProcStat(text: string): CpuSample {
  const lines = text.split('\n');
  const all = lines.find((l) => /^cpu\s/.test(l));
  if (!all) throw new Error('no aggregate "cpu" line in stat');
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
  // already counted in user and nice, so only the first eight fields add up to the total.
  const fields = all.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) {
    throw new Error(`unexpected cpu line in stat: ${JSON.stringify(all.slice(0, 80))}`);
  }
  const idle = (fields[3] as number) + (fields[4] ?? 0);
  const total = fields.reduce((sum, n) => sum + n, 0);
  const cpuCount = lines.filter((l) => /^cpu\d+\s/.test(l)).length;
  return { idle, total, cpuCount };
}

/** Busy fraction of CPU time between two samples of /proc/stat. */
export function cpuBusyFraction(previous: CpuSample, current: CpuSample): number {
  const total = current.total - previous.total;
  const idle = current.idle - previous.idle;
  if (total <= 0 || idle < 0) throw new Error('no CPU time passed between the two samples of stat');
  return Math.min(1, Math.max(0, (total - idle) / total));
}

export function parseMeminfo(text: string): MemoryInfo {
  const kib = (key: string): number | undefined => {
    const match = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const totalBytes = kib('MemTotal');
  const availableBytes = kib('MemAvailable');
  if (totalBytes === undefined || totalBytes === 0) throw new Error('no MemTotal in meminfo');
  // Linux 3.14+ estimates MemAvailable (free + reclaimable cache); "free" alone would call
  // a host full whose memory is mostly page cache.
  if (availableBytes === undefined) throw new Error('no MemAvailable in meminfo (Linux 3.14 or later needed)');
  return { totalBytes, availableBytes };
}

export function memoryUsedFraction(info: MemoryInfo): number {
  return Math.min(1, Math.max(0, 1 - info.availableBytes / info.totalBytes));
}

export const system: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'system',
  summary: "This host's load average, CPU use or memory use (from /proc, Linux).",
  schema,
  acceptsInput: true,
  example: `[[trigger]]
type = "system"
id = "this_host_cpu"
metric = "cpu"
interval = "10s"`,
  create(config, ctx) {
    // Synchronous reads: /proc files are generated in memory, so this never waits on a
    // disk, and it keeps each sample at the instant the poll asked for it.
    const read = (name: string): string => {
      try {
        return readFileSync(join(config.proc_path, name), 'utf8');
      } catch (error) {
        throw new Error(
          `cannot read ${join(config.proc_path, name)} (the system trigger needs Linux /proc): ${(error as Error).message}`,
        );
      }
    };
    let previous: { sample: CpuSample; at: number } | undefined;

    return createPoller(ctx, config, {
      async poll(control) {
        if (!previous || ctx.clock.now() - previous.at < CPU_WINDOW_MS) {
          const baseline = previous ?? { sample: parseProcStat(read('stat')), at: ctx.clock.now() };
          previous = baseline;
          await ctx.clock.sleep(Math.max(0, baseline.at + CPU_WINDOW_MS - ctx.clock.now()), control.signal);
        }
        const sample = parseProcStat(read('stat'));
        const now = ctx.clock.now();
        const window = now - previous.at;
        const cpu = cpuBusyFraction(previous.sample, sample);
        previous = { sample, at: now };
        const load = parseLoadavg(read('loadavg'));
        const memory = parseMeminfo(read('meminfo'));
        const figures = { ...load, cpu, memory: memoryUsedFraction(memory) };
        return {
          value: figures[config.metric],
          metric: config.metric,
          ...figures,
          cpu_window_ms: window,
          cpu_count: sample.cpuCount,
          memory_total_bytes: memory.totalBytes,
          memory_available_bytes: memory.availableBytes,
        };
      },
    });
  },
};
