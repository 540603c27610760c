/**
 * The policy's configuration, as zod fields a connector spreads into its own schema:
 *
 *   const schema = connectorSchema('policy', { ...policySchemaShape, metric: ... })
 *     .superRefine(refinePolicy);
 *
 * The shape is flat (no nested `strategy` table) to keep TOML short; `refinePolicy` checks
 * what a flat shape cannot: the fields each strategy needs, and fields that belong to another
 * strategy (a `target` under `strategy = "steps"` is a mistake worth reporting).
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { duration } from '../core/duration.js';
import { parseChange } from './strategies.js';

export const STRATEGIES = [
  'target_value',
  'per_replica',
  'jobs',
  'steps',
  'threshold',
  'fixed',
  'pass_through',
] as const;
export type StrategyName = (typeof STRATEGIES)[number];

const change = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const parsed = parseChange(value);
    if (!parsed) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a change like "+2", "-1", "+25%", "-10%" or "=5", found ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return parsed;
  })
  .describe('How to change the count: "+N", "-N", "+P%", "-P%" (of the current count) or "=N" (exactly N).');

const stepBand = z.strictObject({
  lower: z.number().optional().describe('Lower bound of the band, relative to `threshold`; absent: no lower bound.'),
  upper: z.number().optional().describe('Upper bound of the band, relative to `threshold`; absent: no upper bound.'),
  change,
});

const ratePolicy = z.strictObject({
  type: z.enum(['count', 'percent']).describe('Limit the change to `value` members (`count`) or `value` percent.'),
  value: z.number().positive().describe('Members or percent allowed per period.'),
  period: duration('The period the limit applies to; changes made inside it count against it.'),
});

function scalingRules(direction: 'up' | 'down', defaultWindow: number) {
  const word = direction === 'up' ? 'up' : 'down';
  return z
    .strictObject({
      stabilization_window: duration(
        direction === 'up'
          ? 'Scale up only to the lowest recommendation seen in this window (default 0s: at once).'
          : 'Scale down only to the highest recommendation seen in this window (default 300s), so a brief dip does not remove members needed again a moment later.',
      ).default(defaultWindow),
      policies: z
        .array(ratePolicy)
        .min(1)
        .optional()
        .describe(
          direction === 'up'
            ? 'Rate limits for scaling up; default (as the HPA): 100% or 4 members per 15s, whichever is more.'
            : 'Rate limits for scaling down; default (as the HPA): 100% per 15s.',
        ),
      select: z
        .enum(['max', 'min', 'disabled'])
        .default('max')
        .describe(
          `Which policy wins: the one allowing most change (\`max\`), least (\`min\`), or never scale ${word} (\`disabled\`).`,
        ),
      cooldown: duration(`After scaling ${word}, wait this long before scaling ${word} again.`).default(0),
    })
    .prefault({})
    .describe(`How fast and how eagerly to scale ${word}.`);
}

const scheduleWindow = z
  .strictObject({
    name: z.string().optional().describe('Name shown in reasons.'),
    cron: z
      .string()
      .describe('When the window opens: a cron expression (5 fields, or 6 with seconds first).')
      .superRefine((expression, ctx) => {
        try {
          new Cron(expression, { paused: true });
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: `invalid cron expression: ${(error as Error).message}` });
        }
      }),
    duration: duration('How long the window stays open each time it opens.'),
    min: z.number().int().nonnegative().optional().describe('Lowest count while the window is open.'),
    max: z.number().int().nonnegative().optional().describe('Highest count while the window is open.'),
    timezone: z
      .string()
      .optional()
      .describe('IANA time zone the cron expression is read in (default UTC).')
      .superRefine((tz, ctx) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
        } catch {
          ctx.addIssue({ code: 'custom', message: `unknown time zone "${tz}"` });
        }
      }),
  })
  .refine((w) => w.min !== undefined || w.max !== undefined, { message: 'a schedule needs `min`, `max` or both' })
  .refine((w) => w.min === undefined || w.max === undefined || w.min <= w.max, {
    message: "a schedule's `min` is greater than its `max`",
  });

const DAY_MS = 86_400_000;

const forecastBlock = z
  .strictObject({
    mode: z
      .literal('arrivals')
      .default('arrivals')
      .describe(
        'What is forecast: `arrivals`, the arrival rate learned per time of week and time of day from the readings (the only mode).',
      ),
    min_history: duration(
      'No forecast until this much history has been learned (default 24h: one of each time of day; AWS predictive scaling also needs 24 h).',
    ).default(DAY_MS),
    lookahead: z
      .union([z.literal('startup'), duration('A fixed look-ahead.')])
      .default('startup')
      .describe(
        'How far ahead the forecast is read: `startup` (default: the start-up time in force, observed or configured, so members are ready when the load comes) or a duration.',
      ),
    upcoming: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Structural look-ahead: an event field counting jobs of started builds that are not runnable yet (Buildkite `waiting_jobs_count`: jobs behind a wait step or a dependency). With a target tighter than a start-up, members start for them now, sized like waiting jobs, so they are ready when the build reaches them.',
      ),
    bucket: duration(
      'Width of the profile buckets (default 15m; from 1m to 1h, dividing a day). A changed width starts a new profile.',
    )
      .default(900_000)
      .refine((ms) => ms >= 60_000 && ms <= 3_600_000 && DAY_MS % ms === 0, {
        message: 'a bucket from 1m to 1h that divides a day (e.g. "5m", "15m", "1h")',
      }),
  })
  .describe(
    'jobs: warm capacity ahead of demand. Learns the arrival rate per time of week (and of day) from the readings, kept in the component state, and from `min_history` on asks, one look-ahead early, for the members that rate will keep busy plus their spare.',
  );

/** `.optional()` makes a new schema without the description, so it is described again. */
export function optionalDuration(description: string) {
  return duration(description).optional().describe(description);
}

export const policySchemaShape = {
  strategy: z
    .enum(STRATEGIES)
    .describe(
      'How the metric becomes a count: target_value, per_replica, jobs, steps, threshold, fixed or pass_through.',
    ),
  target: z
    .number()
    .positive()
    .optional()
    .describe('target_value: the metric value per member to aim for (HPA target).'),
  tolerance: z
    .number()
    .nonnegative()
    .optional()
    .describe(
      'target_value and per_replica: no change while the usage ratio (metric / target, or work / (per_replica × current)) is within 1 ± tolerance (default 0.1, as the HPA; 0 turns it off).',
    ),
  per_replica: z
    .number()
    .positive()
    .optional()
    .describe('per_replica: units of work one member handles (e.g. 3 jobs per agent).'),
  include: z
    .string()
    .optional()
    .describe(
      'per_replica and jobs: name of a second event field holding work already running (e.g. running jobs), added to the metric.',
    ),
  target_wait: optionalDuration(
    'jobs: the queue wait to meet (p95), e.g. "30s"; from it and `startup` the policy chooses its spare members and how long it keeps idle ones (the scale-down window).',
  ),
  startup: optionalDuration(
    'jobs: how long a new member takes from start to taking work (boot, register), e.g. "90s". It seeds the start-up the policy then measures on the target\'s members (start to ready, when the scaler reports `ready`) and uses instead.',
  ),
  forecast: forecastBlock
    .optional()
    .describe(
      'jobs: warm capacity ahead of demand, e.g. `{ mode = "arrivals", min_history = "24h", lookahead = "startup" }`: a learned arrival profile (time of week × time of day) read one start-up ahead; no forecast before `min_history`.',
    ),
  job_duration: optionalDuration(
    "jobs: the typical job duration when it is known; default: estimated from the readings (arrival rate and running jobs, by Little's law).",
  ),
  threshold: z
    .number()
    .optional()
    .describe('steps: the alarm threshold step bounds are relative to (default 0: bounds are absolute).'),
  steps: z
    .array(stepBand)
    .min(1)
    .optional()
    .describe(
      'steps: bands `{ lower, upper, change }` (AWS step adjustments); at or above the threshold lower is inclusive, below it upper is.',
    ),
  min_adjustment: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('steps: a percentage change moves at least this many members (AWS MinAdjustmentMagnitude).'),
  lower_bound: z.number().optional().describe('threshold: the metric is within bounds at or above this value.'),
  upper_bound: z.number().optional().describe('threshold: the metric is within bounds below this value.'),
  within_bounds_trigger: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('threshold: consecutive readings within bounds before the action applies (default 5).'),
  delta: z.number().int().optional().describe('threshold: members to add (or remove, negative).'),
  percentage: z
    .number()
    .optional()
    .describe('threshold: percent of the current count to add (or remove, negative); rounds up.'),
  value: z.number().int().nonnegative().optional().describe('threshold or fixed: the count to set.'),
  min: z.number().int().nonnegative().default(0).describe('Lowest count this policy asks for.'),
  max: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe("Highest count this policy asks for (default: no limit but the scaler's)."),
  scale_up: scalingRules('up', 0),
  scale_down: scalingRules('down', 300_000),
  activation: z
    .number()
    .optional()
    .describe(
      'While at zero, a metric at or below this keeps the target at zero (KEDA activation); above it, scaling starts.',
    ),
  idle_after: optionalDuration(
    'Go to zero only after the metric has stayed at or below `activation` (or zero) this long; until then keep at least one.',
  ),
  on_error: z
    .enum(['hold', 'fallback'])
    .optional()
    .describe(
      'When the metric fails: `hold` (keep the count; default) or `fallback` (ask for `fallback` members). Never scales down.',
    ),
  fallback: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('The count to ask for while the metric fails (sets on_error = "fallback").'),
  fallback_mode: z
    .enum(['static', 'current_if_higher'])
    .default('static')
    .describe(
      'Both ask for `fallback` when it is above current. Below current, both hold, since a failing source never scales down; `current_if_higher` (KEDA\'s name) only says so as "keeps current".',
    ),
  error_after: z
    .number()
    .int()
    .positive()
    .default(1)
    .describe('Consecutive failed or missing readings before on_error applies; before that the count holds.'),
  schedules: z
    .array(scheduleWindow)
    .optional()
    .describe('Windows `{ cron, duration, min, max, timezone }` that replace min/max while open.'),
};

export const policySchema = z.strictObject(policySchemaShape);
export type PolicyConfig = z.output<typeof policySchema>;
export type PolicyConfigInput = z.input<typeof policySchema>;

export interface ConfigProblem {
  path: string[];
  message: string;
}

type FieldName = keyof typeof policySchemaShape;

const STRATEGY_FIELDS: Record<StrategyName, FieldName[]> = {
  target_value: ['target', 'tolerance'],
  per_replica: ['per_replica', 'include', 'tolerance'],
  jobs: ['include', 'target_wait', 'startup', 'job_duration', 'forecast'],
  steps: ['steps', 'threshold', 'min_adjustment'],
  threshold: ['lower_bound', 'upper_bound', 'within_bounds_trigger', 'delta', 'percentage', 'value'],
  fixed: ['value'],
  pass_through: [],
};

const OWNED = new Set<FieldName>(Object.values(STRATEGY_FIELDS).flat());

/** What a flat schema cannot check, as sentences with the field's path. Empty when fine. */
export function policyConfigProblems(config: PolicyConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (field: string, message: string) => problems.push({ path: [field], message });
  const mine = STRATEGY_FIELDS[config.strategy];
  for (const field of OWNED) {
    if (config[field] !== undefined && !mine.includes(field)) {
      const owners = STRATEGIES.filter((s) => STRATEGY_FIELDS[s].includes(field)).join(' or ');
      add(field, `\`${field}\` applies to strategy ${owners}, not ${config.strategy}`);
    }
  }
  if (config.strategy === 'target_value' && config.target === undefined)
    add('target', 'strategy target_value needs `target`');
  if (config.strategy === 'per_replica' && config.per_replica === undefined) {
    add('per_replica', 'strategy per_replica needs `per_replica`');
  }
  if (config.strategy === 'jobs') {
    if (config.target_wait === undefined) add('target_wait', 'strategy jobs needs `target_wait` (e.g. "30s")');
    if (config.startup === undefined) add('startup', 'strategy jobs needs `startup` (e.g. "90s")');
  }
  if (config.strategy === 'steps' && config.steps === undefined) add('steps', 'strategy steps needs `steps`');
  if (config.strategy === 'fixed' && config.value === undefined) add('value', 'strategy fixed needs `value`');
  if (config.strategy === 'threshold') {
    if (config.lower_bound === undefined && config.upper_bound === undefined) {
      add('lower_bound', 'strategy threshold needs `lower_bound`, `upper_bound` or both');
    }
    const actions = (['delta', 'percentage', 'value'] as const).filter((f) => config[f] !== undefined);
    if (actions.length !== 1) {
      add(
        actions[1] ?? 'delta',
        `strategy threshold needs exactly one of \`delta\`, \`percentage\` or \`value\`, found ${actions.length}`,
      );
    }
    if (
      config.lower_bound !== undefined &&
      config.upper_bound !== undefined &&
      config.lower_bound >= config.upper_bound
    ) {
      add('lower_bound', `lower_bound (${config.lower_bound}) must be below upper_bound (${config.upper_bound})`);
    }
  }
  if (config.max !== undefined && config.min > config.max)
    add('min', `min (${config.min}) is greater than max (${config.max})`);
  if (config.on_error === 'fallback' && config.fallback === undefined)
    add('fallback', 'on_error = "fallback" needs `fallback`');
  if (config.on_error === 'hold' && config.fallback !== undefined) {
    add('fallback', '`fallback` is set but on_error is "hold"; remove one of them');
  }
  return problems;
}

/** For `.superRefine(refinePolicy)` on a schema that spreads `policySchemaShape`. */
export function refinePolicy(
  config: PolicyConfig,
  ctx: { addIssue(issue: { code: 'custom'; path: string[]; message: string }): void },
): void {
  for (const problem of policyConfigProblems(config)) ctx.addIssue({ code: 'custom', ...problem });
}

/** Parses a policy on its own (tests, the simulator). Throws a ZodError on bad config. */
export function parsePolicyConfig(input: unknown): PolicyConfig {
  return policySchema.superRefine(refinePolicy).parse(input);
}
