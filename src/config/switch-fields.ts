/**
 * Config errors for schemas that switch on a field (a discriminated union: redis `mode`,
 * github_actions `poll`). The table's own value of the switch picks the branch, so a field
 * that only other branches have is named as theirs ("queue is not a field of redis mode
 * "list" (only of mode "bullmq", "sidekiq")") instead of being called unknown, and the
 * "allowed" list is that branch's fields.
 */
import type { z } from 'zod';

type ZodDef = Record<string, unknown>;

function defOf(schema: unknown): ZodDef | undefined {
  const s = schema as { def?: ZodDef; _zod?: { def: ZodDef } } | undefined;
  return s?._zod?.def ?? s?.def;
}

/** Strips defaults, optionals, pipes and refinements down to the schema that holds the shape. */
function unwrap(schema: unknown): unknown {
  let current = schema;
  for (let i = 0; i < 10; i++) {
    const def = defOf(current);
    if (!def) return current;
    const next = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (!next) return current;
    current = next;
  }
  return current;
}

/** A discriminated union's key and its branches, each with the discriminator value it takes. */
function unionBranches(
  def: ZodDef | undefined,
): { key: string; branches: { value: unknown; schema: unknown }[] } | undefined {
  if (def?.type !== 'union' || typeof def.discriminator !== 'string' || !Array.isArray(def.options)) return undefined;
  const key = def.discriminator;
  const branches = def.options.map((option: unknown) => {
    const shape = defOf(unwrap(option))?.shape as Record<string, unknown> | undefined;
    const field = shape?.[key];
    // A switch with a default (`poll`, default false) takes that branch when it is left out.
    const optional = ['default', 'optional'].includes(String(defOf(field)?.type));
    const values = defOf(unwrap(field))?.values;
    return { value: optional && Array.isArray(values) ? [...values, undefined] : values, schema: option };
  });
  return {
    key,
    branches: branches.flatMap(({ value, schema }) =>
      (Array.isArray(value) ? value : [value]).map((v: unknown) => ({ value: v, schema })),
    ),
  };
}

function shapeKeys(schema: unknown): string[] {
  const def = defOf(unwrap(schema));
  return def?.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * What an object schema allows at `path`. Where the schema there switches on a field (a
 * discriminated union such as redis `mode`), `table` (the input found at `path`) picks the
 * branch, and `switch.other` lists the fields only other branches have, so such a field is
 * named as belonging to them rather than called unknown.
 */
export function fieldsAt(
  schema: z.ZodType,
  path: readonly PropertyKey[],
  table?: unknown,
): { allowed: string[]; switch?: { key: string; value: unknown; other: Map<string, unknown[]> } } {
  let current: unknown = schema;
  for (const part of path) {
    const def = defOf(unwrap(current));
    if (!def) return { allowed: [] };
    if (typeof part === 'number' && def.type === 'array') current = def.element;
    else if (typeof part === 'string' && def.type === 'object') current = (def.shape as Record<string, unknown>)[part];
    else return { allowed: [] };
  }
  const union = unionBranches(defOf(unwrap(current)));
  if (!union) return { allowed: shapeKeys(current) };
  const value = isRecord(table) ? table[union.key] : undefined;
  const branch = union.branches.find((b) => b.value === value);
  if (!branch) return { allowed: [] };
  const own = new Set(shapeKeys(branch.schema));
  const other = new Map<string, unknown[]>();
  for (const b of union.branches) {
    if (b.schema === branch.schema || b.value === undefined) continue;
    for (const k of shapeKeys(b.schema)) if (!own.has(k)) other.set(k, [...(other.get(k) ?? []), b.value]);
  }
  // Left out, the switch takes its default: name the branch by that value.
  const shown = value ?? union.branches.find((b) => b.schema === branch.schema && b.value !== undefined)?.value;
  return { allowed: [...own], switch: { key: union.key, value: shown, other } };
}

/** A branch by its switch: `mode "list"` for a named value, `with poll = true` for a flag. */
function branchName(key: string, values: unknown[]): string {
  const list = values.map((v) => JSON.stringify(v)).join(', ');
  return values.every((v) => typeof v === 'string') ? `${key} ${list}` : `with ${key} = ${list}`;
}

/**
 * The message for `key` in the table at `path` when only other branches of a switch have
 * it, else undefined. `table` is the table that has the key (a zod issue's input).
 */
export function fieldOfAnotherBranch(
  schema: z.ZodType,
  path: readonly PropertyKey[],
  key: string,
  table: unknown,
): string | undefined {
  const { allowed, switch: modes } = fieldsAt(schema, path, table);
  const owners = modes?.other.get(key);
  if (!modes || !owners) return undefined;
  const type = isRecord(table) && typeof table.type === 'string' ? `${table.type} ` : '';
  const only = owners.every((v) => typeof v === 'string') ? 'of ' : '';
  return `${key} is not a field of ${type}${branchName(modes.key, [modes.value])} (only ${only}${branchName(modes.key, owners)}); allowed: ${allowed.join(', ')}`;
}

/** The fields of the branch `table` chooses, when the schema at `path` switches on a field. */
export function branchKeysAt(schema: z.ZodType, path: readonly PropertyKey[], table: unknown): string[] | undefined {
  const fields = fieldsAt(schema, path, table);
  return fields.switch ? fields.allowed : undefined;
}

/**
 * A discriminated union found no branch: its issue carries the whole table as input, so
 * quote the switch's own value. (An optional switch lists undefined among its values: not
 * one to write.)
 */
export function noBranchMessage(
  discriminator: string,
  options: readonly unknown[],
  table: unknown,
  found: (value: unknown) => string,
): string {
  const chosen = isRecord(table) ? table[discriminator] : undefined;
  const list = options
    .filter((v) => v !== undefined)
    .map((v) => JSON.stringify(v))
    .join(', ');
  return chosen === undefined
    ? `is required (expected one of ${list})`
    : `expected one of ${list}, found ${found(chosen)}`;
}
