/**
 * What `waymond simulate` puts beside each config's own figures: the zero-wait bound of the
 * trace (src/sim/bound.ts: the least agent time that serves all work on arrival, when the
 * arrivals are known in advance) and a replay of the HPA default on the same trace, so a
 * config's cost reads as "× the bound" and "× what the HPA's defaults would have spent".
 *
 * The HPA default is the policy most people start from: one member per job in the system
 * (`per_replica = 1` on waiting + running; for a metric trace one member per
 * `--member-capacity` of the value), the HPA's default behaviour (5-minute scale-down
 * window, its rate limits, tolerance 0.1), read every 15 s (the HPA's sync period), and no
 * busy check: Kubernetes deletes pods whether they are working or not. It has its own
 * generic trigger (the simulator feeds it `{ value: waiting + running }`), so it is the
 * same whatever trigger type the compared config reads.
 */
import { dirname, join } from 'node:path';
import { loadConfigText } from '../config/load.js';
import type { Registry } from '../registry.js';
import { zeroWaitBoundSeconds } from './bound.js';
import { type SimOptions, type SimResult, SimulationError, simulateConfig } from './run.js';
import type { Trace } from './trace.js';

/** The HPA's --horizontal-pod-autoscaler-sync-period default. */
export const HPA_SYNC_MS = 15_000;
const HPA_MAX = 1000;

export interface Baseline {
  /** Agent-seconds of the zero-wait bound (start-up included). */
  boundMemberSeconds: number;
  /** The HPA default's replay; absent with `--no-baseline`. */
  hpa?: SimResult;
}

/** A config's cost and wait against the baseline: cost ratios, and the HPA's p95 beside its own. */
export interface Comparison {
  boundMemberSeconds: number;
  /** cost / bound (≥ 1 for a config that serves every job without waiting). */
  vsBound: number;
  hpaMemberSeconds?: number;
  hpaWaitP95S?: number;
  /** cost / HPA default's cost: 0.64 = 36 % fewer agent-seconds. */
  vsHpa?: number;
}

/** The HPA default as a config (see the top of this file). */
export function hpaDefaultConfigText(trace: Trace, memberCapacity: number): string {
  return `# The HPA default, replayed by waymond simulate beside the configs it compares.
[[trigger]]
type = "interval"
id = "demand"
every = "${HPA_SYNC_MS / 1000}s"

[[connect]]
type = "policy"
id = "hpa_default"
from = "trigger.demand"
to = "scaler.replicas"
metric = "value"
strategy = "per_replica"
per_replica = ${trace.kind === 'jobs' ? 1 : memberCapacity}
max = ${HPA_MAX}

[[scaler]]
type = "process"
id = "replicas"
command = "replica"
max = ${HPA_MAX}
`;
}

/** The zero-wait bound, and the HPA default replayed on `trace` (`hpa = false`: the bound only). */
export async function baselineFor(
  trace: Trace,
  registry: Registry,
  options: Pick<SimOptions, 'startupMs' | 'memberCapacity' | 'logger'> & { nextTo: string; hpa: boolean },
): Promise<Baseline> {
  const boundMemberSeconds = zeroWaitBoundSeconds(trace, options.startupMs, options.memberCapacity);
  if (!options.hpa) return { boundMemberSeconds };
  // Beside the compared config, so nothing resolves against the working directory.
  const file = join(dirname(options.nextTo), 'hpa-default.toml');
  const loaded = loadConfigText(hpaDefaultConfigText(trace, options.memberCapacity), file, registry, {});
  if (!loaded.ok)
    throw new SimulationError(
      `the HPA default config does not load: ${loaded.issues.map((i) => i.message).join('; ')}`,
    );
  const hpa = await simulateConfig(loaded.config, trace, {
    startupMs: options.startupMs,
    tickMs: HPA_SYNC_MS,
    speed: 'max',
    memberCapacity: options.memberCapacity,
    logger: options.logger,
  });
  return { boundMemberSeconds, hpa: { ...hpa, config: 'HPA default' } };
}

/** Ratios of `result` to the baseline. A bound of 0 (an empty trace) gives a ratio of 1 for a cost of 0. */
export function compare(result: SimResult, baseline: Baseline): Comparison {
  const ratio = (a: number, b: number) => (b > 0 ? a / b : a === 0 ? 1 : Number.POSITIVE_INFINITY);
  return {
    boundMemberSeconds: baseline.boundMemberSeconds,
    vsBound: ratio(result.memberSeconds, baseline.boundMemberSeconds),
    ...(baseline.hpa
      ? {
          hpaMemberSeconds: baseline.hpa.memberSeconds,
          hpaWaitP95S: baseline.hpa.waitP95S,
          vsHpa: ratio(result.memberSeconds, baseline.hpa.memberSeconds),
        }
      : {}),
  };
}
