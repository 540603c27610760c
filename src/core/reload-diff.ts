/**
 * What a reload changes: the running graph against the new one, component by component.
 * Pure, so the engine's reload only carries the plan out. A component is unchanged when its
 * kind, type, parsed config and (for a trigger) whether it receives input are the same; a
 * connector, trigger or scaler with an edge into a recreated scaler is restarted too, since
 * it may hold that scaler's handle from when it was created.
 */
import type { Graph, GraphComponent } from './graph.js';
import type { Address } from './types.js';

interface ByKind {
  scalers: Address[];
  connectors: Address[];
  triggers: Address[];
}

export interface ReloadPlan {
  /** Stopped, each kind in this order: triggers, connectors, scalers. */
  stop: ByKind;
  /** Created in the new graph's order: scalers, connectors, triggers. */
  start: ByKind;
  added: Address[];
  removed: Address[];
  /** In both graphs, stopped and created again. */
  restarted: Address[];
  unchanged: number;
}

/** JSON with sorted keys: two parsed configs that mean the same compare equal. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
  });
}

function fingerprint(c: GraphComponent, graph: Graph): string {
  const input = c.kind === 'trigger' && graph.inputs.has(c.address);
  return `${c.kind}|${c.definition.type}|${input}|${stableJson(c.config)}`;
}

export function planReload(current: Graph, next: Graph): ReloadPlan {
  const before = new Map(current.components.map((c) => [c.address, fingerprint(c, current)]));
  const after = new Map(next.components.map((c) => [c.address, fingerprint(c, next)]));
  const dirty = new Set<Address>();
  for (const [address, print] of after) if (before.get(address) !== print) dirty.add(address);

  // A recreated scaler is a new handle: whatever points at it is recreated too, to a fixed point
  // (a cascade of scalers can chain).
  const recreatedScalers = () => new Set(next.scalers.filter((c) => dirty.has(c.address)).map((c) => c.address));
  for (;;) {
    const scalers = recreatedScalers();
    const more = next.edges.filter(([from, to]) => scalers.has(to) && !dirty.has(from) && before.has(from));
    if (more.length === 0) break;
    for (const [from] of more) dirty.add(from);
  }

  const removed = current.components.filter((c) => !after.has(c.address)).map((c) => c.address);
  const added = next.components.filter((c) => !before.has(c.address)).map((c) => c.address);
  const restarted = next.components.filter((c) => before.has(c.address) && dirty.has(c.address)).map((c) => c.address);
  const gone = new Set([...removed, ...restarted]);
  const pick = (components: GraphComponent[], set: Set<Address>) =>
    components.filter((c) => set.has(c.address)).map((c) => c.address);
  return {
    stop: {
      triggers: pick(current.triggers, gone),
      connectors: pick(current.connectors, gone),
      scalers: pick(current.scalers, gone),
    },
    start: {
      scalers: pick(next.scalers, dirty),
      connectors: pick(next.connectors, dirty),
      triggers: pick(next.triggers, dirty),
    },
    added,
    removed,
    restarted,
    unchanged: next.components.length - dirty.size,
  };
}
