/**
 * The reference shows a schema that switches on a field (a discriminated union: redis
 * `mode`, github_actions `poll`) as one table: the switch lists its values, and a field
 * only some branches have says which ("Only with mode = "list", "sorted_set"").
 */

/** The part of a JSON Schema this needs. */
export interface BranchSchema {
  type?: string | string[];
  description?: string;
  const?: unknown;
  enum?: unknown[];
  oneOf?: BranchSchema[];
  anyOf?: BranchSchema[];
  properties?: Record<string, BranchSchema>;
  required?: string[];
}

export /**
 * One table for a schema that switches on a field (a discriminated union, e.g. redis
 * `mode`): the switch lists its values, and a field only some branches have says which.
 */
function mergeBranches<S extends BranchSchema>(schema: S): S {
  const branches = schema.oneOf ?? schema.anyOf;
  if (schema.properties || !branches?.every((b) => b.properties)) return schema;
  // The switch is a constant in every branch and a different one in each (a field that is the
  // same constant everywhere, like on_shutdown = "keep" on a scaler that cannot stop, is not).
  const key = Object.keys(branches[0]?.properties ?? {}).find(
    (name) =>
      name !== 'type' &&
      branches.every((b) => b.properties?.[name]?.const !== undefined) &&
      new Set(branches.map((b) => JSON.stringify(b.properties?.[name]?.const))).size === branches.length,
  );
  if (!key) return schema;
  const switchValue = (b: BranchSchema) => JSON.stringify(b.properties?.[key]?.const);
  const properties: Record<string, BranchSchema> = {};
  const required: string[] = [];
  const names = [...new Set(branches.flatMap((b) => Object.keys(b.properties ?? {})))];
  for (const name of names) {
    const having = branches.filter((b) => b.properties?.[name]);
    const first = having[0]?.properties?.[name] as BranchSchema;
    if (name === key) {
      const values = branches.map((b) => b.properties?.[key]?.const);
      // A flag (`poll`) reads as a boolean; named modes list their names.
      const flag = values.every((v) => typeof v === 'boolean');
      properties[name] = { ...first, const: undefined, ...(flag ? { type: 'boolean' } : { enum: values }) };
      required.push(name);
      continue;
    }
    const only = having.length < branches.length ? `Only with ${key} = ${having.map(switchValue).join(', ')}. ` : '';
    properties[name] = { ...first, description: `${only}${first.description ?? ''}`.trim() };
    // Required wherever it exists: "Only with …" in the description says where that is.
    if (having.every((b) => b.required?.includes(name))) required.push(name);
  }
  return { type: 'object', properties, required } as S;
}
