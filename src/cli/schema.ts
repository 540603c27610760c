import { z } from 'zod';
import { clusterSchema } from '../cluster/config.js';
import { daemonSchema, storeSchema } from '../config/load.js';
import type { ComponentKind } from '../core/types.js';
import type { Registry } from '../registry.js';

function unionOf(registry: Registry, kind: ComponentKind): z.ZodType {
  const schemas = registry.all(kind).map((d) => d.schema);
  if (schemas.length === 0) return z.never();
  if (schemas.length === 1) return schemas[0] as z.ZodType;
  return z.union(schemas as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]]);
}

/** The JSON Schema of a whole config file, as editors use it (input side: durations as strings). */
export function configJsonSchema(registry: Registry): Record<string, unknown> {
  const file = z
    .strictObject({
      http: daemonSchema.optional(),
      store: storeSchema.optional(),
      cluster: clusterSchema.optional(),
      trigger: z.array(unionOf(registry, 'trigger')).optional(),
      connect: z.array(unionOf(registry, 'connector')).optional(),
      scaler: z.array(unionOf(registry, 'scaler')).optional(),
    })
    .describe('A waymond config file: [[trigger]], [[connect]] and [[scaler]] tables.');
  const schema = z.toJSONSchema(file, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
  return { ...schema, $id: 'https://waymond.dev/schema/config.json', title: 'waymond config' };
}
