// The dashboard's pure rules (no DOM): health from events, search over the graph, decision
// filters. Unit-tested in test/dashboard/rules.test.ts.
import type { Decision, Graph, Health, WaymondEvent } from './types.js';

/** The same rule as the daemon's (src/server/dashboard.ts), applied to live events. */
export function nextHealth(current: Health | undefined, event: WaymondEvent): Health | undefined {
  const channel = event.topic.slice(event.topic.lastIndexOf('.') + 1);
  const error = typeof event.data.error === 'string' ? event.data.error : 'error';
  if (channel === 'error') return { state: 'failing', reason: error, since: event.time };
  if (channel === 'output') return { state: 'ok', since: event.time };
  if (channel === 'result') {
    const outcome = event.data.outcome;
    if (outcome === 'ok') return { state: 'ok', since: event.time };
    if (outcome === 'dry_run') return { state: 'dry_run', since: event.time };
    if (outcome === 'error' || outcome === 'rejected') return { state: 'failing', reason: error, since: event.time };
  }
  return current;
}

export function addressOf(event: WaymondEvent): string {
  return event.topic.slice(0, event.topic.lastIndexOf('.'));
}

export function shortId(address: string): string {
  return address.slice(address.indexOf('.') + 1);
}

/** Matching nodes and their neighbours two hops away (a scaler's connector and trigger). */
export function visibleAddresses(graph: Graph, query: string): Set<string> | undefined {
  const q = query.trim().toLowerCase();
  if (!q) return undefined;
  const next = new Map<string, string[]>();
  const link = (a: string, b: string) => {
    const list = next.get(a);
    if (list) list.push(b);
    else next.set(a, [b]);
  };
  for (const e of graph.edges) {
    link(e.from, e.to);
    link(e.to, e.from);
  }
  const matched = graph.nodes.filter((n) => n.address.toLowerCase().includes(q) || n.type.includes(q));
  const shown = new Set(matched.map((n) => n.address));
  let frontier = [...shown];
  for (let hop = 0; hop < 2; hop++) {
    const found: string[] = [];
    for (const a of frontier) for (const b of next.get(a) ?? []) if (!shown.has(b)) found.push(b);
    for (const b of found) shown.add(b);
    frontier = found;
  }
  return shown;
}

export interface DecisionFilter {
  scaler: string;
  outcome: string;
  text: string;
}

export function filterDecisions(decisions: Decision[], f: DecisionFilter): Decision[] {
  const text = f.text.trim().toLowerCase();
  const scaler = f.scaler.trim();
  return decisions.filter(
    (d) =>
      (!scaler || d.scaler === scaler || shortId(d.scaler) === scaler) &&
      (!f.outcome || d.outcome === f.outcome) &&
      (!text || `${d.reason} ${d.action} ${d.error ?? ''} ${d.scaler}`.toLowerCase().includes(text)),
  );
}
