import { collectDefaultMetrics, Registry } from 'prom-client';
import type { MetricsSink } from '../core/metrics.js';

type Labels = Record<string, string>;

/** One sample as prom-client's registry renders it. */
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/**
 * A counter or gauge kept as plain numbers, one per label set, and turned into samples only
 * when /metrics is scraped. An update is a Map lookup and an assignment: the reconciler and
 * the bus call these thousands of times a second, a scrape comes every 15 s or so.
 * Registered on a prom-client Registry (which calls `get()` to render), so Node's process
 * metrics and the dashboard's signal metrics share the same /metrics.
 */
export class PlainMetric {
  private readonly series = new Map<string, Sample>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The sample under `key` (a string naming the label values), made by `labels()` on first use. */
  private sample(key: string, labels: () => Labels): Sample {
    let sample = this.series.get(key);
    if (!sample) {
      sample = { labels: labels(), value: 0 };
      this.series.set(key, sample);
    }
    return sample;
  }

  set(key: string, labels: () => Labels, value: number): void {
    this.sample(key, labels).value = value;
  }

  inc(key = '', labels: () => Labels = () => ({}), by = 1): void {
    this.sample(key, labels).value += by;
  }

  /** One label set's value (undefined before its first update). */
  value(key = ''): number | undefined {
    return this.series.get(key)?.value;
  }

  /** What prom-client's registry renders (and what `registry.getMetricsAsJSON()` lists). */
  get(): { name: string; help: string; type: string; values: Sample[]; aggregator: 'sum' } {
    const values = [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value }));
    if (this.type === 'counter' && values.length === 0 && this.labelNames.length === 0)
      values.push({ labels: {}, value: 0 });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    this.series.clear();
  }
}

/**
 * One histogram for every scaler (no `scaler` label): 10,000 scalers would otherwise be
 * 140,000 lines of buckets on /metrics. Kept as plain counts per bucket.
 */
export class PlainHistogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  readonly type = 'histogram';
  readonly labelNames: readonly string[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    registry: Registry,
  ) {
    this.counts = buckets.map(() => 0);
    registry.registerMetric(this as never);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const i = this.buckets.findIndex((upper) => value <= upper);
    if (i >= 0) this.counts[i] = (this.counts[i] as number) + 1;
  }

  get(): { name: string; help: string; type: string; values: Sample[]; aggregator: 'sum' } {
    const values: Sample[] = [];
    let cumulative = 0;
    this.buckets.forEach((upper, i) => {
      cumulative += this.counts[i] as number;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: String(upper) }, value: cumulative });
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** `scaler` alone for a scaler with one target (key ''), so its series are what they were. */
const scalerLabels = (scaler: string, target: string) => (): Labels => (target ? { scaler, target } : { scaler });

/**
 * The daemon's Prometheus metrics, on a registry of its own (so tests can run several
 * engines). Per-target series carry `target`; a scaler with one target (key '') has no
 * `target` label, which Prometheus reads as target="", so its series are what they were.
 * Series keys join label values with '|' (`scaler.asg|queue-a`): addresses hold no '|'.
 */
export class Metrics implements MetricsSink {
  readonly registry = new Registry();
  readonly desired = new PlainMetric(
    'waymond_scaler_desired_replicas',
    'Desired count the reconciler last set for a target of a scaler (after min/max).',
    'gauge',
    ['scaler', 'target'],
    this.registry,
  );
  readonly current = new PlainMetric(
    'waymond_scaler_current_replicas',
    'Count the scaler last observed on a target (starting members included).',
    'gauge',
    ['scaler', 'target'],
    this.registry,
  );
  readonly reconciles = new PlainMetric(
    'waymond_scaler_reconciles_total',
    'Reconciles per scaler, target and outcome (ok, error, dry_run, rejected); a resync that found nothing to do is not counted.',
    'counter',
    ['scaler', 'target', 'outcome'],
    this.registry,
  );
  readonly events = new PlainMetric(
    'waymond_events_total',
    "Events published on the bus, by topic (a scaler's `<address>.result`, one per decision, is counted by waymond_decisions_total instead).",
    'counter',
    ['topic'],
    this.registry,
  );
  readonly componentErrors = new PlainMetric(
    'waymond_component_errors_total',
    'Errors reported by a component (error events and failing handlers).',
    'counter',
    ['address'],
    this.registry,
  );
  readonly storeErrors = new PlainMetric(
    'waymond_store_errors_total',
    'Writes to the state store that failed (disk full, read-only, file gone); scaling goes on and the state is written again once it can be.',
    'counter',
    [],
    this.registry,
  );
  readonly fdExhausted = new PlainMetric(
    'waymond_fd_exhausted_total',
    'Checks (every 5 s) that found waymond at 90 % or more of its open file limit; connections and member starts then fail with EMFILE.',
    'counter',
    [],
    this.registry,
  );
  readonly memberRestarts = new PlainMetric(
    'waymond_member_restarts_total',
    'Members a scaler restarted after they exited on their own (crash loops show here first).',
    'counter',
    ['scaler'],
    this.registry,
  );
  readonly reconcileDuration = new PlainHistogram(
    'waymond_reconcile_duration_seconds',
    'Time of one observe -> plan -> apply, over every scaler (a resync that found nothing to do is not timed).',
    [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
    this.registry,
  );

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'waymond_' });
  }

  setCurrent(scaler: string, target: string, count: number): void {
    this.current.set(`${scaler}|${target}`, scalerLabels(scaler, target), count);
  }
  setDesired(scaler: string, target: string, desired: number): void {
    this.desired.set(`${scaler}|${target}`, scalerLabels(scaler, target), desired);
  }
  countReconcile(scaler: string, target: string, outcome: string): void {
    this.reconciles.inc(
      `${scaler}|${target}|${outcome}`,
      (): Labels => (target ? { scaler, target, outcome } : { scaler, outcome }),
    );
  }
  reconcileSeconds(_scaler: string, seconds: number): void {
    this.reconcileDuration.observe(seconds);
  }
  countEvent(topic: string): void {
    this.events.inc(topic, () => ({ topic }));
  }
  countComponentError(address: string): void {
    this.componentErrors.inc(address, () => ({ address }));
  }
  countMemberRestarts(scaler: string, count: number): void {
    this.memberRestarts.inc(scaler, () => ({ scaler }), count);
  }

  /** The text exposition format, as served on /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
