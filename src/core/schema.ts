/**
 * The common fields of each kind, merged into every type's schema with
 * `triggerSchema({...})`, `connectorSchema({...})`, `scalerSchema({...})`.
 * Objects are strict: an unknown key is an error (with "did you mean").
 */
import { z } from 'zod';
import { duration } from './duration.js';

export const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

const id = z
  .string()
  .regex(ID_PATTERN, 'expected letters, digits, "_" or "-"')
  .describe('Unique id within its kind; the component is addressed as `<kind>.<id>`.');

const address = z
  .string()
  .regex(
    /^(trigger|connector|scaler)\.[A-Za-z0-9_][A-Za-z0-9_-]*$/,
    'expected an address like "trigger.<id>", "connector.<id>" or "scaler.<id>"',
  );

export function triggerSchema<T extends z.ZodRawShape>(type: string, shape: T) {
  return z.strictObject({ type: z.literal(type), id, ...shape });
}

export const transformSchema = z.discriminatedUnion('method', [
  z.strictObject({
    method: z.literal('jsonata'),
    expression: z.string().describe('JSONata expression over the event data; its result (an object) is the output.'),
  }),
  z.strictObject({
    method: z.literal('go_template'),
    template: z
      .string()
      .describe(
        'Go template (the subset CI configs use) rendering JSON; `{{ .field }}`, sprig add/sub/mul/div/divf/max/min/ceil/floor/default/quote.',
      ),
  }),
]);

export function connectorSchema<T extends z.ZodRawShape>(type: string, shape: T) {
  return z.strictObject({
    type: z.literal(type),
    id,
    from: z
      .union([address, z.array(address).min(1)])
      .describe('Address (or addresses) whose `.output` this connector reads.'),
    to: address
      .optional()
      .describe('Address whose `.input` receives the output: a trigger that accepts input, or a scaler.'),
    ...shape,
  });
}

export const scalerCommon = {
  min: z
    .number()
    .int()
    .nonnegative()
    .default(0)
    .describe('Lowest count the reconciler will set; a lower desired count is raised to it.'),
  max: z
    .number()
    .int()
    .nonnegative()
    .default(1000)
    .describe('Highest count the reconciler will set; a higher desired count is clamped to it.'),
  count: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe(
      "Static desired count, re-asserted by every input event that carries no `desired` (the original waymond's behaviour).",
    ),
  resync_interval: duration(
    'Re-apply the last desired count this often, so drift heals (a crashed member, a deleted container).',
  ).default(30_000),
  retry_initial: duration('First retry delay after a failed reconcile; doubles each time, with jitter.').default(1000),
  retry_max: duration('Longest retry delay.').default(60_000),
  on_shutdown: z
    .enum(['keep', 'stop'])
    .default('keep')
    .describe('On SIGINT/SIGTERM, leave members running (`keep`) or stop them (`stop`).'),
};

export function scalerSchema<T extends z.ZodRawShape>(type: string, shape: T) {
  return z.strictObject({ type: z.literal(type), id, ...scalerCommon, ...shape }).superRefine((value, ctx) => {
    const v = value as { min: number; max: number };
    if (v.min > v.max) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: `min (${v.min}) is greater than max (${v.max})` });
    }
  });
}

export type ScalerCommon = z.output<z.ZodObject<typeof scalerCommon>>;
