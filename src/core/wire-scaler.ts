/**
 * A scaler's runtime, built the one way the engine and every test build it: the scaler,
 * wrapped for busy-aware scale-in when `busy_check` or `drain` is set (scale-in.ts), behind
 * its Reconciler, and the handle that policies and cascades read it through.
 */
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { MetricsSink } from './metrics.js';
import type { Ownership } from './ownership.js';
import { Reconciler, type ReconcilerSettings } from './reconciler.js';
import { type ScaleInSettings, withScaleIn } from './scale-in.js';
import type { Store } from './store.js';
import type { Address, Bus, Scaler, ScalerHandle } from './types.js';

export interface WireScalerOptions {
  address: Address;
  /** The scaler as its definition created it. */
  scaler: Scaler;
  /** Its parsed config: min/max, resync and retry, busy_check/drain/force_after. */
  settings: ReconcilerSettings & Partial<ScaleInSettings>;
  clock: Clock;
  bus: Bus;
  store: Store;
  logger: Logger;
  dryRun?: boolean;
  metrics?: MetricsSink;
  /** Jitter source of the retry backoff (tests pass a fixed one). */
  random?: () => number;
  /** In a cluster: who holds the scaler's lease. */
  ownership?: Ownership;
}

export interface ScalerRuntime {
  /** The scaler the Reconciler drives (the scale-in wrapper when one is configured). */
  scaler: Scaler;
  /** The scaler as created, for shutdown (stopAll, close). */
  inner: Scaler;
  reconciler: Reconciler;
  handle: ScalerHandle;
}

export function wireScaler(o: WireScalerOptions): ScalerRuntime {
  // Not copied: with 10,000 scalers every per-scaler object shows in RSS. drain_timeout has
  // a schema default, and scale-in reads it only when a drain is configured.
  const settings = o.settings as ReconcilerSettings & ScaleInSettings;
  const scaleIn = withScaleIn(o.scaler, settings, { address: o.address, clock: o.clock, logger: o.logger });
  const reconciler = new Reconciler({
    address: o.address,
    scaler: scaleIn.scaler,
    settings,
    ...(scaleIn.chooseRemovals ? { chooseRemovals: scaleIn.chooseRemovals } : {}),
    clock: o.clock,
    bus: o.bus,
    store: o.store,
    logger: o.logger,
    ...(o.dryRun !== undefined ? { dryRun: o.dryRun } : {}),
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.random ? { random: o.random } : {}),
    ...(o.ownership ? { ownership: o.ownership } : {}),
  });
  return { scaler: scaleIn.scaler, inner: o.scaler, reconciler, handle: scalerHandle(reconciler) };
}

/** What other components see of a scaler: per-target status, and a way to ask for counts. */
export function scalerHandle(r: Reconciler): ScalerHandle {
  return {
    address: r.address,
    min: r.settings.min,
    max: r.settings.max,
    targetOf: (data) => r.targetOf(data),
    targets: () => r.targets(),
    lastObserved: (target) => r.lastObserved(target),
    lastDesired: (target) => r.lastDesired(target),
    request: (desired, data, sourceEventId) =>
      r.request(desired, data, sourceEventId ?? null, (data.reason as string) ?? 'requested'),
    reconcileNow: (desired, data, sourceEventId) =>
      r.reconcileNow(desired, data, sourceEventId ?? null, (data.reason as string) ?? 'requested'),
  };
}
