/**
 * The simulation loop: a real Engine (the config's own connectors, policies and
 * reconcilers) on a VirtualClock, with every leaf scaler replaced by a SimFleet and the
 * input trigger fed from the trace. Time moves tick by tick:
 *
 *   for each tick t:  workload & fleets catch up to t → record a sample
 *                     → emit the demand on trigger.<id>.output
 *                     → clock.advance(tick): the connector and the reconciler run at t,
 *                       then any timers (resync, retries, policy windows) inside the tick
 *
 * The workload models do work per event, and the clock only fires the engine's own timers,
 * so a day at 1 s ticks is 86,400 loop turns, not 86 million milliseconds.
 */
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { ComponentConfig, LoadedConfig } from '../config/load.js';
import { VirtualClock } from '../core/clock.js';
import { type ComponentFactory, Engine } from '../core/engine.js';
import { buildGraph, graphEdges } from '../core/graph.js';
import type { Trigger } from '../core/types.js';
import { triggerEvents } from './emit.js';
import { SimFleet } from './fleet.js';
import { FluidQueue } from './fluid.js';
import { JobQueue } from './jobs.js';
import { MemoryStore } from './memory-store.js';
import type { Trace } from './trace.js';
import type { Workload } from './workload.js';

export interface SimOptions {
  startupMs: number;
  /** Default: the input trigger's `interval`/`every`, else 15s. */
  tickMs?: number;
  /** `trigger.<id>` or `<id>`; default: the only trigger whose output reaches a scaler. */
  input?: string;
  /** `max`: as fast as possible; a number: that many times real time. */
  speed: 'max' | number;
  /** Metric traces: work per second one ready member serves. */
  memberCapacity: number;
  logger: Logger;
}

export interface SeriesPoint {
  /** Milliseconds from the trace's origin. */
  t: number;
  /** Demand in members' worth (queue depth for jobs; value / member capacity for metrics). */
  demand: number;
  desired: number;
  current: number;
  ready: number;
}

export interface SimResult {
  config: string;
  input: string;
  tickMs: number;
  endMs: number;
  scalers: string[];
  memberSeconds: number;
  waitP50S: number;
  waitP95S: number;
  waitMaxS: number;
  overCapacityS: number;
  actions: number;
  /** Jobs (or units of work) that arrived in the simulated span. */
  arrived: number;
  interrupted: number;
  errors: number;
  firstError?: string;
  series: SeriesPoint[];
}

export class SimulationError extends Error {
  override name = 'SimulationError';
}

export const DEFAULT_TICK_MS = 15_000;

/** Triggers whose events reach a scaler through connectors (and triggers fired by them). */
export function triggersReachingScalers(components: readonly ComponentConfig[]): string[] {
  const next = new Map<string, string[]>();
  for (const [from, to] of graphEdges([...components])) next.set(from, [...(next.get(from) ?? []), to]);
  const reaches = (start: string): boolean => {
    const seen = new Set<string>([start]);
    const stack = [start];
    while (stack.length > 0) {
      for (const to of next.get(stack.pop() as string) ?? []) {
        if (to.startsWith('scaler.')) return true;
        if (!seen.has(to)) {
          seen.add(to);
          stack.push(to);
        }
      }
    }
    return false;
  };
  return components.filter((c) => c.kind === 'trigger' && reaches(c.address)).map((c) => c.address);
}

/** The trigger the trace feeds: the one asked for, else the only candidate. Errors say what to pass. */
export function chooseInput(components: readonly ComponentConfig[], requested?: string): ComponentConfig {
  const triggers = components.filter((c) => c.kind === 'trigger');
  if (requested !== undefined) {
    const address = requested.startsWith('trigger.') ? requested : `trigger.${requested}`;
    const found = triggers.find((c) => c.address === address);
    if (!found)
      throw new SimulationError(
        `--input ${requested}: no such trigger; the config has: ${triggers.map((c) => c.address).join(', ') || 'no triggers'}`,
      );
    return found;
  }
  const candidates = triggersReachingScalers(components);
  if (candidates.length === 1) return triggers.find((c) => c.address === candidates[0]) as ComponentConfig;
  if (candidates.length === 0)
    throw new SimulationError('no trigger reaches a scaler through a connector; nothing for the trace to feed');
  throw new SimulationError(
    `several triggers reach a scaler (${candidates.join(', ')}); choose the one the trace feeds with --input`,
  );
}

/** The input trigger's own period (`interval` of pollers, `every` of interval), else 15s. */
export function defaultTickMs(trigger: ComponentConfig): number {
  for (const key of ['interval', 'every']) {
    const value = trigger.config[key];
    if (typeof value === 'number' && value > 0) return value;
  }
  return DEFAULT_TICK_MS;
}

export function createWorkload(trace: Trace, memberCapacity: number): Workload {
  return trace.kind === 'jobs' ? new JobQueue(trace.jobs) : new FluidQueue(trace.points, memberCapacity);
}

/** Replays `trace` through one loaded config. */
export async function simulateConfig(config: LoadedConfig, trace: Trace, options: SimOptions): Promise<SimResult> {
  const input = chooseInput(config.components, options.input);
  const tickMs = options.tickMs ?? defaultTickMs(input);
  if (!(tickMs > 0)) throw new SimulationError(`the tick must be longer than 0 ms, found ${tickMs}`);
  const leaves = config.components.filter((c) => c.kind === 'scaler' && c.type !== 'cascade');
  if (leaves.length === 0) throw new SimulationError('the config has no scaler to simulate');

  const clock = new VirtualClock(trace.originMs);
  const workload = createWorkload(trace, options.memberCapacity);
  const fleets = new Map<string, SimFleet>();
  // The simulator assembles its own engine: state in memory, no HTTP server, no metrics,
  // and its own factory: triggers that never run (the trace feeds their outputs) and a
  // simulated fleet in place of every leaf scaler. Connectors and cascades are the config's.
  const create: ComponentFactory = (component, ctx) => {
    if (component.kind === 'trigger') return idleTrigger;
    if (component.kind === 'connector' || component.definition.type === 'cascade')
      return component.definition.create(component.config, ctx);
    const drain = component.config.drain;
    const fleet = new SimFleet({
      id: component.id,
      clock,
      originMs: trace.originMs,
      startupMs: options.startupMs,
      workload,
      ...(typeof drain === 'string' ? { drainCommand: drain } : {}),
    });
    fleets.set(component.address, fleet);
    return fleet;
  };
  const configDir = dirname(config.file);
  const engine = new Engine(buildGraph(config.components), {
    logger: options.logger,
    clock,
    store: new MemoryStore(),
    configDir,
    stateDir: join(configDir, '.waymond'),
    create,
  });

  let errors = 0;
  let firstError: string | undefined;
  engine.bus.subscribeAll((event) => {
    if (!event.topic.endsWith('.error')) return;
    errors++;
    firstError ??= `${event.source}: ${String(event.data.error ?? JSON.stringify(event.data))}`;
  });

  await engine.start();
  const series: SeriesPoint[] = [];
  const sample = (t: number) => {
    let desired = 0;
    let current = 0;
    let ready = 0;
    for (const [address, fleet] of fleets) {
      desired += engine.scaler(address)?.lastDesired() ?? 0;
      current += fleet.count;
      ready += fleet.ready;
    }
    series.push({ t, demand: workload.demandMembers(), desired, current, ready });
  };

  let memberSeconds = 0;
  try {
    for (let t = 0; t < trace.endMs; t += tickMs) {
      for (const fleet of fleets.values()) fleet.sync();
      workload.advanceTo(t);
      sample(t);
      for (const data of triggerEvents(input, workload))
        engine.bus.emit(`${input.address}.output`, input.address, data);
      await clock.advance(Math.min(tickMs, trace.endMs - t));
      if (options.speed !== 'max') await realSleep(tickMs / options.speed);
    }
    for (const fleet of fleets.values()) fleet.sync();
    workload.advanceTo(trace.endMs);
    sample(trace.endMs);
    // Read before stop: on_shutdown = "stop" would empty the fleets.
    memberSeconds = [...fleets.values()].reduce((sum, f) => sum + f.memberSeconds(), 0);
  } finally {
    await engine.stop();
  }

  const summary = workload.summary();
  return {
    config: config.file,
    input: input.address,
    tickMs,
    endMs: trace.endMs,
    scalers: [...fleets.keys()],
    memberSeconds,
    waitP50S: summary.waitP50Ms / 1000,
    waitP95S: summary.waitP95Ms / 1000,
    waitMaxS: summary.waitMaxMs / 1000,
    overCapacityS: summary.overCapacityMs / 1000,
    actions: [...fleets.values()].reduce((sum, f) => sum + f.actions, 0),
    arrived: summary.arrived,
    interrupted: summary.interrupted,
    errors,
    ...(firstError ? { firstError } : {}),
    series,
  };
}

/** The trace stands in for every trigger: none polls, listens or fires on its own. */
const idleTrigger: Trigger = { start() {}, stop() {}, fire() {} };

function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
