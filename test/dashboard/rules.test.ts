/** The dashboard page's own rules: live health, the graph search, the decision filters. */
import { describe, expect, it } from 'vitest';
import { filterDecisions, nextHealth, visibleAddresses } from '../../web/src/rules.js';
import type { Decision, Graph, WaymondEvent } from '../../web/src/types.js';

const event = (topic: string, data: Record<string, unknown> = {}, time = 1): WaymondEvent => ({
  id: `e${time}`,
  topic,
  source: topic.slice(0, topic.lastIndexOf('.')),
  time,
  data,
});

describe('live health', () => {
  it('turns failing on an error event with its message, and ok again on the next output', () => {
    const failing = nextHealth(undefined, event('trigger.q.error', { error: 'poll failed: refused' }, 5));
    expect(failing).toEqual({ state: 'failing', reason: 'poll failed: refused', since: 5 });
    expect(nextHealth(failing, event('trigger.q.output', { value: 3 }, 6))?.state).toBe('ok');
  });

  it('reads a scaler from its results and ignores what says nothing about health', () => {
    expect(nextHealth(undefined, event('scaler.s.result', { outcome: 'dry_run' }))?.state).toBe('dry_run');
    expect(nextHealth(undefined, event('scaler.s.result', { outcome: 'error', error: 'boom' }))?.reason).toBe('boom');
    const ok = { state: 'ok' as const };
    expect(nextHealth(ok, event('scaler.s.input', { desired: 2 }))).toBe(ok);
  });
});

describe('graph search', () => {
  const graph: Graph = {
    nodes: [
      ...['trigger.t1', 'trigger.t2'].map((address) => ({ address, kind: 'trigger', type: 'http_endpoint' })),
      ...['connector.c1', 'connector.c2'].map((address) => ({ address, kind: 'connector', type: 'direct' })),
      ...Array.from({ length: 10_000 }, (_, i) => ({ address: `scaler.s${i}`, kind: 'scaler', type: 'noop' })),
    ].map((n) => ({ ...n, health: { state: 'idle' as const } })),
    edges: [
      { from: 'trigger.t1', to: 'connector.c1' },
      { from: 'connector.c1', to: 'scaler.s7777' },
      { from: 'trigger.t2', to: 'connector.c2' },
      { from: 'connector.c2', to: 'scaler.s1' },
    ],
  };

  it('keeps every node without a query', () => {
    expect(visibleAddresses(graph, '  ')).toBeUndefined();
  });

  it("keeps the matching scaler with its connector and trigger, and nothing else's", () => {
    expect([...(visibleAddresses(graph, 's7777') ?? [])].sort()).toEqual([
      'connector.c1',
      'scaler.s7777',
      'trigger.t1',
    ]);
  });

  it('matches by type too, case-insensitively by address', () => {
    expect(visibleAddresses(graph, 'http_endpoint')?.has('trigger.t2')).toBe(true);
    expect(visibleAddresses(graph, 'SCALER.S1')?.has('scaler.s1')).toBe(true);
  });
});

describe('decision filters', () => {
  const decision = (scaler: string, outcome: string, reason: string, error: string | null = null): Decision => ({
    time: 1,
    scaler,
    target: '',
    sourceEvent: null,
    observed: 0,
    desired: 1,
    action: 'scale_up +1 (0 -> 1)',
    outcome,
    error,
    durationMs: 1,
    reason,
  });
  const all = [
    decision('scaler.web', 'ok', 'desired 1 from connector.a'),
    decision('scaler.web', 'error', 'desired 1 from connector.a', 'spawn ENOENT'),
    decision('scaler.batch', 'ok', 'queue depth 40'),
  ];

  it('filters by scaler id or address, outcome and text in reason, action or error', () => {
    const none = { scaler: '', outcome: '', text: '' };
    expect(filterDecisions(all, none)).toHaveLength(3);
    expect(filterDecisions(all, { ...none, scaler: 'web' })).toHaveLength(2);
    expect(filterDecisions(all, { ...none, scaler: 'scaler.batch' })).toHaveLength(1);
    expect(filterDecisions(all, { ...none, outcome: 'error' }).map((d) => d.error)).toEqual(['spawn ENOENT']);
    expect(filterDecisions(all, { ...none, text: 'enoent' })).toHaveLength(1);
    expect(filterDecisions(all, { ...none, text: 'QUEUE' }).map((d) => d.scaler)).toEqual(['scaler.batch']);
    expect(filterDecisions(all, { scaler: 'web', outcome: 'ok', text: 'queue' })).toEqual([]);
  });
});
