/**
 * The policy connector: reads one metric from each event of its source and asks its scaler
 * for a count, with a reason. The maths is `evaluatePolicy` (src/policy); this file only
 * wires it: the metric from a JSONata expression, `current` from the scaler's last
 * observation (starting members included), state kept in ctx.state so windows and
 * cooldowns survive a restart, and time from ctx.clock.
 *
 *   <from>.output ─metric─▶ evaluatePolicy ─desired─▶ <to>.input   (null: hold, send nothing)
 *   <from>.error  ─────────▶ evaluatePolicy as a failed reading (on_error)
 *   no event for stale_after ─▶ a failed reading too, once per stale_after (timer on ctx.clock)
 *
 * A reading the policy cannot use (missing field, NaN, negative) holds the count and is an
 * error event on `connector.<id>.error`, so it shows where people look for problems.
 */
import { z } from 'zod';
import type { TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/context.js';
import { formatDuration } from '../core/duration.js';
import { connectorSchema } from '../core/schema.js';
import type { ComponentContext, ConnectorDefinition, EventData, WaymondEvent } from '../core/types.js';
import {
  evaluatePolicy,
  initialPolicyState,
  optionalDuration,
  type PolicyInput,
  type PolicyState,
  policySchemaShape,
  refinePolicy,
} from '../policy/index.js';
import { compileJsonata, JsonataError } from './transforms/jsonata.js';

const ADDRESS = /^(trigger|connector)\.[A-Za-z0-9_][A-Za-z0-9_-]*$/;
const SCALER_ADDRESS = /^scaler\.[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** Why `expression` does not compile, or undefined. */
export function metricProblem(expression: string): string | undefined {
  try {
    compileJsonata(expression);
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

/** A JSONata `metric` field, checked at load time. */
export function metricField(description: string) {
  return z
    .string()
    .min(1)
    .default('value')
    .superRefine((expression, ctx) => {
      const problem = metricProblem(expression);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(description);
}

// `from` and `to` are narrowed with extend (a key repeated in the shape would not narrow the type).
const schema = connectorSchema('policy', {
  metric: metricField(
    'JSONata expression over the event data giving the metric, a number ≥ 0 (default `value`, e.g. `jobs.waiting` or `scheduled - running`).',
  ),
  label: z
    .string()
    .min(1)
    .optional()
    .describe('How reasons name the metric (default: the id of `from`, e.g. `queue` for trigger.queue).'),
  stale_after: optionalDuration(
    'When no event has come from `from` for this long, count a missing reading (a failure toward error_after), and again each time this much more passes. Default: never.',
  ),
  ...policySchemaShape,
})
  .extend({
    // One source: a policy turns one metric into one count. Several sources go through `combine`.
    from: z
      .string()
      .regex(
        ADDRESS,
        'expected one address like "trigger.<id>" or "connector.<id>" (to read several sources, combine them with a `combine` connector first)',
      )
      .describe('The address whose events carry the metric (a trigger, or a `combine` connector).'),
    to: z
      .string()
      .regex(SCALER_ADDRESS, 'expected a scaler address like "scaler.<id>": a policy decides a count for a scaler')
      .describe('The scaler (`scaler.<id>`) this policy sets the count of; a cascade scaler works too.'),
  })
  .superRefine(refinePolicy);

type Config = z.output<typeof schema>;

const STATE_KEY = 'policy';

/** Turns what the metric expression produced into a policy input (a reading or a failure). */
export function readingFrom(value: unknown, metric: string): { metric: number } | { error: string } {
  if (value === undefined) return { error: `metric \`${metric}\` found nothing in the event` };
  if (typeof value !== 'number') return { error: `metric \`${metric}\` is not a number: ${JSON.stringify(value)}` };
  // NaN, infinite and negative numbers are evaluatePolicy's to describe (it words them for reasons).
  return { metric: value };
}

class PolicyConnector {
  private readonly evaluate: (data: EventData) => Promise<unknown>;
  private readonly label: string;
  private staleTimer: TimerHandle | null = null;
  private stopped = false;

  constructor(
    private readonly config: Config,
    private readonly ctx: ComponentContext,
  ) {
    this.evaluate = compileJsonata(config.metric);
    this.label = config.label ?? config.from.slice(config.from.indexOf('.') + 1);
    // Scalers are created before connectors, so a missing one is a config mistake, said at start.
    if (!ctx.scalers.get(config.to)) {
      throw new Error(`${ctx.address}: to = "${config.to}" is not a running scaler`);
    }
    this.armStaleTimer();
  }

  async handle(event: WaymondEvent): Promise<EventData[]> {
    this.armStaleTimer();
    let reading: { metric: number } | { error: string };
    try {
      reading = readingFrom(await this.evaluate(event.data), this.config.metric);
    } catch (error) {
      reading = { error: error instanceof JsonataError ? error.message : errorMessage(error) };
    }
    const include = this.includeOf(event.data);
    const upcoming = this.config.forecast?.upcoming;
    const ahead = upcoming === undefined ? undefined : event.data[upcoming];
    const upstream = typeof event.data.reason === 'string' ? event.data.reason : undefined;
    return this.decide(reading, include, event, upstream, true, typeof ahead === 'number' ? ahead : undefined);
  }

  /** An error event of the source is a failed reading: the policy's on_error decides. */
  handleError(event: WaymondEvent): EventData[] {
    this.armStaleTimer();
    const error = typeof event.data.error === 'string' ? event.data.error : 'source reported an error';
    return this.decide({ error: `${event.source}: ${error}` }, undefined, event, undefined, false);
  }

  stop(): void {
    this.stopped = true;
    this.staleTimer?.cancel();
  }

  private includeOf(data: EventData): number | undefined {
    const name = this.config.include;
    if (name === undefined) return undefined;
    const value = data[name];
    if (value === undefined) return undefined;
    // A non-number becomes NaN so evaluatePolicy reports it ("running work ... is not a number").
    return typeof value === 'number' ? value : Number.NaN;
  }

  /**
   * One evaluation. Synchronous from reading the state to writing it, so two events handled
   * at once cannot both start from the same state and lose one's windows or cooldowns.
   */
  private decide(
    reading: { metric: number } | { error: string },
    include: number | undefined,
    event: WaymondEvent | undefined,
    upstream: string | undefined,
    /** False for a source's own error event: it was reported once already, by the source. */
    reportError: boolean,
    /** forecast.upcoming's count in the event, if any. */
    upcoming?: number,
  ): EventData[] {
    const { ctx, config } = this;
    const target = ctx.scalers.get(config.to);
    if (!target) {
      ctx.emitError(new Error(`${config.to} is not running: the policy holds`), { to: config.to });
      return [];
    }
    // `current` is the count of the target the policy's output is for: the scaler files an
    // input under its targetKey of the data sent ({ desired, reason, metric }: no target field,
    // so a keyed scaler's configured one), not the sum over all of a keyed scaler's targets.
    const key = target.targetOf({});
    const observed = target.lastObserved(key);
    const current = currentOf(observed?.count, target.lastDesired(key));
    // Members with startedAt/ready: a jobs policy measures their start-up (src/policy/startup.ts).
    const members = observed?.members;
    const input: PolicyInput = { current: current.count, label: this.label, ...reading, include, members, upcoming };
    const state = ctx.state.get<PolicyState>(STATE_KEY) ?? initialPolicyState();
    const decision = evaluatePolicy(config, state, input, ctx.clock.now());
    ctx.state.set(STATE_KEY, decision.state);
    const reason = [decision.reason, current.note, upstream ? `${this.label}: ${upstream}` : undefined]
      .filter((part) => part !== undefined)
      .join('; ');
    const eventFields = event ? { event_id: event.id, from: event.source } : {};
    const unusable = 'error' in reading || !isUsableMetric(reading.metric);
    if (unusable && reportError) ctx.emitError(new Error(reason), eventFields);
    if (decision.desired === null) {
      ctx.logger.debug({ ...eventFields, reason }, 'policy holds');
      return [];
    }
    ctx.logger.info({ ...eventFields, desired: decision.desired, reason }, 'policy decided');
    const metric = 'metric' in reading ? reading.metric : null;
    return [{ desired: decision.desired, reason, metric }];
  }

  /** Re-armed by every event; fires once per stale_after of silence, each a missing reading. */
  private armStaleTimer(): void {
    const after = this.config.stale_after;
    if (after === undefined || this.stopped) return;
    this.staleTimer?.cancel();
    this.staleTimer = this.ctx.clock.setTimeout(() => {
      this.staleTimer = null;
      const error = `no event from ${this.config.from} for ${formatDuration(after)} (stale_after)`;
      const outputs = this.decide({ error }, undefined, undefined, undefined, true);
      // The timer has no caller to hand outputs to: deliver them as the engine would.
      for (const data of outputs) {
        this.ctx.emit(data);
        this.ctx.bus.emit(`${this.config.to}.input`, this.ctx.address, data);
      }
      this.armStaleTimer();
    }, after);
  }
}

/** What evaluatePolicy treats as a failed reading (it words why in its reason). */
function isUsableMetric(value: number): boolean {
  return Number.isFinite(value) && value >= 0;
}

/**
 * The count the policy is relative to. Before the scaler's first observation it falls back
 * to what it was last asked for (restored after a restart), else 0, and says so: a reason
 * built on a guess must not read like one built on an observation.
 */
export function currentOf(observed: number | undefined, desired: number | undefined): { count: number; note?: string } {
  if (observed !== undefined) return { count: observed };
  if (desired !== undefined)
    return { count: desired, note: `target not observed yet, current taken as its last desired ${desired}` };
  return { count: 0, note: 'target not observed yet, current taken as 0' };
}

export const policy: ConnectorDefinition<typeof schema> = {
  kind: 'connector',
  type: 'policy',
  summary:
    'Turns a metric into a desired count with a reason (target value, per replica, jobs, steps, threshold, fixed, pass-through), with scale-up/down behaviour, activation, schedules and on_error.',
  schema,
  example: `[[connect]]
type = "policy"
id = "agents_for_queue"
from = "trigger.queue"
to = "scaler.agents"
metric = "jobs.waiting"
strategy = "per_replica"
per_replica = 3
max = 20
stale_after = "2m"
error_after = 2
[connect.scale_down]
stabilization_window = "5m"`,
  create(config, ctx) {
    return new PolicyConnector(config, ctx);
  },
};
