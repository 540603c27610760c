/**
 * What the CI job-queue triggers (github_actions, gitlab) share: matching a job to a
 * runner's labels, a book of tracked jobs kept in ctx.state (so a restart keeps the
 * counts), a bounded memory of webhook deliveries already handled, and one lifecycle
 * (webhooks, polling, or both).
 */
import type { Clock } from '../../core/clock.js';
import type { ComponentContext, ComponentState, EventData, Trigger } from '../../core/types.js';
import { requireEnvToken } from '../poller.js';

/**
 * Whether a runner with `runnerLabels` can take a job asking for `jobLabels`: every label
 * of the job must be one of the runner's, compared case-insensitively (GitHub `runs-on`
 * and GitLab `tags` both work this way). A job asking for nothing matches only when
 * `matchUnlabelled` is set (GitLab's `run_untagged`).
 */
export function labelsMatch(jobLabels: readonly string[], runnerLabels: readonly string[], matchUnlabelled = false) {
  if (jobLabels.length === 0) return matchUnlabelled;
  const runner = new Set(runnerLabels.map((l) => l.toLowerCase()));
  return jobLabels.every((l) => runner.has(l.toLowerCase()));
}

export type JobStatus = 'queued' | 'waiting' | 'in_progress' | 'completed';

export interface TrackedJob {
  status: JobStatus;
  labels: string[];
  /** Clock time of the last change. */
  updated: number;
}

export interface JobCounts {
  queued: number;
  waiting: number;
  in_progress: number;
}

// A job only moves forward; a late "queued" delivered after "in_progress" must not undo it.
const RANK: Record<JobStatus, number> = { queued: 0, waiting: 0, in_progress: 1, completed: 2 };

/**
 * The jobs a trigger tracks, keyed by job id, persisted under one ctx.state key. Completed
 * jobs stay as tombstones until `forgetAfter`, so an out-of-order delivery cannot revive
 * them; unfinished jobs not heard of for `forgetAfter` are dropped, so a missed
 * "completed" webhook cannot hold a count up forever.
 */
export class JobBook {
  private jobs: Record<string, TrackedJob>;

  constructor(
    private readonly state: ComponentState,
    private readonly clock: Clock,
    private readonly forgetAfter: number,
    private readonly key = 'jobs',
  ) {
    this.jobs = { ...(state.get<Record<string, TrackedJob>>(key) ?? {}) };
  }

  /** Records a status for one job; returns whether the counts may have changed. */
  apply(id: string, status: JobStatus, labels: string[]): boolean {
    const current = this.jobs[id];
    if (current && RANK[status] < RANK[current.status]) return false;
    if (current && current.status === status) return false;
    this.jobs[id] = { status, labels, updated: this.clock.now() };
    this.prune();
    this.save();
    return true;
  }

  /**
   * Replaces every unfinished job with what a poll found: the source's own list is the
   * truth and corrects drift from missed webhooks. Tombstones win over a poll that raced
   * with a "completed" delivery.
   */
  replaceUnfinished(found: Map<string, { status: JobStatus; labels: string[] }>): void {
    const now = this.clock.now();
    const next: Record<string, TrackedJob> = {};
    for (const [id, job] of Object.entries(this.jobs)) if (job.status === 'completed') next[id] = job;
    for (const [id, job] of found) {
      if (next[id]) continue;
      const before = this.jobs[id];
      next[id] = before && RANK[before.status] > RANK[job.status] ? before : { ...job, updated: now };
    }
    this.jobs = next;
    this.prune();
    this.save();
  }

  counts(): JobCounts {
    this.prune();
    const counts: JobCounts = { queued: 0, waiting: 0, in_progress: 0 };
    for (const job of Object.values(this.jobs)) if (job.status !== 'completed') counts[job.status]++;
    return counts;
  }

  /** One tracked job, if any. */
  get(id: string): Readonly<TrackedJob> | undefined {
    return this.jobs[id];
  }

  /** Ids of the unfinished jobs (for tests and the dashboard). */
  unfinished(): string[] {
    return Object.entries(this.jobs)
      .filter(([, job]) => job.status !== 'completed')
      .map(([id]) => id);
  }

  private prune(): void {
    const horizon = this.clock.now() - this.forgetAfter;
    for (const [id, job] of Object.entries(this.jobs)) if (job.updated < horizon) delete this.jobs[id];
  }

  private save(): void {
    this.state.set(this.key, this.jobs);
  }
}

/** Remembers the last `capacity` delivery ids, oldest forgotten first. */
export class DeliveryLog {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 1000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }
}

/** The API poller of a job-queue trigger, and the token it cannot poll without. */
export interface TokenPolling {
  poller: Trigger;
  tokenEnv: string;
  missingToken: () => Error;
}

export interface JobQueueLifecycle {
  /** Present when polling is on (`poll = true`); otherwise webhooks alone keep the book. */
  polling?: TokenPolling | undefined;
  /** Name of the environment variable holding the webhook secret, when one is configured. */
  webhookSecretEnv?: string | undefined;
  /** Webhooks call the API too (GitLab looks each job's tags up), so they need the token. */
  webhookToken?: { tokenEnv: string; missingToken: () => Error };
  /** The counts event, tagged with where it came from ("poll", "webhook", "state"). */
  snapshot(source: string): EventData;
}

/**
 * The start/stop/fire of a CI job-queue trigger (github_actions, gitlab): a webhook secret
 * variable that is not set is reported at start (webhooks then answer 503); with polling,
 * a missing token is reported once at start and on every fire, never turned into a zero;
 * webhook-only, firing emits the tracked counts.
 */
export function jobQueueTrigger(ctx: ComponentContext, lifecycle: JobQueueLifecycle): Trigger {
  const polling = lifecycle.polling
    ? requireEnvToken(lifecycle.polling.poller, ctx, lifecycle.polling.tokenEnv, lifecycle.polling.missingToken)
    : undefined;
  return {
    start() {
      const secretEnv = lifecycle.webhookSecretEnv;
      if (secretEnv && !process.env[secretEnv]) {
        ctx.emitError(new Error(`${ctx.address}: environment variable ${secretEnv} is not set; webhooks answer 503`));
      }
      if (polling) return polling.start();
      const webhookToken = lifecycle.webhookToken;
      if (webhookToken && !process.env[webhookToken.tokenEnv]) ctx.emitError(webhookToken.missingToken());
    },
    async stop() {
      await polling?.stop();
    },
    fire(input) {
      // Webhook-only: the tracked state is the answer. With polling, a missing token is an
      // error, never a made-up zero.
      if (!polling) {
        ctx.emit(lifecycle.snapshot('state'));
        return;
      }
      return polling.fire(input);
    },
    problem() {
      return polling?.problem();
    },
  };
}
