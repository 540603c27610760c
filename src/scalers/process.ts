/**
 * Keeps N local OS processes. Members live in numbered slots (lowest free first), get
 * WAYMOND_SCALER and WAYMOND_INDEX, and log to `<state dir>/scaler/<id>/slot-<n>.log`.
 * Each member runs in its own process group, so it outlives waymond when
 * `on_shutdown = "keep"` (or a kill -9), and a later waymond adopts it.
 *
 * Crash safety: every member carries WAYMOND_MEMBER_OF (a random id kept in this scaler's
 * state), WAYMOND_SCALER and WAYMOND_INDEX. The member list is saved right after each
 * spawn, but adoption does not rely on it: it scans /proc for every live group leader
 * with those markers, so a member started a moment before a crash is found too. Two live
 * members on one slot: the oldest is kept, the other stopped. A process without our
 * markers is never adopted nor signalled.
 *
 * Crash loops: a member that exits on its own within `min_uptime` of starting puts its
 * slot in backoff (1 s, doubling to 5 min; see process-backoff.ts); `apply` does not
 * restart that slot before the backoff ends and says so in its note, and `status()` reports
 * `crash_looping` with the last exit code until the slot stays up or is no longer wanted.
 *
 * Members get a minimal environment (MINIMAL_ENV, LC_*), not the daemon's secrets, unless
 * `inherit_env` says otherwise.
 *
 * Members are started by a small helper process (spawner.ts), not forked from the daemon's
 * own image, and the members one reconcile asks for start in parallel. Each is recorded in
 * the saved list as soon as its pid is known; one started a moment before a crash is found
 * by its markers, as above.
 * Scale-in signals the member's group with `stop_signal`, then SIGKILL after `stop_timeout`;
 * a stopping member no longer counts toward the desired count (the reconciler is never
 * blocked by a slow exit), but it does count toward `max` until it has exited: `apply`
 * starts at most `max - live` members, so `max` caps the processes actually running.
 */
import { randomUUID } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { duration } from '../core/duration.js';
import { scalerSchema } from '../core/schema.js';
import type { ComponentContext, Member, MemberCommandResult, ScalerDefinition } from '../core/types.js';
import { runLocalShell } from './member-command.js';
import { isSameLiveProcess, procUnavailableHere, readProcStat } from './proc.js';
import { assignSlots, bootId, findMarkedProcesses, readEnviron, type SlotClaim } from './proc-scan.js';
import { CrashLoops } from './process-backoff.js';
import { type MemberExit, type SpawnedMember, SpawnerDied, type SpawnerLease, useSpawner } from './spawner.js';

export { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, crashBackoff } from './process-backoff.js';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGKILL'] as const;

const capabilities = { members: true, runInMember: true, stopAll: true } as const;

const schema = scalerSchema(
  'process',
  {
    command: z.string().min(1).describe('Executable to run (looked up on PATH), e.g. "buildkite-agent" or "node".'),
    args: z.array(z.string()).default([]).describe('Arguments passed to the command (no shell involved).'),
    env: z.record(z.string(), z.string()).default({}).describe('Extra environment variables for every member.'),
    inherit_env: z
      .union([z.boolean(), z.array(z.string().min(1))])
      .default(false)
      .describe(
        "Which of waymond's own environment variables members see. false (default): only PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ and TMPDIR, so the daemon's credentials do not reach members; true: all of them; a list of names: just those. `env` and the WAYMOND_* markers are always added.",
      ),
    cwd: z.string().optional().describe("Working directory of the members (default: the config file's directory)."),
    stop_signal: z
      .enum(SIGNALS)
      .default('SIGTERM')
      .describe('Signal sent to a member (its process group) on scale-in.'),
    stop_timeout: duration('How long a member may take to exit after stop_signal before SIGKILL.').default(30_000),
    ready_after: duration('A new member counts as starting (not ready) for this long.').default(0),
    min_uptime: duration(
      'A member that exits on its own sooner than this after starting is crash looping: its slot is restarted with exponential backoff (1s, doubling to 5m) instead of at once, and the scaler reports `crash_looping` with the exit code. A member that stays up this long clears the backoff.',
    ).default(10_000),
  },
  capabilities,
);

type Config = z.output<typeof schema>;

interface Tracked {
  slot: number;
  pid: number;
  startTime: number;
  startedAt: number;
  stopping?: boolean;
  exited?: boolean;
  /** Exit code of a member we spawned (null when killed by a signal); unknown for adopted ones. */
  exitCode?: number | null;
  /** Settles when a member we spawned exits (undefined: the spawner died, the status is lost). */
  exit?: Promise<MemberExit | undefined>;
}

interface SavedMember {
  slot: number;
  pid: number;
  startTime: number;
  startedAt: number;
}

/** What a member sees of waymond's environment when inherit_env = false. */
export const MINIMAL_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'TZ', 'TMPDIR'] as const;

/** A member's environment: the inherited part (see inherit_env), then `env`, then the markers. */
export function memberEnv(
  daemonEnv: NodeJS.ProcessEnv,
  inherit: boolean | string[],
  extra: Record<string, string>,
  markers: Record<string, string>,
): Record<string, string> {
  const passes = (name: string) =>
    inherit === true ||
    (Array.isArray(inherit)
      ? inherit.includes(name)
      : (MINIMAL_ENV as readonly string[]).includes(name) || name.startsWith('LC_'));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(daemonEnv)) if (value !== undefined && passes(name)) env[name] = value;
  return { ...env, ...extra, ...markers };
}

export function lowestFreeSlots(taken: Iterable<number>, count: number): number[] {
  const used = new Set(taken);
  const slots: number[] = [];
  for (let slot = 1; slots.length < count; slot++) if (!used.has(slot)) slots.push(slot);
  return slots;
}

export const processScaler: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'process',
  capabilities,
  summary: 'Keeps N local OS processes of a command (CI agents, workers), adopting them after a restart.',
  schema,
  example: `[[scaler]]
type = "process"
id = "agents"
command = "node"
args = ["examples/workers/worker.mjs"]
max = 8
stop_timeout = "20s"`,
  create(config, ctx) {
    const unavailable = procUnavailableHere();
    if (unavailable) throw new Error(`${ctx.address}: the process scaler cannot start: ${unavailable}`);
    return new ProcessScaler(config, ctx);
  },
};

class ProcessScaler {
  private members = new Map<number, Tracked>();
  private stops = new Set<Promise<void>>();
  /** Members signalled and not yet exited (a duplicate on a slot is here but not in `members`). */
  private stopping = new Set<Tracked>();
  private readonly cwd: string;
  private readonly logDir: string;
  private readonly memberOf: string;
  /** Slots in crash-loop backoff, and the restarts count (process-backoff.ts). */
  private readonly crashLoops: CrashLoops;
  /** The daemon's member spawner (shared by every process scaler). */
  private readonly spawner: SpawnerLease;

  constructor(
    private readonly config: Config,
    private readonly ctx: ComponentContext,
  ) {
    this.cwd = config.cwd ? (isAbsolute(config.cwd) ? config.cwd : resolve(ctx.configDir, config.cwd)) : ctx.configDir;
    this.logDir = ctx.dataDir;
    this.crashLoops = new CrashLoops(config.min_uptime);
    this.memberOf = ctx.state.get<string>('member_of') ?? randomUUID();
    ctx.state.set('member_of', this.memberOf);
    this.adopt();
    this.spawner = useSpawner(ctx.logger);
    // Booted now, so the first scale-up does not wait for it (a dry run starts nothing).
    if (!ctx.dryRun) this.spawner.warm();
  }

  /** The markers every member of this scaler carries (and adoption requires). */
  private markers(): Record<string, string> {
    return { WAYMOND_MEMBER_OF: this.memberOf, WAYMOND_SCALER: this.ctx.id };
  }

  private env(slot: number): Record<string, string> {
    return memberEnv(process.env, this.config.inherit_env, this.config.env, {
      ...this.markers(),
      WAYMOND_INDEX: String(slot),
    });
  }

  /**
   * Re-attaches to every live member a previous waymond started: those found by their
   * markers (saved or not), plus saved ones from before the WAYMOND_MEMBER_OF marker whose
   * own WAYMOND_SCALER and WAYMOND_INDEX still match. Saves at once.
   */
  private adopt(): void {
    // Pids and start times from another boot mean nothing. A list saved before the boot id
    // was (an upgrade) is still read: every entry is checked against its process anyway.
    const savedBoot = this.ctx.state.get<string>('boot_id');
    const otherBoot = Boolean(savedBoot) && savedBoot !== bootId();
    const saved = otherBoot ? [] : (this.ctx.state.get<SavedMember[]>('members') ?? []);
    const found = findMarkedProcesses(this.markers());
    const seen = new Set(found.map((p) => p.pid));
    for (const m of saved) {
      if (seen.has(m.pid) || !isSameLiveProcess(m.pid, m.startTime)) continue;
      const env = readEnviron(m.pid);
      if (env?.WAYMOND_SCALER === this.ctx.id && env.WAYMOND_INDEX === String(m.slot) && !env.WAYMOND_MEMBER_OF)
        found.push({ pid: m.pid, startTime: m.startTime, env });
    }
    const { keep, duplicates } = assignSlots(found);
    const startedAt = new Map(saved.map((m) => [m.pid, m.startedAt]));
    const now = this.ctx.clock.now();
    for (const c of keep) this.members.set(c.slot, { ...c, startedAt: startedAt.get(c.pid) ?? now });
    for (const c of duplicates) this.stopDuplicate(c);
    const unsaved = keep.filter((c) => !startedAt.has(c.pid)).length;
    if (found.length > 0 || saved.length > 0)
      this.ctx.logger.info(
        { adopted: keep.length, unsaved, duplicates: duplicates.length, gone: saved.length - (keep.length - unsaved) },
        'adopted members of a previous run',
      );
    this.save();
  }

  /** A second live member on a slot (ours: it carries our markers) is stopped like any other. */
  private stopDuplicate(c: SlotClaim): void {
    this.ctx.logger.warn({ slot: c.slot, pid: c.pid }, 'a second member holds this slot; stopping the younger one');
    this.stop({ ...c, startedAt: this.ctx.clock.now() });
  }

  private save(): void {
    const list: SavedMember[] = [...this.members.values()]
      .filter((m) => !m.exited)
      .map(({ slot, pid, startTime, startedAt }) => ({ slot, pid, startTime, startedAt }));
    this.ctx.state.set('members', list);
    this.ctx.state.set('boot_id', bootId() ?? '');
  }

  private alive(m: Tracked): boolean {
    if (m.exited) return false;
    return isSameLiveProcess(m.pid, m.startTime);
  }

  /**
   * Forgets members that have exited (they are replaced by the same reconcile, unless their
   * slot is backing off) and saves. An early exit backs its slot off; a member up for
   * min_uptime clears it.
   */
  async housekeep(): Promise<void> {
    let changed = false;
    const now = this.ctx.clock.now();
    const held = new Set([...this.members].filter(([, m]) => !m.stopping && this.alive(m)).map(([slot]) => slot));
    for (const slot of this.crashLoops.beginRound(held))
      this.ctx.logger.info({ slot }, 'crash-looping slot no longer wanted; its backoff is forgotten');
    for (const [slot, m] of this.members) {
      if (this.alive(m)) {
        if (!m.stopping && now - m.startedAt >= this.config.min_uptime && this.crashLoops.stayedUp(slot))
          this.ctx.logger.info({ slot, pid: m.pid }, 'member stayed up past min_uptime; backoff cleared');
        continue;
      }
      this.members.delete(slot);
      changed = true;
      if (m.stopping) continue;
      await this.reaped(m);
      const code = m.exitCode ?? null;
      const b = this.crashLoops.exited(slot, m.startedAt, now, code);
      if (b) {
        const fields = { slot, pid: m.pid, code, crashes: b.crashes, backoffMs: b.nextStartAt - now };
        this.ctx.logger.warn(fields, 'member exited early; backing off');
      } else this.ctx.logger.warn({ slot, pid: m.pid, code }, 'member exited; it will be replaced');
    }
    if (changed) this.save();
  }

  /** /proc says it is gone: give Node a moment to deliver its exit code (bounded, real time). */
  private async reaped(m: Tracked): Promise<void> {
    if (!m.exit || m.exitCode !== undefined) return;
    const done = new AbortController();
    await Promise.race([m.exit, delay(1_000, undefined, { signal: done.signal }).catch(() => undefined)]);
    done.abort();
  }

  /** Health for /api/components: crash_looping while any wanted slot is backing off. */
  status() {
    return this.crashLoops.status();
  }

  /** The live members, changing nothing (an exited one is not counted; housekeep forgets it). */
  async observe() {
    const now = this.ctx.clock.now();
    const live = [...this.members.values()].filter((m) => this.alive(m));
    const members: Member[] = live.map((m) => {
      const ready = now - m.startedAt >= this.config.ready_after;
      return {
        id: `slot-${m.slot}`,
        state: m.stopping ? 'stopping' : ready ? 'running' : 'starting',
        ready: !m.stopping && ready,
        startedAt: m.startedAt,
        info: { pid: m.pid, slot: m.slot, log: this.logFile(m.slot) },
      };
    });
    const counted = members.filter((m) => m.state !== 'stopping');
    return { count: counted.length, ready: counted.filter((m) => m.ready).length, members };
  }

  async apply(plan: { add: number; remove: Member[] }) {
    for (const member of plan.remove) {
      const slot = Number(member.id.replace('slot-', ''));
      const m = this.members.get(slot);
      if (m && !m.stopping) this.stop(m);
    }
    const room = Math.max(0, this.config.max - this.liveCount());
    const add = Math.min(plan.add, room);
    const slots = lowestFreeSlots(this.members.keys(), add);
    // Wanted: the slots of members that stay, and those this apply would fill without max.
    const wanted = new Set([...this.members].filter(([, m]) => !m.stopping).map(([slot]) => slot));
    for (const slot of lowestFreeSlots(this.members.keys(), plan.add)) wanted.add(slot);
    for (const slot of this.crashLoops.keepOnly(wanted))
      this.ctx.logger.info({ slot }, 'crash-looping slot no longer wanted; its backoff is forgotten');
    const now = this.ctx.clock.now();
    const notes: string[] = [];
    const starts: Promise<void>[] = [];
    for (const slot of slots) {
      const blocked = this.crashLoops.tryStart(slot, now);
      if (blocked) {
        notes.push(blocked);
        continue;
      }
      starts.push(this.start(slot));
    }
    // In parallel; the first failure is reported once every start has settled.
    const failed = (await Promise.allSettled(starts)).find((r) => r.status === 'rejected');
    this.save();
    if (failed) throw failed.reason;
    if (add < plan.add) {
      const note = `started ${add} of ${plan.add}: ${this.stopping.size} stopping member(s) still count toward max ${this.config.max}`;
      this.ctx.logger.info({ wanted: plan.add, started: add, stopping: this.stopping.size }, note);
      notes.unshift(note);
    }
    return notes.length > 0 ? { note: notes.join('; ') } : undefined;
  }

  /** Every live process of ours, stopping ones included: what `max` caps. */
  private liveCount(): number {
    let live = 0;
    for (const m of this.members.values()) if (!m.stopping && this.alive(m)) live++;
    for (const m of this.stopping) if (this.alive(m)) live++;
    return live;
  }

  private logFile(slot: number): string {
    return join(this.logDir, `slot-${slot}.log`);
  }

  private async start(slot: number): Promise<void> {
    const spawned = await this.spawn(slot);
    if ('adopted' in spawned) {
      // The spawner died after starting it: take it as an adopted member (exit code unknown).
      this.members.set(slot, { ...spawned.adopted, startedAt: this.ctx.clock.now() });
      this.save();
      this.ctx.logger.info({ slot, pid: spawned.adopted.pid }, 'member started (found by its markers)');
      return;
    }
    const { pid } = spawned;
    const stat = readProcStat(pid);
    const tracked: Tracked = {
      slot,
      pid,
      startTime: stat?.startTime ?? -1,
      startedAt: this.ctx.clock.now(),
      exit: spawned.exit,
    };
    void spawned.exit.then((status) => {
      if (!status) return; // the spawner died: /proc tells whether it still runs
      tracked.exited = true;
      tracked.exitCode = status.code;
      if (!tracked.stopping)
        this.ctx.logger.warn({ slot, pid, code: status.code, signal: status.signal }, 'member exited');
    });
    this.members.set(slot, tracked);
    // Durable as soon as its pid is known: a crash now loses at most the members still
    // being spawned from the list, and adoption finds those by their markers anyway.
    this.save();
    this.ctx.logger.info({ slot, pid }, 'member started');
  }

  /**
   * One member through the spawner. When the spawner dies before answering, the member may
   * have started: it is looked for by its markers, and only started again when absent.
   */
  private async spawn(slot: number): Promise<SpawnedMember | { adopted: SlotClaim }> {
    const request = {
      command: this.config.command,
      args: this.config.args,
      cwd: this.cwd,
      env: this.env(slot),
      log: this.logFile(slot),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.spawner.spawn(request);
      } catch (error) {
        if (!(error instanceof SpawnerDied) || attempt >= 2) {
          throw new Error(`could not start "${this.config.command}" in ${this.cwd}: ${errorMessage(error)}`);
        }
        const found = findMarkedProcesses({ ...this.markers(), WAYMOND_INDEX: String(slot) });
        const { keep, duplicates } = assignSlots(found);
        for (const c of duplicates) this.stopDuplicate(c);
        const adopted = keep[0];
        if (adopted) return { adopted };
      }
    }
  }

  private signal(m: Tracked, signal: NodeJS.Signals): void {
    try {
      process.kill(-m.pid, signal); // the member's whole process group
    } catch {
      try {
        process.kill(m.pid, signal);
      } catch {
        // already gone
      }
    }
  }

  private stop(m: Tracked): void {
    m.stopping = true;
    this.stopping.add(m);
    this.ctx.logger.info({ slot: m.slot, pid: m.pid, signal: this.config.stop_signal }, 'stopping member');
    this.signal(m, this.config.stop_signal);
    const done = (async () => {
      const { clock } = this.ctx;
      const deadline = clock.now() + this.config.stop_timeout;
      while (this.alive(m) && clock.now() < deadline) await clock.sleep(50);
      if (this.alive(m)) {
        this.ctx.logger.warn({ slot: m.slot, pid: m.pid }, 'member ignored stop_signal; sending SIGKILL');
        this.signal(m, 'SIGKILL');
        // It still counts toward max until the kernel has reaped it.
        const reaped = clock.now() + 5_000;
        while (this.alive(m) && clock.now() < reaped) await clock.sleep(50);
      }
      // observe() may already have dropped it and a new member may hold the slot now.
      if (this.members.get(m.slot) === m) this.members.delete(m.slot);
      this.stopping.delete(m);
      this.save();
    })();
    this.stops.add(done);
    void done.finally(() => this.stops.delete(done));
  }

  /** busy_check / drain: a local shell with the member's own environment. */
  runInMember(member: Member, command: string, timeoutMs: number): Promise<MemberCommandResult> {
    const slot = Number(member.id.replace('slot-', ''));
    const m = this.members.get(slot);
    return runLocalShell(command, {
      cwd: this.cwd,
      env: { ...this.env(slot), WAYMOND_MEMBER_PID: String(m?.pid ?? '') },
      timeoutMs,
    });
  }

  async stopAll(): Promise<void> {
    for (const m of this.members.values()) if (!m.stopping) this.stop(m);
    await Promise.all([...this.stops]);
  }

  async close(): Promise<void> {
    // Members keep running (on_shutdown = "keep"); only wait for stops already under way.
    await Promise.all([...this.stops]);
    this.spawner.release();
  }
}
