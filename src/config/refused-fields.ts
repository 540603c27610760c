/**
 * Config errors for options a schema leaves out on purpose (refusedFields in core/schema.ts):
 * `busy_check` on nomad is not an unknown field but one nomad cannot honour, and the error
 * says why ("busy_check is not supported by nomad: it has no members to check").
 */
import type { z } from 'zod';
import { refusedFields } from '../core/schema.js';

type ZodDef = Record<string, unknown>;

function defOf(schema: unknown): ZodDef | undefined {
  return (schema as { _zod?: { def: ZodDef } } | undefined)?._zod?.def;
}

/** Through defaults, optionals and pipes to the schema that parses the value. */
function unwrap(schema: unknown): unknown {
  let current = schema;
  for (let i = 0; i < 10; i++) {
    const def = defOf(current);
    const next = def?.innerType ?? (def?.type === 'pipe' ? def.in : undefined);
    if (!next) return current;
    current = next;
  }
  return current;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The option of a discriminated union that parses `value` (its discriminator decides). */
function branchOf(union: unknown, value: unknown): unknown {
  const def = defOf(union);
  const key = def?.discriminator;
  if (typeof key !== 'string' || !isRecord(value)) return undefined;
  return (def?.options as unknown[] | undefined)?.find((option) => {
    const field = (defOf(unwrap(option))?.shape as Record<string, unknown> | undefined)?.[key];
    return (field as z.ZodType | undefined)?.safeParse(value[key]).success === true;
  });
}

/**
 * The object schemas that parse the table at `path`: `input` (the whole value parsed)
 * picks the branch of each discriminated union on the way; without it, every branch.
 */
function objectsAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): unknown[] {
  let current: unknown[] = [schema];
  let value = input;
  for (let i = 0; ; i++) {
    current = current.flatMap((s) => {
      const u = unwrap(s);
      const def = defOf(u);
      if (def?.type !== 'union') return [u];
      const branch = branchOf(u, value);
      return (branch ? [branch] : ((def.options as unknown[] | undefined) ?? [])).map(unwrap);
    });
    if (i === path.length) return current.filter((s) => defOf(s)?.type === 'object');
    const part = path[i];
    current = current.flatMap((s) => {
      const def = defOf(s);
      if (typeof part === 'number' && def?.type === 'array') return [def.element];
      const field = typeof part === 'string' && def?.type === 'object' ? (def.shape as ZodDef)[part] : undefined;
      return field ? [field] : [];
    });
    value =
      isRecord(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[part as string] : undefined;
  }
}

/**
 * Why the table at `path` refuses `field` (or, for a key `field=<JSON value>`, that value of
 * it), when it does. `input` is the whole value parsed, or the table itself at the root.
 */
export function refusalAt(
  schema: z.ZodType,
  path: readonly PropertyKey[],
  field: string,
  input: unknown,
): string | undefined {
  for (const s of objectsAt(schema, path, input)) {
    const reason = refusedFields.get(s as z.ZodType)?.refused[field];
    if (reason) return reason;
  }
  return undefined;
}
