import type { ComponentDefinition, ComponentKind } from './types.js';

/**
 * What the core needs of the component types: look one up by kind and type name, list them.
 * The registry that lists every plugin lives at the edge (src/registry.ts), so the core
 * imports no plugin; the simulator and tests hand the engine registries of their own.
 */
export interface ComponentRegistry {
  get(kind: ComponentKind, type: string): ComponentDefinition | undefined;
  /** Type names of a kind, sorted. */
  types(kind: ComponentKind): string[];
  all(kind: ComponentKind): ComponentDefinition[];
}
