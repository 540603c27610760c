/**
 * The component graph. `checkGraph` runs before anything starts: duplicate ids, unknown
 * addresses, connections into components that take no input, cycles (shown as
 * `a -> b -> a`); a scaler that nothing feeds is a warning. `buildGraph` turns checked
 * components into the typed graph the engine runs: components by kind, each connector's
 * sources and destination, the edges, and which components receive input.
 */
import type { ComponentRegistry } from './component-registry.js';
import { didYouMean } from './suggest.js';
import type { Address, ComponentDefinition, ComponentKind } from './types.js';

export interface GraphComponent {
  kind: ComponentKind;
  id: string;
  address: string;
  /** Position in its section, for messages about components whose id is bad. */
  index: number;
  definition: ComponentDefinition;
  /** Parsed (validated, defaults applied) config. */
  config: Record<string, unknown>;
}

/** A graph problem; the config loader adds the file (see config/issues.ts ConfigIssue). */
export interface GraphIssue {
  severity: 'error' | 'warning';
  address?: string;
  path?: string;
  message: string;
}

/** A connector's place in the graph: where its events come from and where its outputs go. */
export interface Connection {
  connector: Address;
  from: Address[];
  /** Absent when other connectors read its output instead. */
  to?: Address;
}

export interface Graph<C extends GraphComponent = GraphComponent> {
  /** Every component, in config order. */
  components: C[];
  scalers: C[];
  connectors: C[];
  triggers: C[];
  connections: Connection[];
  /** `a -> b`: events or commands flow from a to b (connections and cascade tiers). */
  edges: [Address, Address][];
  /** Components a connector delivers to (a trigger among them is fired, not run on its own). */
  inputs: Set<Address>;
}

/** The typed graph of components that passed checkGraph. */
export function buildGraph<C extends GraphComponent>(components: readonly C[]): Graph<C> {
  const connectors = components.filter((c) => c.kind === 'connector');
  const connections = connectors.map((c): Connection => {
    const to = typeof c.config.to === 'string' ? c.config.to : undefined;
    return { connector: c.address, from: fromList(c.config), ...(to ? { to } : {}) };
  });
  return {
    components: [...components],
    scalers: components.filter((c) => c.kind === 'scaler'),
    connectors,
    triggers: components.filter((c) => c.kind === 'trigger'),
    connections,
    edges: graphEdges([...components]),
    inputs: new Set(connections.flatMap((c) => (c.to ? [c.to] : []))),
  };
}

export function fromList(config: Record<string, unknown>): string[] {
  const from = config.from;
  if (Array.isArray(from)) return from as string[];
  return typeof from === 'string' ? [from] : [];
}

/** Edges `a -> b` meaning events (or commands) flow from a to b. */
export function graphEdges(components: GraphComponent[]): [string, string][] {
  const edges: [string, string][] = [];
  for (const c of components) {
    if (c.kind === 'connector') {
      for (const from of fromList(c.config)) edges.push([from, c.address]);
      if (typeof c.config.to === 'string') edges.push([c.address, c.config.to]);
    }
    for (const target of c.definition.drives?.(c.config) ?? []) edges.push([c.address, target]);
  }
  return edges;
}

export function checkGraph(components: GraphComponent[], _registry?: ComponentRegistry): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const byAddress = new Map<string, GraphComponent>();
  for (const c of components) {
    const earlier = byAddress.get(c.address);
    if (earlier) {
      issues.push({
        severity: 'error',
        address: c.address,
        path: 'id',
        message: `duplicate id: ${c.address} is defined more than once (${sectionName(earlier)}[${earlier.index}] and ${sectionName(c)}[${c.index}])`,
      });
      continue;
    }
    byAddress.set(c.address, c);
  }
  const addresses = [...byAddress.keys()];
  const unknown = (address: string) => {
    const guess = didYouMean(address, addresses);
    return `unknown address "${address}"${guess ? ` (did you mean "${guess}"?)` : ''}`;
  };

  const readFrom = new Set<string>();
  for (const c of byAddress.values()) if (c.kind === 'connector') for (const f of fromList(c.config)) readFrom.add(f);

  const fed = new Set<string>();
  for (const c of byAddress.values()) {
    if (c.kind === 'connector') {
      for (const from of fromList(c.config)) {
        const source = byAddress.get(from);
        if (!source) issues.push({ severity: 'error', address: c.address, path: 'from', message: unknown(from) });
        else if (source.kind === 'scaler') {
          issues.push({
            severity: 'error',
            address: c.address,
            path: 'from',
            message: `${from} has no output: scalers publish results, not events to connect`,
          });
        }
      }
      const to = c.config.to;
      if (typeof to === 'string') {
        const target = byAddress.get(to);
        if (!target) issues.push({ severity: 'error', address: c.address, path: 'to', message: unknown(to) });
        else if (target.kind === 'connector') {
          issues.push({
            severity: 'error',
            address: c.address,
            path: 'to',
            message: `${to} takes no input: chain connectors with from = "${c.address}" on ${to}`,
          });
        } else if (target.kind === 'trigger' && !target.definition.acceptsInput) {
          issues.push({
            severity: 'error',
            address: c.address,
            path: 'to',
            message: `${to} (${target.definition.type}) takes no input`,
          });
        } else fed.add(to);
      } else if (!readFrom.has(c.address)) {
        issues.push({
          severity: 'error',
          address: c.address,
          path: 'to',
          message: `goes nowhere: set to = "scaler.<id>", or read it with from = "${c.address}" in another connector`,
        });
      }
    }
    for (const target of c.definition.drives?.(c.config) ?? []) {
      if (target === c.address)
        issues.push({ severity: 'error', address: c.address, message: `refers to itself (${target})` });
      else if (!byAddress.has(target)) issues.push({ severity: 'error', address: c.address, message: unknown(target) });
      else fed.add(target);
    }
  }

  const cycle = readableCycle(findCycle(graphEdges([...byAddress.values()]).filter(([a, b]) => a !== b)));
  if (cycle) issues.push({ severity: 'error', address: cycle[0], message: `cycle: ${cycle.join(' -> ')}` });

  for (const c of byAddress.values()) {
    if (c.kind === 'scaler' && !fed.has(c.address)) {
      issues.push({
        severity: 'warning',
        address: c.address,
        message: 'nothing feeds this scaler (no connector has it as "to"); it only resyncs its saved count',
      });
    }
  }
  return issues;
}

function sectionName(c: GraphComponent): string {
  return c.kind === 'connector' ? 'connect' : c.kind;
}

/** Rotates a closed path to start at its first trigger (where a reader starts reading). */
export function readableCycle(cycle: string[] | undefined): string[] | undefined {
  if (!cycle) return undefined;
  const open = cycle.slice(0, -1);
  const triggers = open.filter((a) => a.startsWith('trigger.')).sort();
  const start = triggers.length > 0 ? open.indexOf(triggers[0] as string) : 0;
  if (start <= 0) return cycle;
  const rotated = [...open.slice(start), ...open.slice(0, start)];
  return [...rotated, rotated[0] as string];
}

/** Returns the first cycle found as a closed path `[a, b, a]`, or undefined. */
export function findCycle(edges: [string, string][]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const [a, b] of edges) next.set(a, [...(next.get(a) ?? []), b]);
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const n of next.get(node) ?? []) {
      if (state.get(n) === 'visiting') return [...stack.slice(stack.indexOf(n)), n];
      if (!state.has(n)) {
        const found = visit(n);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...next.keys()].sort()) {
    if (!state.has(node)) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return undefined;
}
