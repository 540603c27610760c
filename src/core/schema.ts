/**
 * The common fields of each kind, merged into every type's schema with
 * `triggerSchema({...})`, `connectorSchema({...})`, `scalerSchema({...})`.
 * Objects are strict: an unknown key is an error (with "did you mean").
 */
import { z } from 'zod';
import { duration } from './duration.js';
import type { ScalerCapabilities } from './types.js';

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

/**
 * Fields a component schema leaves out on purpose, with the reason: a config that sets one
 * gets that sentence as its load error instead of "unknown field" (see config/issues.ts).
 * A key `field=<JSON value>` refuses one value of a field that exists (on_shutdown="stop").
 */
export const refusedFields = z.registry<{ refused: Record<string, string> }>();

/** The fields every scaler has: counts, resync and retries. */
export const scalerBase = {
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
  placement: z
    .enum(['shared', 'local'])
    .optional()
    .describe(
      'In a `[cluster]`: `shared` scalers are owned by one live instance at a time and move when it dies; `local` ones are run by every instance for its own host, under no lease. Default `local` for `process` and for `systemd` without `hosts` (members on this host), `shared` for every other type.',
    ),
};

const onShutdown = z
  .enum(['keep', 'stop'])
  .default('keep')
  .describe('On SIGINT/SIGTERM, leave members running (`keep`) or stop them (`stop`).');

const onShutdownKeep = z
  .literal('keep')
  .default('keep')
  .describe('On SIGINT/SIGTERM the target keeps its count (`keep`, the only choice: waymond does not stop it).');

const memberUrl =
  'an http(s) URL template (`{{id}}` and any member info key, e.g. `{{host}}`) answered with JSON `{"busy": true|false}`';

function busyCheck(runInMember: boolean) {
  return z
    .string()
    .min(1)
    .optional()
    .describe(
      `Asked of each candidate before scale-in; only idle members are removed. ${
        runInMember
          ? `A shell command run in the member (its container, host or env): exit 0 = busy, exit 1 = idle. Or ${memberUrl}. Anything else (other exit codes, errors, timeouts of 10s) counts as busy.`
          : `${memberUrl.charAt(0).toUpperCase()}${memberUrl.slice(1)}: this scaler cannot run commands in its members. Anything else (errors, timeouts of 10s) counts as busy.`
      }`,
    );
}

function drain(runInMember: boolean) {
  return z
    .string()
    .min(1)
    .optional()
    .describe(
      `Instead of stopping a chosen member, ask it to finish its job and exit: ${
        runInMember
          ? 'a shell command run in the member, or an http(s) URL template that is POSTed'
          : 'an http(s) URL template that is POSTed'
      }. The member counts as leaving (not toward capacity) until it exits or drain_timeout passes.`,
    );
}

const drainTimeout = duration(
  'How long a drained member may take to exit; after that it counts again and is stopped on the next scale-in.',
).default(600_000);

const forceAfter = duration(
  'When every candidate is busy, stop busy members anyway once scale-in has been wanted this long (default: never).',
).optional();

export const MEMBER_OPTIONS = ['busy_check', 'drain', 'drain_timeout', 'force_after'] as const;

const MEMBER_VERB: Record<(typeof MEMBER_OPTIONS)[number], string> = {
  busy_check: 'check',
  drain: 'drain',
  drain_timeout: 'drain',
  force_after: 'choose among',
};

/** The common fields for these capabilities (typed by them, so a config type has no unusable field). */
export function scalerCommonFields<C extends ScalerCapabilities>(capabilities: C) {
  return {
    ...scalerBase,
    on_shutdown: (capabilities.stopAll ? onShutdown : onShutdownKeep) as C['stopAll'] extends true
      ? typeof onShutdown
      : typeof onShutdownKeep,
    ...((capabilities.members
      ? {
          busy_check: busyCheck(capabilities.runInMember),
          drain: drain(capabilities.runInMember),
          drain_timeout: drainTimeout,
          force_after: forceAfter,
        }
      : {}) as C['members'] extends true ? MemberFields : Record<never, never>),
  };
}

type MemberFields = {
  busy_check: ReturnType<typeof busyCheck>;
  drain: ReturnType<typeof drain>;
  drain_timeout: typeof drainTimeout;
  force_after: typeof forceAfter;
};

/** The load error for each option these capabilities leave out. */
export function refusalsFor(
  capabilities: ScalerCapabilities,
  label: string,
  why: Partial<Record<string, string>> = {},
): Record<string, string> {
  const refused: Record<string, string> = {};
  if (!capabilities.members) {
    for (const field of MEMBER_OPTIONS)
      refused[field] =
        `${field} is not supported by ${label}: ${why[field] ?? `it has no members to ${MEMBER_VERB[field]}`}`;
  }
  if (!capabilities.stopAll) {
    // A refused value is keyed `field=<JSON value>`: on_shutdown = "keep" is still fine.
    refused['on_shutdown="stop"'] =
      `on_shutdown = "stop" is not supported by ${label}: ${why.on_shutdown ?? 'it has no members to stop; the target keeps its count when waymond stops'}`;
  }
  return refused;
}

export interface ScalerSchemaOptions {
  /** How refusals name the scaler (default: its type). */
  label?: string;
  /** Reasons per refused field, instead of the default ones. */
  why?: Partial<Record<string, string>>;
}

/**
 * A scaler type's schema: its own `shape` plus the common fields its capabilities allow.
 * An option it cannot honour is not a field: setting it is a load error that says why.
 * Without capabilities (the older form), every common field is there.
 */
export function scalerSchema<T extends z.ZodRawShape, C extends ScalerCapabilities>(
  type: string,
  shape: T,
  capabilities: C,
  options?: ScalerSchemaOptions,
): ReturnType<typeof refinedScaler<T & ReturnType<typeof scalerCommonFields<C>>>>;
export function scalerSchema<T extends z.ZodRawShape>(
  type: string,
  shape: T,
): ReturnType<typeof refinedScaler<T & typeof scalerCommon>>;
export function scalerSchema(
  type: string,
  shape: z.ZodRawShape,
  capabilities?: ScalerCapabilities,
  options: ScalerSchemaOptions = {},
) {
  if (!capabilities) return refinedScaler(type, { ...scalerCommon, ...shape });
  const label = options.label ?? type;
  const schema = refinedScaler(type, { ...scalerCommonFields(capabilities), ...shape }).superRefine((value, ctx) => {
    if (capabilities.runInMember) return;
    const v = value as Record<string, unknown>;
    for (const field of ['busy_check', 'drain'] as const) {
      const given = v[field];
      if (typeof given === 'string' && !/^https?:\/\//i.test(given))
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} is a command, but ${label} cannot run commands in its members; use an http(s) URL`,
        });
    }
  });
  refusedFields.add(schema, { refused: refusalsFor(capabilities, label, options.why) });
  return schema;
}

function refinedScaler<T extends z.ZodRawShape>(type: string, shape: T) {
  return z.strictObject({ type: z.literal(type), id, ...shape }).superRefine((value, ctx) => {
    const v = value as { min: number; max: number };
    if (v.min > v.max) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: `min (${v.min}) is greater than max (${v.max})` });
    }
  });
}

/** Every common field (the form without capabilities, for a scaler that declares none yet). */
export const scalerCommon = {
  ...scalerBase,
  on_shutdown: onShutdown,
  busy_check: busyCheck(true),
  drain: drain(true),
  drain_timeout: drainTimeout,
  force_after: forceAfter,
};

export type ScalerCommon = z.output<z.ZodObject<typeof scalerCommon>>;
