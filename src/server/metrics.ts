import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricsSink } from '../core/metrics.js';

/**
 * The daemon's Prometheus metrics, on a registry of its own (so tests can run several
 * engines). Per-target series carry `target`; a scaler with one target (key '') has no
 * `target` label, which Prometheus reads as target="", so its series are what they were.
 */
export class Metrics implements MetricsSink {
  readonly registry = new Registry();
  readonly desired = new Gauge({
    name: 'waymond_scaler_desired_replicas',
    help: 'Desired count the reconciler last set for a target of a scaler (after min/max).',
    labelNames: ['scaler', 'target'],
    registers: [this.registry],
  });
  readonly current = new Gauge({
    name: 'waymond_scaler_current_replicas',
    help: 'Count the scaler last observed on a target (starting members included).',
    labelNames: ['scaler', 'target'],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'waymond_scaler_reconciles_total',
    help: 'Reconciles per scaler, target and outcome (ok, error, dry_run, rejected).',
    labelNames: ['scaler', 'target', 'outcome'],
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'waymond_events_total',
    help: 'Events published on the bus, by topic.',
    labelNames: ['topic'],
    registers: [this.registry],
  });
  readonly componentErrors = new Counter({
    name: 'waymond_component_errors_total',
    help: 'Errors reported by a component (error events and failing handlers).',
    labelNames: ['address'],
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'waymond_store_errors_total',
    help: 'Writes to the state store that failed (disk full, read-only, file gone); scaling goes on and the state is written again once it can be.',
    registers: [this.registry],
  });
  readonly fdExhausted = new Counter({
    name: 'waymond_fd_exhausted_total',
    help: 'Checks (every 5 s) that found waymond at 90 % or more of its open file limit; connections and member starts then fail with EMFILE.',
    registers: [this.registry],
  });
  readonly memberRestarts = new Counter({
    name: 'waymond_member_restarts_total',
    help: 'Members a scaler restarted after they exited on their own (crash loops show here first).',
    labelNames: ['scaler'],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'waymond_reconcile_duration_seconds',
    help: 'Time of one observe -> plan -> apply.',
    labelNames: ['scaler'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'waymond_' });
  }

  setCurrent(scaler: string, target: string, count: number): void {
    this.current.set(target ? { scaler, target } : { scaler }, count);
  }
  setDesired(scaler: string, target: string, desired: number): void {
    this.desired.set(target ? { scaler, target } : { scaler }, desired);
  }
  countReconcile(scaler: string, target: string, outcome: string): void {
    this.reconciles.inc(target ? { scaler, target, outcome } : { scaler, outcome });
  }
  reconcileSeconds(scaler: string, seconds: number): void {
    this.reconcileDuration.observe({ scaler }, seconds);
  }
  countEvent(topic: string): void {
    this.events.inc({ topic });
  }
  countComponentError(address: string): void {
    this.componentErrors.inc({ address });
  }
  countMemberRestarts(scaler: string, count: number): void {
    this.memberRestarts.inc({ scaler }, count);
  }

  /** The text exposition format, as served on /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
