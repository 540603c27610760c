/**
 * Busy-aware scale-in, shared by every scaler that has members (process, docker, ssh).
 *
 * `withScaleIn` wraps a scaler for its Reconciler and returns the RemovalChooser to pass
 * along. Per candidate member, newest first (members whose drain ran out first):
 *
 *   busy_check ──idle──▶ drain configured? ──yes──▶ send drain, book it as leaving
 *       │                      └──no───▶ returned to the Reconciler: the scaler stops it
 *       └─busy──▶ kept; when no idle one is left and scale-in has been wanted for
 *                 force_after, busy members are stopped anyway (default: never)
 *
 * A member being drained still exists on the target, so the wrapped `observe()` reports it
 * as `stopping` and leaves it out of the count: capacity is replaced at once and it is not
 * chosen again. Once it exits it disappears from the book; once drain_timeout passes it
 * counts again, and the next scale-in stops it (if idle, or when force_after allows).
 *
 * "Scale-in wanted since" (for force_after) resets on a scale-up, or when no scale-in was
 * asked for during two resync intervals: the Reconciler re-runs a wanted scale-in on every
 * resync, so such a gap means the surplus went away in between.
 */
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { errorMessage } from './context.js';
import type { RemovalChooser } from './reconciler.js';
import type { Address, EventData, Member, Observation, Plan, Scaler } from './types.js';

export interface ScaleInSettings {
  busy_check?: string;
  drain?: string;
  drain_timeout: number;
  force_after?: number;
  /** The Reconciler re-runs a wanted scale-in at least this often (default 30s). */
  resync_interval?: number;
}

export interface ScaleInOptions {
  address: Address;
  clock: Clock;
  logger: Logger;
}

export interface ScaleIn {
  /** The scaler to hand to the Reconciler (the original one when nothing is configured). */
  scaler: Scaler;
  chooseRemovals?: RemovalChooser;
}

/** How long one busy check or drain request may take before it counts as failed. */
export const MEMBER_REQUEST_TIMEOUT_MS = 10_000;
/** Busy checks run this many at a time, stopping as soon as enough idle members are found. */
const CHECK_BATCH = 8;
const REMOVABLE = new Set(['starting', 'running', 'unknown']);

export type BusyState = 'busy' | 'idle' | 'unknown';

interface Draining {
  since: number;
  deadline: number;
}

export function isUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/** Fills `{{id}}` and `{{<info key>}}` placeholders, URL-encoded; an unknown key is an error. */
export function renderMemberUrl(template: string, member: Member): string {
  return template.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_all, key: string) => {
    const value = key === 'id' ? member.id : member.info?.[key];
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new Error(`URL template placeholder {{${key}}} is not a field of member ${member.id}`);
    }
    return encodeURIComponent(String(value));
  });
}

export function withScaleIn(scaler: Scaler, settings: ScaleInSettings, options: ScaleInOptions): ScaleIn {
  if (settings.busy_check === undefined && settings.drain === undefined) return { scaler };
  for (const [field, value] of [
    ['busy_check', settings.busy_check],
    ['drain', settings.drain],
  ] as const) {
    if (value !== undefined && !isUrl(value) && !scaler.runInMember) {
      throw new Error(
        `${options.address}: ${field} is a command, but this scaler type cannot run commands in its members; use an http(s) URL`,
      );
    }
  }
  const book = new ScaleInBook(scaler, settings, options);
  return { scaler: book.wrapped(), chooseRemovals: (members, count, data) => book.choose(members, count, data) };
}

class ScaleInBook {
  private draining = new Map<string, Draining>();
  private surplusSince: number | undefined;
  private lastChosen = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly inner: Scaler,
    private readonly settings: ScaleInSettings,
    private readonly o: ScaleInOptions,
  ) {}

  wrapped(): Scaler {
    const inner = this.inner;
    const wrapped: Scaler = {
      observe: (data) => this.observe(data),
      apply: (plan: Plan) => {
        if (plan.add > 0) this.surplusSince = undefined;
        return inner.apply(plan);
      },
    };
    if (inner.housekeep) wrapped.housekeep = inner.housekeep.bind(inner);
    if (inner.describeApply) wrapped.describeApply = inner.describeApply.bind(inner);
    if (inner.stopAll) wrapped.stopAll = inner.stopAll.bind(inner);
    if (inner.close) wrapped.close = inner.close.bind(inner);
    if (inner.targetKey) wrapped.targetKey = inner.targetKey.bind(inner);
    if (inner.runInMember) wrapped.runInMember = inner.runInMember.bind(inner);
    return wrapped;
  }

  private async observe(data: EventData): Promise<Observation> {
    const observed = await this.inner.observe(data);
    if (!observed.members || this.draining.size === 0) return observed;
    const present = new Set(observed.members.map((m) => m.id));
    for (const id of this.draining.keys()) {
      if (!present.has(id)) {
        this.o.logger.info({ member: id }, 'drained member has exited');
        this.draining.delete(id);
      }
    }
    const now = this.o.clock.now();
    let leaving = 0;
    let leavingReady = 0;
    const members = observed.members.map((m): Member => {
      const d = this.draining.get(m.id);
      if (!d || now >= d.deadline) return m;
      if (m.state !== 'stopping' && m.state !== 'exited') {
        leaving++;
        if (m.ready !== false) leavingReady++;
      }
      return { ...m, state: 'stopping', ready: false, info: { ...m.info, draining_since: d.since } };
    });
    return {
      count: observed.count - leaving,
      ready: Math.max(0, (observed.ready ?? observed.count) - leavingReady),
      members,
    };
  }

  async choose(members: Member[], count: number, _data: EventData): Promise<Member[]> {
    const now = this.o.clock.now();
    if (now - this.lastChosen > 2 * (this.settings.resync_interval ?? 30_000)) this.surplusSince = undefined;
    this.lastChosen = now;
    if (count <= 0) return [];
    const expired = (m: Member) => (this.draining.get(m.id)?.deadline ?? Number.POSITIVE_INFINITY) <= now;
    // Members whose drain ran out go first: they were already asked to leave.
    const candidates = members
      .filter((m) => REMOVABLE.has(m.state))
      .sort(
        (a, b) =>
          Number(expired(b)) - Number(expired(a)) ||
          (b.startedAt ?? 0) - (a.startedAt ?? 0) ||
          b.id.localeCompare(a.id),
      );
    const { idle, busy } = await this.partition(candidates, count);
    const chosen = idle.slice(0, count);
    if (chosen.length < count) {
      this.surplusSince ??= now;
      const waited = now - this.surplusSince;
      const force = this.settings.force_after;
      const short = count - chosen.length;
      if (force !== undefined && waited >= force && busy.length > 0) {
        const forced = busy.slice(0, short);
        this.o.logger.warn(
          { members: forced.map((m) => m.id), waited_ms: waited },
          `scale-in: stopping ${forced.length} busy member(s): force_after has passed`,
        );
        // Forced members are stopped, not drained: they already had force_after to finish.
        return [...(await this.drainOrStop(chosen)), ...forced];
      }
      this.o.logger.info(
        { wanted: count, idle: chosen.length, busy: busy.map((m) => m.id), waited_ms: waited },
        `scale-in: keeping ${short} member(s) that are busy${force === undefined ? '' : ' until force_after'}`,
      );
    } else {
      this.surplusSince = undefined;
    }
    return this.drainOrStop(chosen);
  }

  /** Checks members in small batches, stopping once `wanted` idle ones are known. */
  private async partition(candidates: Member[], wanted: number): Promise<{ idle: Member[]; busy: Member[] }> {
    const check = this.settings.busy_check;
    if (check === undefined) return { idle: candidates, busy: [] };
    const idle: Member[] = [];
    const busy: Member[] = [];
    for (let i = 0; i < candidates.length && idle.length < wanted; i += CHECK_BATCH) {
      const batch = candidates.slice(i, i + CHECK_BATCH);
      const states = await Promise.all(batch.map((m) => this.busyState(m, check)));
      for (const [j, m] of batch.entries()) (states[j] === 'idle' ? idle : busy).push(m);
    }
    return { idle, busy };
  }

  private async busyState(member: Member, check: string): Promise<BusyState> {
    try {
      if (isUrl(check)) {
        const url = renderMemberUrl(check, member);
        const response = await fetch(url, { signal: AbortSignal.timeout(MEMBER_REQUEST_TIMEOUT_MS) });
        const body: unknown = response.ok ? await response.json() : undefined;
        const flag = (body as { busy?: unknown } | undefined)?.busy;
        if (typeof flag === 'boolean') return flag ? 'busy' : 'idle';
        this.o.logger.warn(
          { member: member.id, status: response.status },
          'busy_check URL did not answer {"busy": true|false}; counting the member as busy',
        );
        return 'unknown';
      }
      const result = await (this.inner.runInMember as NonNullable<Scaler['runInMember']>)(
        member,
        check,
        MEMBER_REQUEST_TIMEOUT_MS,
      );
      if (result.exitCode === 0) return 'busy';
      if (result.exitCode === 1) return 'idle';
      this.o.logger.warn(
        { member: member.id, exit_code: result.exitCode, output: result.output.slice(-300) },
        'busy_check exited with neither 0 (busy) nor 1 (idle); counting the member as busy',
      );
      return 'unknown';
    } catch (error) {
      this.o.logger.warn(
        { member: member.id, err: errorMessage(error) },
        'busy_check failed; counting the member as busy',
      );
      return 'unknown';
    }
  }

  /** Without `drain`, the chosen members are returned to be stopped. */
  private async drainOrStop(chosen: Member[]): Promise<Member[]> {
    const drain = this.settings.drain;
    if (drain === undefined) return chosen;
    const stop: Member[] = [];
    for (const member of chosen) {
      if (this.draining.has(member.id)) {
        // Its drain ran out: the member had its chance to leave on its own.
        this.draining.delete(member.id);
        stop.push(member);
        continue;
      }
      await this.sendDrain(member, drain);
      const now = this.o.clock.now();
      this.draining.set(member.id, { since: now, deadline: now + this.settings.drain_timeout });
      this.o.logger.info({ member: member.id }, 'scale-in: asked member to drain');
    }
    return stop;
  }

  /** A failed drain request throws: the reconcile fails and is retried with backoff. */
  private async sendDrain(member: Member, drain: string): Promise<void> {
    const where = `${this.o.address}: drain of member ${member.id}`;
    if (isUrl(drain)) {
      let response: Response;
      try {
        response = await fetch(renderMemberUrl(drain, member), {
          method: 'POST',
          signal: AbortSignal.timeout(MEMBER_REQUEST_TIMEOUT_MS),
        });
      } catch (error) {
        throw new Error(`${where} failed: ${errorMessage(error)}`);
      }
      if (!response.ok) throw new Error(`${where} failed: HTTP ${response.status}`);
      return;
    }
    const run = (this.inner.runInMember as NonNullable<Scaler['runInMember']>).bind(this.inner);
    const result = await run(member, drain, MEMBER_REQUEST_TIMEOUT_MS).catch((error: unknown) => {
      throw new Error(`${where} failed: ${errorMessage(error)}`);
    });
    if (result.exitCode !== 0) {
      throw new Error(`${where} exited with ${result.exitCode ?? 'a signal'}: ${result.output.slice(-200)}`);
    }
  }
}
