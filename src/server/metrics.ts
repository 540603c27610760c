import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The daemon's Prometheus metrics, on a registry of its own (so tests can run several engines). */
export class Metrics {
  readonly registry = new Registry();
  readonly desired = new Gauge({
    name: 'waymond_scaler_desired_replicas',
    help: 'Desired count the reconciler last set for a scaler (after min/max).',
    labelNames: ['scaler'],
    registers: [this.registry],
  });
  readonly current = new Gauge({
    name: 'waymond_scaler_current_replicas',
    help: 'Count the scaler last observed on its target (starting members included).',
    labelNames: ['scaler'],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'waymond_scaler_reconciles_total',
    help: 'Reconciles per scaler and outcome (ok, error, dry_run, rejected).',
    labelNames: ['scaler', 'outcome'],
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
}
