import { connectors } from './connectors/index.js';
import type { ComponentRegistry } from './core/component-registry.js';
import type { ComponentDefinition, ComponentKind } from './core/types.js';
import { scalers } from './scalers/index.js';
import { triggers } from './triggers/index.js';

export class Registry implements ComponentRegistry {
  private byKind: Record<ComponentKind, Map<string, ComponentDefinition>> = {
    trigger: new Map(),
    connector: new Map(),
    scaler: new Map(),
  };

  register(def: ComponentDefinition): void {
    const map = this.byKind[def.kind];
    if (map.has(def.type)) throw new Error(`${def.kind} type "${def.type}" is registered twice`);
    map.set(def.type, def);
  }

  get(kind: ComponentKind, type: string): ComponentDefinition | undefined {
    return this.byKind[kind].get(type);
  }

  types(kind: ComponentKind): string[] {
    return [...this.byKind[kind].keys()].sort();
  }

  all(kind: ComponentKind): ComponentDefinition[] {
    return this.types(kind).map((t) => this.byKind[kind].get(t) as ComponentDefinition);
  }
}

export function defaultRegistry(): Registry {
  const registry = new Registry();
  for (const def of [...triggers, ...connectors, ...scalers]) registry.register(def as ComponentDefinition);
  return registry;
}
