/**
 * One Reconciler per scaler: the only place that changes a target.
 *
 *                 request(n)                              run done, nothing pending
 *    ┌──────┐ ───────────────▶ ┌─────────────┐ ──────────────────────────────────▶ ┌──────┐
 *    │ idle │                  │ reconciling │  observe → plan → apply → record    │ idle │
 *    └──────┘ ◀─ resync timer ─└─────────────┘                                     └──────┘
 *        ▲      (re-applies        │    ▲  request(m) while reconciling: pending = m
 *        │       last desired)     │    │  (latest wins; runs right after this one)
 *        │                         ▼    │
 *        │                   ┌─────────┐│ a new request cancels the wait
 *        └── retry fires ────│ backoff │┘ and runs at once
 *                            └─────────┘  delay = retry_initial·2^(n-1), equal jitter, ≤ retry_max
 *
 * A failure is classed (core/errors.ts). A transient one (network, 5xx, throttling, timeout)
 * takes the backoff above. A permanent one (401/403, not found, validation) makes the lane
 * `failing` with the reason (/readyz, /api/components): it is retried once per
 * resync_interval, and a new request waits for that retry instead of asking an API that
 * said no again at once (latest wins meanwhile). The first run that succeeds clears it.
 *
 * Scalers that serve several targets (one ASG per queue) get one lane per `targetKey`;
 * each lane is single-flight on its own. A lane is a target: its status, its decisions
 * (`target`), its metrics (label `target`) are its own, and the one number asked of the
 * whole scaler (`lastObserved()` without a key) is the sum over its targets. Every run, even
 * a failed one, is stored as a decision and published on `<address>.result`.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from './clock.js';
import { errorMessage } from './context.js';
import { classifyError } from './errors.js';
import { capEventData } from './event-cap.js';
import type { MetricsSink } from './metrics.js';
import type { Ownership } from './ownership.js';
import {
  backoffDelay,
  clampDesired,
  describeAction,
  joinNotes,
  keptNote,
  needsChange,
  newestFirst,
  readDesired,
  summarisePlan,
  sumObservations,
} from './plan.js';
import type { Store } from './store.js';
import type {
  Address,
  Bus,
  EventData,
  Member,
  Observation,
  Plan,
  ReconcileResult,
  Scaler,
  TargetStatus,
  WaymondEvent,
} from './types.js';

export interface ReconcilerSettings {
  min: number;
  max: number;
  count?: number;
  resync_interval: number;
  retry_initial: number;
  retry_max: number;
}

export type RemovalChooser = (members: Member[], count: number, data: EventData) => Promise<Member[]> | Member[];

export interface ReconcilerOptions {
  address: Address;
  scaler: Scaler;
  settings: ReconcilerSettings;
  clock: Clock;
  bus: Bus;
  store: Store;
  logger: Logger;
  dryRun?: boolean;
  metrics?: MetricsSink;
  random?: () => number;
  /** Picks which members go on scale-in (default newest first). */
  chooseRemovals?: RemovalChooser;
  /** In a cluster: run only while this instance holds the scaler's lease (src/core/ownership.ts). */
  ownership?: Ownership;
}

interface Job {
  desired: number;
  requested: number;
  data: EventData;
  sourceEventId: string | null;
  reason: string;
  waiters: ((result: ReconcileResult) => void)[];
  resync?: boolean;
}

interface Lane {
  key: string;
  running: Promise<void> | null;
  pending: Job | null;
  retryTimer: TimerHandle | null;
  attempt: number;
  lastDesired?: number;
  lastData: EventData;
  lastObserved?: Observation;
  /** The last finished reconcile, to recognise a resync that repeats it. */
  lastSignature?: string;
  /** Set while the last run failed with a permanent error: why, and since when. */
  failing?: { reason: string; since: number };
  /** The class of the last run's error (read by drain to pick the retry delay). */
  lastErrorClass?: 'transient' | 'permanent';
  /** The counts last handed to the metrics sink, so an unchanged one is not sent again. */
  reportedCurrent?: number;
  reportedDesired?: number;
  /** What a quiet resync returns, made once per desired count. */
  quietResult?: ReconcileResult;
}

/** A target whose last reconcile failed with an error that retrying soon cannot fix. */
export interface FailingTarget {
  target: string;
  reason: string;
  since: number;
}

const DESIRED_KEY = 'desired';

export class Reconciler {
  private lanes = new Map<string, Lane>();
  private resyncTimer: TimerHandle | null = null;
  private stopped = false;
  private readonly random: () => number;

  constructor(private readonly o: ReconcilerOptions) {
    this.random = o.random ?? Math.random;
    const saved = o.store.getState<Record<string, { desired: number; data: EventData }>>(o.address, DESIRED_KEY) ?? {};
    for (const [key, value] of Object.entries(saved)) {
      const lane = this.lane(key);
      lane.lastDesired = value.desired;
      lane.lastData = value.data;
    }
  }

  get address(): Address {
    return this.o.address;
  }
  get settings(): ReconcilerSettings {
    return this.o.settings;
  }

  /**
   * Starts the resync (on the clock's shared tick for its interval: one timer for every
   * scaler with the same `resync_interval`) and re-asserts the desired counts saved before
   * a restart.
   */
  start(): void {
    this.stopped = false;
    this.resyncTimer = this.o.clock.every(this.o.settings.resync_interval, () => this.resync());
    this.resync();
  }

  /** Handles an event on `<address>.input`: validate, clamp, request. Invalid input touches nothing. */
  handleInput(event: WaymondEvent): void {
    const read = readDesired(event.data, this.o.settings.count);
    if (!read.ok) {
      this.reject(event, read.error);
      return;
    }
    const reason =
      typeof event.data.reason === 'string' ? event.data.reason : `${read.field} ${read.desired} from ${event.source}`;
    this.request(read.desired, event.data, event.id, reason);
  }

  /** Asks for a count (latest wins per target). */
  request(desired: number, data: EventData, sourceEventId: string | null = null, reason = 'requested'): void {
    this.enqueue(desired, data, sourceEventId, reason);
  }

  /** Asks for a count and resolves with the result of the run that carried it out. */
  reconcileNow(
    desired: number,
    data: EventData,
    sourceEventId: string | null = null,
    reason = 'requested',
  ): Promise<ReconcileResult> {
    return new Promise((resolve) => this.enqueue(desired, data, sourceEventId, reason, resolve));
  }

  /** The target (lane) an input is for. */
  targetOf(data: EventData): string {
    return this.o.scaler.targetKey?.(data) ?? '';
  }

  /** Every target asked for or saved, sorted by key. */
  targets(): TargetStatus[] {
    return [...this.lanes.values()]
      .sort((a, b) => a.key.localeCompare(b.key))
      .map((lane) => ({
        target: lane.key,
        ...(lane.lastDesired !== undefined ? { desired: lane.lastDesired } : {}),
        ...(lane.lastObserved ? { observed: lane.lastObserved } : {}),
      }));
  }

  /** One target's last observation; without a key, the sum over every observed target. */
  lastObserved(key?: string): Observation | undefined {
    if (key !== undefined) return this.lanes.get(key)?.lastObserved;
    return sumObservations(this.targets());
  }

  /** One target's last desired count; without a key, the sum over every target. */
  lastDesired(key?: string): number | undefined {
    if (key !== undefined) return this.lanes.get(key)?.lastDesired;
    const known = this.targets().filter((t) => t.desired !== undefined);
    return known.length === 0 ? undefined : known.reduce((sum, t) => sum + (t.desired as number), 0);
  }

  /** Targets failing with a permanent error (empty when none): /readyz and /api/components name them. */
  failing(): FailingTarget[] {
    return [...this.lanes.values()]
      .filter((lane) => lane.failing !== undefined)
      .sort((a, b) => a.key.localeCompare(b.key))
      .map((lane) => ({ target: lane.key, ...(lane.failing as { reason: string; since: number }) }));
  }

  /** Resolves when no lane is running or waiting to run (retries excepted). */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.lanes.values()].filter((l) => l.running).map((l) => l.running);
      if (busy.length === 0) return;
      await Promise.allSettled(busy);
    }
  }

  /** Stops timers and waits up to `graceMs` for in-flight reconciles. */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopped = true;
    this.resyncTimer?.cancel();
    for (const lane of this.lanes.values()) {
      lane.retryTimer?.cancel();
      lane.retryTimer = null;
    }
    let timer: TimerHandle | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => {
        timer = this.o.clock.setTimeout(resolve, graceMs);
      }),
    ]);
    timer?.cancel();
  }

  private lane(key: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { key, running: null, pending: null, retryTimer: null, attempt: 0, lastData: {} };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /** Replaces the lane's pending job (latest wins); waiters of the replaced job wait for this one. */
  private enqueue(
    requested: number,
    data: EventData,
    sourceEventId: string | null,
    reason: string,
    waiter?: (result: ReconcileResult) => void,
  ): void {
    const { min, max } = this.o.settings;
    const clamp = clampDesired(requested, min, max);
    const lane = this.lane(this.targetOf(data));
    const waiters = lane.pending?.waiters ?? [];
    if (waiter) waiters.push(waiter);
    lane.pending = {
      desired: clamp.value,
      requested,
      data,
      sourceEventId,
      reason: clamp.note ? `${reason}, ${clamp.note}` : reason,
      waiters,
    };
    if (lane.retryTimer) {
      // A permanent failure is asked again once per resync interval, however many requests
      // arrive (a waiter, e.g. a cascade, is answered at once); a transient one's backoff is
      // not sat out by a fresh request.
      if (lane.failing && !waiter) return;
      lane.retryTimer.cancel();
      lane.retryTimer = null;
    }
    this.kick(lane);
  }

  private kick(lane: Lane): void {
    if (lane.running || !lane.pending || this.stopped) return;
    lane.running = this.drain(lane).finally(() => {
      lane.running = null;
      if (lane.pending && !lane.retryTimer) this.kick(lane);
    });
  }

  private async drain(lane: Lane): Promise<void> {
    while (lane.pending && !this.stopped) {
      const job = lane.pending;
      lane.pending = null;
      const result = await this.runOnce(lane, job);
      for (const resolve of job.waiters) resolve(result);
      if (result.outcome === 'error') {
        if (!lane.pending) {
          // Keep the failed job for the retry unless something newer arrived meanwhile.
          lane.pending = { ...job, waiters: [], reason: `retry of: ${job.reason}` };
        }
        let delay: number;
        if (lane.lastErrorClass === 'permanent') {
          delay = this.o.settings.resync_interval;
          this.o.logger.info({ delay_ms: delay }, 'reconcile failed permanently, retrying once per resync interval');
        } else {
          lane.attempt++;
          delay = backoffDelay(lane.attempt, this.o.settings.retry_initial, this.o.settings.retry_max, this.random);
          this.o.logger.info({ attempt: lane.attempt, delay_ms: delay }, 'reconcile failed, retrying after backoff');
        }
        lane.retryTimer = this.o.clock.setTimeout(() => {
          lane.retryTimer = null;
          this.kick(lane);
        }, delay);
        return;
      }
      lane.attempt = 0;
    }
  }

  private async runOnce(lane: Lane, job: Job): Promise<ReconcileResult> {
    const started = performance.now();
    const { address, scaler } = this.o;
    let observedCount: number | null = null;
    let action = 'none';
    if (this.o.ownership && !this.o.ownership.owns(address)) return this.standDown(lane, job);
    try {
      if (!this.o.dryRun) await scaler.housekeep?.(job.data);
      const observed = await scaler.observe(job.data);
      lane.lastObserved = observed;
      observedCount = observed.count;
      this.reportCurrent(lane, observed.count);
      this.reportDesired(lane, job.desired);
      // A resync re-applies the lane's own desired count and data: nothing new to store.
      const unchanged = lane.lastDesired === job.desired && lane.lastData === job.data;
      // (A lane that last failed goes through finish(), which clears its failure.)
      const settled = !lane.failing && lane.lastErrorClass === undefined;
      if (job.resync && unchanged && settled && !needsChange(observed, job.desired)) return this.quiet(lane, job);
      action = describeAction(observed.count, job.desired);
      if (lane.key) action += ` [${lane.key}]`;
      lane.lastDesired = job.desired;
      lane.lastData = job.data;
      if (!unchanged) this.saveDesired();
      if (!needsChange(observed, job.desired)) {
        return this.finish(lane, job, started, { outcome: 'ok', observed: observedCount, action });
      }
      const plan = await this.makePlan(observed, job);
      const kept = keptNote(observed, plan);
      if (this.o.dryRun) {
        const calls = scaler.describeApply?.(plan) ?? [];
        this.o.logger.info({ plan: summarisePlan(plan), calls }, 'dry run: would apply');
        const note = joinNotes(kept, calls.length > 0 ? `dry run, would call: ${calls.join('; ')}` : undefined);
        return this.finish(lane, job, started, { outcome: 'dry_run', observed: observedCount, action, note });
      }
      // The lease is proven, and what is applied recorded, atomically right before the apply.
      const fenced = await this.o.ownership?.fence(address, { target: lane.key, desired: job.desired, data: job.data });
      if (fenced === null) return this.standDown(lane, job);
      const applied = await scaler.apply(fenced?.token ? { ...plan, fence: fenced.token } : plan);
      await this.observeAfterApply(lane, job);
      const note = joinNotes(kept, applied && typeof applied === 'object' ? applied.note : undefined);
      return this.finish(lane, job, started, { outcome: 'ok', observed: observedCount, action, note });
    } catch (error) {
      const message = errorMessage(error);
      const kind = classifyError(error);
      lane.lastErrorClass = kind;
      this.noteFailure(lane, kind === 'permanent' ? message : undefined);
      this.o.logger.warn({ err: message, error_class: kind }, 'reconcile failed');
      this.o.bus.emit(`${address}.error`, address, { error: message, desired: job.desired, stage: 'reconcile' });
      return this.finish(lane, job, started, { outcome: 'error', observed: observedCount, action, error: message });
    }
  }

  /**
   * Observes again after a change, so the API, the metrics and policies reading `current`
   * see the members just started (counted while starting) instead of the count before.
   */
  private async observeAfterApply(lane: Lane, job: Job): Promise<void> {
    try {
      const after = await this.o.scaler.observe(job.data);
      lane.lastObserved = after;
      this.reportCurrent(lane, after.count);
    } catch (error) {
      this.o.logger.debug({ err: errorMessage(error) }, 'observe after apply failed; the next reconcile will observe');
    }
  }

  /**
   * A resync that found the target at its desired count: nothing to store, count, time or
   * publish (10,000 scalers on a 1 s resync would otherwise spend their time recording that
   * nothing happened). No one waits on a resync, so the result is the lane's cached one.
   */
  private quiet(lane: Lane, job: Job): ReconcileResult {
    lane.lastSignature = undefined;
    if (lane.quietResult?.desired !== job.desired) {
      lane.quietResult = {
        scaler: this.o.address,
        target: lane.key,
        outcome: 'ok',
        observed: job.desired,
        desired: job.desired,
        action: describeAction(job.desired, job.desired) + (lane.key ? ` [${lane.key}]` : ''),
        reason: job.reason,
        durationMs: 0,
      };
    }
    return lane.quietResult;
  }

  private reportCurrent(lane: Lane, count: number): void {
    if (lane.reportedCurrent === count) return;
    lane.reportedCurrent = count;
    this.o.metrics?.setCurrent(this.o.address, lane.key, count);
  }

  /** Also on a quiet resync: the first one after a restart is what reports the saved count. */
  private reportDesired(lane: Lane, desired: number): void {
    if (lane.reportedDesired === desired) return;
    lane.reportedDesired = desired;
    this.o.metrics?.setDesired(this.o.address, lane.key, desired);
  }

  private async makePlan(observed: Observation, job: Job): Promise<Plan> {
    const surplus = observed.count - job.desired;
    let remove: Member[] = [];
    if (surplus > 0 && observed.members) {
      const choose = this.o.chooseRemovals ?? ((members: Member[], n: number) => newestFirst(members, n));
      remove = await choose(observed.members, surplus, job.data);
    }
    return {
      desired: job.desired,
      observed,
      add: Math.max(0, job.desired - observed.count),
      remove,
      data: job.data,
      reason: job.reason,
    };
  }

  private finish(
    lane: Lane,
    job: Job,
    started: number,
    r: { outcome: ReconcileResult['outcome']; observed: number | null; action: string; error?: string; note?: string },
  ): ReconcileResult {
    const durationMs = performance.now() - started;
    if (r.outcome !== 'error') {
      lane.lastErrorClass = undefined;
      this.noteFailure(lane, undefined);
    }
    const result: ReconcileResult = {
      scaler: this.o.address,
      target: lane.key,
      outcome: r.outcome,
      observed: r.observed,
      desired: job.desired,
      action: r.action,
      reason: r.note ? `${job.reason}; ${r.note}` : job.reason,
      durationMs,
      ...(r.error ? { error: r.error } : {}),
    };
    // A resync that found nothing to do (see quiet()) is not a decision, nor is one that
    // repeats the previous decision word for word (a target held below its desired count by
    // its own bounds): storing them would bury the real ones.
    if (job.resync && r.outcome === 'ok' && r.observed === job.desired) {
      lane.lastSignature = undefined;
      return result;
    }
    const signature = `${result.outcome}|${result.observed}|${result.desired}|${result.action}|${result.reason}|${result.error ?? ''}`;
    const repeat = job.resync && signature === lane.lastSignature;
    lane.lastSignature = signature;
    if (!repeat) this.record(result, job.sourceEventId);
    else this.o.metrics?.countReconcile(this.o.address, lane.key, r.outcome);
    this.o.metrics?.reconcileSeconds(this.o.address, durationMs / 1000);
    return result;
  }

  /** Sets or clears the lane's permanent failure, logging each change once. */
  private noteFailure(lane: Lane, reason: string | undefined): void {
    const target = lane.key ? { target: lane.key } : {};
    if (reason === undefined) {
      if (lane.failing) this.o.logger.info(target, 'scaler recovered: no longer failing');
      lane.failing = undefined;
      return;
    }
    if (lane.failing?.reason !== reason)
      this.o.logger.warn(
        { ...target, reason, retry_ms: this.o.settings.resync_interval },
        `scaler is failing: ${reason} (a permanent error: retried once per resync interval)`,
      );
    lane.failing = { reason, since: lane.failing?.since ?? this.o.clock.now() };
  }

  /** Not the owner (or the lease was just lost): no apply, no decision; the owner does it. */
  private standDown(lane: Lane, job: Job): ReconcileResult {
    this.o.logger.debug({ target: lane.key, desired: job.desired }, 'not the owner: standing down');
    return {
      scaler: this.o.address,
      target: lane.key,
      outcome: 'not_owner',
      observed: null,
      desired: job.desired,
      action: 'none',
      reason: 'another instance owns this scaler',
      durationMs: 0,
    };
  }

  private reject(event: WaymondEvent, error: string): void {
    const { address, bus } = this.o;
    this.o.logger.warn({ err: error, source: event.source }, 'rejected input: target not touched');
    bus.emit(`${address}.error`, address, { error, event_id: event.id, source: event.source });
    this.record(
      {
        scaler: address,
        target: this.rejectedTarget(event.data),
        outcome: 'rejected',
        observed: null,
        desired: null,
        action: 'none',
        reason: `input from ${event.source} rejected`,
        error,
        durationMs: 0,
      },
      event.id,
    );
  }

  /** The target a rejected input named, when its data says; '' when even that is unreadable. */
  private rejectedTarget(data: EventData): string {
    try {
      return this.targetOf(data);
    } catch {
      return '';
    }
  }

  private record(result: ReconcileResult, sourceEventId: string | null): void {
    const { address, store, bus, metrics } = this.o;
    metrics?.countReconcile(address, result.target, result.outcome);
    try {
      store.recordDecision({
        time: this.o.clock.now(),
        scaler: address,
        target: result.target,
        sourceEvent: sourceEventId,
        observed: result.observed,
        desired: result.desired,
        action: result.action,
        outcome: result.outcome,
        error: result.error ?? null,
        durationMs: result.durationMs,
        reason: result.reason,
      });
    } catch (error) {
      this.o.logger.error({ err: errorMessage(error) }, 'could not store decision');
    }
    bus.emit(`${address}.result`, address, { ...result });
  }

  private saveDesired(): void {
    const saved: Record<string, { desired: number; data: EventData }> = {};
    for (const lane of this.lanes.values()) {
      // The data is kept for a restart's resync; a huge payload field is not (event-cap.ts).
      if (lane.lastDesired !== undefined)
        saved[lane.key] = { desired: lane.lastDesired, data: capEventData(lane.lastData) };
    }
    this.o.store.setState(this.o.address, DESIRED_KEY, saved);
  }

  private resync(): void {
    if (this.stopped) return;
    for (const lane of this.lanes.values()) {
      if (lane.running || lane.pending || lane.retryTimer || lane.lastDesired === undefined) continue;
      lane.pending = {
        desired: lane.lastDesired,
        requested: lane.lastDesired,
        data: lane.lastData,
        sourceEventId: null,
        reason: resyncReason(lane.lastDesired),
        waiters: [],
        resync: true,
      };
      this.kick(lane);
    }
  }
}

/** `resync of desired N`, made once per count (every lane asks for it on every resync). */
const resyncReasons: string[] = [];
function resyncReason(desired: number): string {
  if (desired >= 4096) return `resync of desired ${desired}`;
  resyncReasons[desired] ??= `resync of desired ${desired}`;
  return resyncReasons[desired] as string;
}
