/**
 * The cascade scaler: one desired count over ordered tiers ("agents as processes on the big
 * VM first, then the EC2 group"). It changes no target itself: each tier is a scaler of its
 * own, reconciled by its own Reconciler, which the cascade asks for a count with
 * `reconcileNow` (so each tier stays single-flight and keeps its min/max, retries and
 * resync). The split is `allocateTiers` (src/policy/cascade.ts): fill tier 1 up to its
 * capacity, overflow to the next; remove from the last tier first.
 *
 * What a tier has now is its Reconciler's last observation of the target the cascade routes
 * to (taken again after each apply, so members still starting count). A tier that serves
 * several targets (an aws_ec2_asg tier with one group per queue) is read for the target the
 * cascade's data names: the same key (`targetOf(data)`) its Reconciler files the run under. Each run's outcome comes from `<tier>.result`:
 *
 * - A tier whose last run failed is full at what it has: its new members go to the next
 *   tier at once. It is tried first again once one of its runs succeeds (its own retries).
 * - A tier whose observation stays below what the cascade asked longer than
 *   `overflow_after` (a full VM, a hit quota: `trackOverflow`) counts as full at what it
 *   has; observe() then reports the cascade short, so its next reconcile moves the
 *   shortfall to the next tier. Its observation is refreshed only by its own runs, so
 *   overflow_after should be longer than the tier's resync_interval.
 *
 * The cascade does not rebalance: at an unchanged total it moves nothing between tiers, so
 * a member is never stopped only to start one on an earlier tier that has room again (that
 * room is used by the next scale-up; a scale-down still empties the last tier first).
 *
 * observe() reports one member per tier (id = the tier's address, info: its count,
 * capacity, what it was asked) so /api/components shows where capacity sits.
 */
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { duration } from '../core/duration.js';
import { scalerSchema } from '../core/schema.js';
import type {
  ComponentContext,
  EventData,
  Member,
  Observation,
  Plan,
  ReconcileResult,
  ScalerDefinition,
  ScalerHandle,
} from '../core/types.js';
import { allocateTiers, type Tier, trackOverflow } from '../policy/index.js';

const SCALER_ADDRESS = /^scaler\.[A-Za-z0-9_][A-Za-z0-9_-]*$/;

const tierSchema = z.strictObject({
  scaler: z
    .string()
    .regex(SCALER_ADDRESS, 'expected a scaler address like "scaler.<id>"')
    .describe('The scaler of this tier (`scaler.<id>`); it keeps its own min/max, retries and resync.'),
  capacity: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe("Most members this tier holds (also capped by the tier scaler's max); absent: unlimited."),
});

const CASCADE_CAPABILITIES = { members: false, runInMember: false, stopAll: false } as const;

const schema = scalerSchema(
  'cascade',
  {
    tiers: z
      .array(tierSchema)
      .min(1)
      .describe('Ordered tiers `{ scaler, capacity }`: tier 1 fills first, the last one empties first.'),
    overflow_after: duration(
      "A tier that stays below what it was asked for this long counts as full at what it has, and the rest goes to the next tier. Keep it above the tiers' resync_interval.",
    ).default(120_000),
  },
  CASCADE_CAPABILITIES,
  {
    why: {
      busy_check: 'set it on the tier scalers, which have the members',
      drain: 'set it on the tier scalers, which have the members',
      drain_timeout: 'set it on the tier scalers, which have the members',
      force_after: 'set it on the tier scalers, which have the members',
      on_shutdown: 'set it on the tier scalers, which have the members',
    },
  },
).superRefine((config, ctx) => {
  // A tier pointing at the cascade itself or at no scaler is a graph error (see `drives`).
  const seen = new Map<string, number>();
  for (const [i, tier] of config.tiers.entries()) {
    const earlier = seen.get(tier.scaler);
    if (earlier !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tiers', i, 'scaler'],
        message: `${tier.scaler} is already tier ${earlier + 1}`,
      });
    }
    seen.set(tier.scaler, i);
  }
});

type Config = z.output<typeof schema>;

interface TierBook {
  /** What the cascade last asked this tier for. */
  asked?: number;
  /** Since when its observation has been below `asked` (trackOverflow). */
  shortSince: number | null;
}

const BOOK_KEY = 'tiers';

interface TierView {
  address: string;
  handle: ScalerHandle;
  /** The tier's target the cascade routes to ('' for a tier with one target). */
  target: string;
  /** What it has now (its last observation, starting members included). */
  count: number;
  ready: number;
  failed: boolean;
  /** For allocateTiers: configured capacity, lowered by the tier's max or by overflow. */
  capacity: number | null;
  configured: number | null;
  limited: boolean;
  overflowReason?: string;
  members: string[];
}

class CascadeScaler {
  private outcomes = new Map<string, ReconcileResult['outcome']>();
  private unsubscribe: (() => void)[] = [];

  constructor(
    private readonly config: Config,
    private readonly ctx: ComponentContext,
  ) {
    // Tiers may be created after the cascade; the result topics exist before any run does.
    for (const tier of config.tiers) {
      this.unsubscribe.push(
        ctx.bus.subscribe(`${tier.scaler}.result`, ctx.address, (event) => {
          const outcome = event.data.outcome;
          if (outcome === 'ok' || outcome === 'error' || outcome === 'dry_run') this.outcomes.set(tier.scaler, outcome);
        }),
      );
    }
  }

  async observe(data: EventData): Promise<Observation> {
    const views = await this.view(data);
    return {
      count: views.reduce((sum, v) => sum + v.count, 0),
      ready: views.reduce((sum, v) => sum + v.ready, 0),
      members: views.map((v, i) => this.memberOf(v, i)),
    };
  }

  async apply(plan: Plan): Promise<void> {
    let views = await this.view(plan.data);
    let allocation = this.allocate(plan.desired, views);
    let failed = await this.setTiers(views, allocation.perTier, allocation.reason, plan.data);
    // A tier that fails now overflows at once: allocate again without it, at most once per tier.
    for (let pass = 0; failed.length > 0 && pass < views.length; pass++) {
      for (const f of failed) {
        this.outcomes.set(f.address, 'error');
        this.ctx.emitError(new Error(`tier ${f.address} failed, its share overflows: ${f.error}`), {
          tier: f.address,
        });
      }
      views = await this.view(plan.data);
      allocation = this.allocate(plan.desired, views);
      failed = await this.setTiers(views, allocation.perTier, allocation.reason, plan.data);
    }
    // Thrown, the reconciler records the decision as failed and retries later, when room may be back.
    if (allocation.unplaced > 0 || failed.length > 0) {
      throw new Error([allocation.reason, ...failed.map((f) => `${f.address} failed: ${f.error}`)].join('; '));
    }
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }

  private allocate(desired: number, views: TierView[]) {
    const tiers: Tier[] = views.map((v) => ({
      name: v.address,
      capacity: v.capacity,
      current: v.count,
      failed: v.failed,
    }));
    const allocation = allocateTiers(desired, tiers);
    const overflow = views.filter((v) => v.overflowReason).map((v) => v.overflowReason);
    const reason = [allocation.reason, ...overflow].join('; ');
    this.ctx.logger.info({ desired, per_tier: allocation.perTier }, reason);
    return { ...allocation, reason };
  }

  /** Sets each tier: shrinking ones last-first, then growing ones first-first. */
  private async setTiers(
    views: TierView[],
    perTier: number[],
    why: string,
    data: EventData,
  ): Promise<{ address: string; error: string }[]> {
    const order = [...views.keys()];
    const shrinking = order.filter((i) => (perTier[i] as number) < (views[i] as TierView).count).reverse();
    const rest = order.filter((i) => !shrinking.includes(i));
    const book = this.book();
    const failed: { address: string; error: string }[] = [];
    for (const i of [...shrinking, ...rest]) {
      const view = views[i] as TierView;
      const desired = perTier[i] as number;
      const entry = book[view.address] ?? { shortSince: null };
      // An unchanged tier that has what it was asked is left alone: no empty decisions on it.
      if (entry.asked === desired && view.count === desired && view.handle.lastDesired(view.target) === desired)
        continue;
      book[view.address] = { ...entry, asked: desired, shortSince: entry.asked === desired ? entry.shortSince : null };
      this.ctx.state.set(BOOK_KEY, book);
      const reason = `${this.ctx.address} tier ${i + 1}: ${why}`;
      let result: ReconcileResult;
      try {
        result = await view.handle.reconcileNow(desired, { ...data, desired, reason, cascade: this.ctx.address });
      } catch (error) {
        failed.push({ address: view.address, error: errorMessage(error) });
        continue;
      }
      if (result.outcome === 'error' || result.outcome === 'rejected')
        failed.push({ address: view.address, error: result.error ?? result.outcome });
    }
    return failed;
  }

  private readonly warnedMin = new Set<string>();

  private book(): Record<string, TierBook> {
    return this.ctx.state.get<Record<string, TierBook>>(BOOK_KEY) ?? {};
  }

  /** Each tier as the cascade sees it now, for the target `data` routes to; persists the overflow clocks. */
  private async view(data: EventData): Promise<TierView[]> {
    const book = this.book();
    const now = this.ctx.clock.now();
    const views: TierView[] = [];
    for (const tier of this.config.tiers) {
      const handle = this.ctx.scalers.get(tier.scaler);
      if (!handle) throw new Error(`tier ${tier.scaler} is not a running scaler`);
      if (handle.min > 0 && !this.warnedMin.has(tier.scaler)) {
        // The tier's own reconciler raises whatever the cascade asks to its min, so that tier never drains.
        this.warnedMin.add(tier.scaler);
        this.ctx.logger.warn(
          { tier: tier.scaler, min: handle.min },
          `tier ${tier.scaler} has min = ${handle.min}, so the cascade cannot empty it; set min on the cascade instead`,
        );
      }
      const target = handle.targetOf(data);
      let observation = handle.lastObserved(target);
      const lastDesired = handle.lastDesired(target);
      if (!observation && lastDesired !== undefined) {
        // After a restart: let the tier observe (re-asserting its own saved count) before counting it.
        await handle.reconcileNow(lastDesired, {
          ...data,
          desired: lastDesired,
          reason: `${this.ctx.address} reads its tiers after a start`,
        });
        observation = handle.lastObserved(target);
      }
      const observed = observation?.count ?? 0;
      const failed = this.outcomes.get(tier.scaler) === 'error';
      const configured = Math.min(tier.capacity ?? Number.POSITIVE_INFINITY, handle.max);
      const entry = book[tier.scaler] ?? { shortSince: null };
      const overflow =
        entry.asked === undefined || failed
          ? undefined
          : trackOverflow(
              { name: tier.scaler, asked: entry.asked, current: observed, capacity: finite(configured) },
              entry.shortSince,
              this.config.overflow_after,
              now,
            );
      book[tier.scaler] = { ...entry, shortSince: overflow?.shortSince ?? null };
      const limited = overflow?.limited ?? false;
      views.push({
        address: tier.scaler,
        handle,
        target,
        count: observed,
        ready: observation?.ready ?? observed,
        failed,
        capacity: finite(limited ? (overflow?.capacity ?? configured) : configured),
        configured: finite(configured),
        limited,
        ...(limited && overflow ? { overflowReason: overflow.reason } : {}),
        members: (observation?.members ?? []).map((m) => m.id),
      });
    }
    this.ctx.state.set(BOOK_KEY, book);
    return views;
  }

  private memberOf(view: TierView, index: number): Member {
    const asked = this.book()[view.address]?.asked;
    return {
      id: view.address,
      state: view.failed ? 'unknown' : 'running',
      ready: view.ready === view.count,
      info: {
        tier: index + 1,
        count: view.count,
        ready: view.ready,
        capacity: view.configured ?? 'unlimited',
        ...(asked !== undefined ? { asked } : {}),
        ...(view.failed ? { failed: true } : {}),
        ...(view.limited ? { overflowing: view.overflowReason } : {}),
        members: view.members,
      },
    };
  }
}

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

export const cascade: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'cascade',
  // It removes no member itself: busy-aware options belong on each tier's scaler.
  capabilities: CASCADE_CAPABILITIES,
  summary:
    'Splits one desired count over ordered tiers of other scalers: fills tier 1 to its capacity, overflows to the next, scales in from the last.',
  schema,
  example: `[[scaler]]
type = "cascade"
id = "ci_agents"
overflow_after = "3m"
tiers = [
  { scaler = "scaler.vm_agents", capacity = 8 },
  { scaler = "scaler.asg_agents" },
]

[[scaler]]
type = "process"
id = "vm_agents"
command = "buildkite-agent"
args = ["start"]

[[scaler]]
type = "aws_ec2_asg"
id = "asg_agents"
region = "eu-west-1"
asg_name = "ci-agents"`,
  drives: (config) => config.tiers.map((t) => t.scaler),
  create(config, ctx) {
    return new CascadeScaler(config, ctx);
  },
};
