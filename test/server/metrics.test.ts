import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/server/metrics.js';

/**
 * The same updates through prom-client's own Gauge/Counter/Histogram (what the daemon used
 * before its metrics became plain numbers): the text must be the same, line for line.
 */
function promClientReference() {
  const registry = new Registry();
  const registers = [registry];
  const m = new Metrics();
  const family = (name: string) => m.registry.getSingleMetric(name) as unknown as { help: string };
  // Each family as prom-client makes it, with the daemon's own help text.
  const gauge = (name: string, labelNames: string[] = []) =>
    new Gauge({ name, help: family(name).help, labelNames, registers });
  const counter = (name: string, labelNames: string[] = []) =>
    new Counter({ name, help: family(name).help, labelNames, registers });
  const desired = gauge('waymond_scaler_desired_replicas', ['scaler', 'target']);
  const current = gauge('waymond_scaler_current_replicas', ['scaler', 'target']);
  const reconciles = counter('waymond_scaler_reconciles_total', ['scaler', 'target', 'outcome']);
  const events = counter('waymond_events_total', ['topic']);
  const errors = counter('waymond_component_errors_total', ['address']);
  const storeErrors = counter('waymond_store_errors_total');
  const fdExhausted = counter('waymond_fd_exhausted_total');
  const restarts = counter('waymond_member_restarts_total', ['scaler']);
  const duration = new Histogram({
    name: 'waymond_reconcile_duration_seconds',
    help: family('waymond_reconcile_duration_seconds').help,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
    registers,
  });
  return { registry, desired, current, reconciles, events, errors, storeErrors, fdExhausted, restarts, duration };
}

describe('Metrics (plain numbers rendered on scrape)', () => {
  it('renders exactly what prom-client renders for the same updates', async () => {
    const ours = new Metrics();
    const ref = promClientReference();
    ours.setDesired('scaler.a', '', 3);
    ref.desired.set({ scaler: 'scaler.a' }, 3);
    ours.setDesired('scaler.asg', 'queue-b', 2);
    ref.desired.set({ scaler: 'scaler.asg', target: 'queue-b' }, 2);
    ours.setDesired('scaler.a', '', 5); // latest value wins
    ref.desired.set({ scaler: 'scaler.a' }, 5);
    ours.setCurrent('scaler.a', '', 4);
    ref.current.set({ scaler: 'scaler.a' }, 4);
    for (const outcome of ['ok', 'ok', 'error', 'rejected']) {
      ours.countReconcile('scaler.a', '', outcome);
      ref.reconciles.inc({ scaler: 'scaler.a', outcome });
    }
    ours.countReconcile('scaler.asg', 'queue-b', 'ok');
    ref.reconciles.inc({ scaler: 'scaler.asg', target: 'queue-b', outcome: 'ok' });
    ours.countEvent('trigger.q.output');
    ours.countEvent('trigger.q.output');
    ref.events.inc({ topic: 'trigger.q.output' }, 2);
    ours.countComponentError('trigger.q');
    ref.errors.inc({ address: 'trigger.q' });
    ours.countMemberRestarts('scaler.a', 3);
    ref.restarts.inc({ scaler: 'scaler.a' }, 3);
    ours.storeErrors.inc();
    ref.storeErrors.inc();
    ours.fdExhausted.inc();
    ours.fdExhausted.inc();
    ref.fdExhausted.inc(2);
    for (const seconds of [0.001, 0.005, 0.2, 75]) {
      ours.reconcileSeconds('scaler.a', seconds);
      ref.duration.observe(seconds);
    }
    const lines = (text: string) => text.split('\n').filter(Boolean).sort();
    expect(lines(await ours.text())).toEqual(lines(await ref.registry.metrics()));
  });

  it('before any update: the label-less store error counter reads 0, the rest have no series', async () => {
    const text = await new Metrics().text();
    expect(text).toContain('waymond_store_errors_total 0');
    expect(text).toContain('waymond_reconcile_duration_seconds_count 0');
    expect(text).not.toMatch(/^waymond_scaler_desired_replicas\{/m);
  });

  it('does not multiply the duration histogram by the number of scalers', async () => {
    const metrics = new Metrics();
    for (let i = 0; i < 100; i++) metrics.reconcileSeconds(`scaler.s${i}`, 0.002);
    const text = await metrics.text();
    expect(text.match(/^waymond_reconcile_duration_seconds_bucket/gm)).toHaveLength(12);
    expect(text).toContain('waymond_reconcile_duration_seconds_count 100');
    expect(text).toContain('waymond_reconcile_duration_seconds_bucket{le="0.005"} 100');
  });
});
