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
    .describe(
      'On SIGINT/SIGTERM, leave members running (`keep`) or stop them (`stop`: process, docker and ssh members; targets behind an API — Kubernetes, AWS, Nomad — keep their count).',
    ),
  busy_check: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Asked of each candidate before scale-in; only idle members are removed. A shell command run in the member (its container, host or env): exit 0 = busy, exit 1 = idle. Or an http(s) URL template (`{{id}}` and any member info key, e.g. `{{host}}`) answered with JSON `{"busy": true|false}`. Anything else (other exit codes, errors, timeouts of 10s) counts as busy.',
    ),
  drain: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Instead of stopping a chosen member, ask it to finish its job and exit: a shell command run in the member, or an http(s) URL template that is POSTed. The member counts as leaving (not toward capacity) until it exits or drain_timeout passes.',
    ),
  drain_timeout: duration(
    'How long a drained member may take to exit; after that it counts again and is stopped on the next scale-in.',
  ).default(600_000),
  force_after: duration(
    'When every candidate is busy, stop busy members anyway once scale-in has been wanted this long (default: never).',
  ).optional(),
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
