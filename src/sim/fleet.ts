/**
 * The simulated target that replaces each leaf scaler: members start at once but serve only
 * after `startupMs` (a VM booting, an agent registering), and stop at once. It respects
 * nothing else (no quotas, no API errors), so what the report measures is the policy.
 *
 * It tells the shared Workload about every change at the clock's current time, and keeps
 * the cost (member-seconds, starting members included: a booting VM is billed) by
 * integrating its count between changes.
 *
 * A configured `busy_check` is answered from the workload (exit 0 busy, 1 idle), and a
 * `drain` makes the member leave once its job is done, so busy-aware scale-in can be
 * simulated too.
 */
import type { Clock } from '../core/clock.js';
import type { Member, MemberCommandResult, Observation, Plan, Scaler } from '../core/types.js';
import type { Workload } from './workload.js';

interface SimMember {
  id: string;
  startedAt: number;
  readyAt: number;
  /** Set by a drain: the member leaves when it is next idle. */
  draining: boolean;
}

export interface FleetOptions {
  /** Scaler id, used as the member id prefix (ids are unique across fleets). */
  id: string;
  clock: Clock;
  /** Epoch ms of the trace's origin: the workload counts time from there. */
  originMs: number;
  startupMs: number;
  workload: Workload;
  /** The configured drain command, if any: running it marks the member as draining. */
  drainCommand?: string;
}

export class SimFleet implements Scaler {
  private members = new Map<string, SimMember>();
  private seq = 0;
  private lastAt: number;
  private memberMs = 0;
  /** Applies that changed the count. */
  actions = 0;

  constructor(private readonly o: FleetOptions) {
    this.lastAt = o.clock.now();
  }

  get count(): number {
    return this.members.size;
  }

  /** Members serving now. */
  get ready(): number {
    const now = this.o.clock.now();
    let n = 0;
    for (const m of this.members.values()) if (m.readyAt <= now) n++;
    return n;
  }

  /** Member-seconds up to `now`. */
  memberSeconds(): number {
    this.accrue();
    return this.memberMs / 1000;
  }

  async observe(): Promise<Observation> {
    this.sync();
    const now = this.o.clock.now();
    const members: Member[] = [];
    for (const m of this.members.values()) {
      const ready = m.readyAt <= now;
      members.push({ id: m.id, state: ready ? 'running' : 'starting', startedAt: m.startedAt, ready });
    }
    return { count: members.length, ready: members.filter((m) => m.ready).length, members };
  }

  async apply(plan: Plan): Promise<void> {
    this.sync();
    this.accrue();
    const before = this.members.size;
    // Exactly the members the engine named, as every real scaler does: a plan that names
    // none while the count is above desired means a busy_check found them all busy, and
    // the real fleet keeps them. Shrinking anyway would stop busy agents the real one keeps.
    for (const member of plan.remove) this.remove(member.id);
    const now = this.o.clock.now();
    for (let i = 0; i < plan.add; i++) {
      const id = `${this.o.id}-${++this.seq}`;
      const member: SimMember = { id, startedAt: now, readyAt: now + this.o.startupMs, draining: false };
      this.members.set(id, member);
      this.o.workload.memberAdded(id, member.readyAt - this.o.originMs);
    }
    if (this.members.size !== before) this.actions++;
  }

  async runInMember(member: Member, command: string): Promise<MemberCommandResult> {
    this.sync();
    const m = this.members.get(member.id);
    if (!m) return { exitCode: 1, output: 'no such member' };
    if (this.o.drainCommand !== undefined && command === this.o.drainCommand) {
      m.draining = true;
      this.sweepDrained();
      return { exitCode: 0, output: 'draining' };
    }
    const busy = this.o.workload.isBusy(member.id);
    return { exitCode: busy ? 0 : 1, output: busy ? 'busy' : 'idle' };
  }

  async stopAll(): Promise<void> {
    this.sync();
    for (const id of [...this.members.keys()]) this.remove(id);
  }

  /** Brings the workload up to now and lets drained members that finished their job go. */
  sync(): void {
    this.o.workload.advanceTo(this.o.clock.now() - this.o.originMs);
    this.sweepDrained();
  }

  private sweepDrained(): void {
    for (const m of this.members.values()) if (m.draining && !this.o.workload.isBusy(m.id)) this.remove(m.id);
  }

  private remove(id: string): void {
    if (!this.members.has(id)) return;
    this.accrue();
    this.members.delete(id);
    this.o.workload.memberRemoved(id);
  }

  private accrue(): void {
    const now = this.o.clock.now();
    this.memberMs += this.members.size * (now - this.lastAt);
    this.lastAt = now;
  }
}
