/**
 * Keeps N copies of a command running on a set of hosts over SSH, least-loaded host first,
 * at most `per_host_max` per host. Each member has a numbered slot on its host and a pid
 * file `<dir>/slot-N.pid` ("pid starttime epoch_ms"); a member is alive while `kill -0`
 * succeeds and /proc still shows the same start time (a reused pid is not our member).
 * Pid files are what make a restarted waymond adopt the members; the files of members that
 * are gone are removed by housekeep (never in a dry run), so observe changes nothing.
 *
 * Crash safety (write the record, start, confirm): the member writes its own pid file
 * before it runs the command, so a kill -9 of waymond (or a dropped SSH session) at any
 * moment leaves either no member or a member with its pid file, which the next waymond
 * lists and adopts; there is no state of its own to lose. A slot's file is written by one
 * member only (lowest free slot among live and stopping ones), so no slot has two members.
 *
 * A host that cannot be reached is "down": it contributes no members, so its share is
 * placed on the others, and it is tried again on every later observe. When it comes back
 * its members count again and the surplus is scaled in as usual.
 */
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { duration } from '../core/duration.js';
import { scalerSchema } from '../core/schema.js';
import type { ComponentContext, Member, MemberCommandResult, Plan, ScalerDefinition } from '../core/types.js';
import { SshConnection, shellQuote, sshConnectionFields, sshHostFields } from './ssh-connection.js';

export { shellQuote };

const host = z.strictObject({
  ...sshHostFields,
  dir: z
    .string()
    .optional()
    .describe('Directory on the host for pid files and logs (default ".waymond/<scaler id>" in the home directory).'),
});

const capabilities = { members: true, runInMember: true, stopAll: true } as const;

const schema = scalerSchema(
  'ssh',
  {
    hosts: z.array(host).min(1).describe('Hosts to run members on.'),
    command: z.string().min(1).describe('Shell command a member runs (gets WAYMOND_SCALER and WAYMOND_INDEX).'),
    per_host_max: z.number().int().positive().default(4).describe('Most members on one host.'),
    env: z.record(z.string(), z.string()).default({}).describe('Extra environment variables of every member.'),
    stop_signal: z
      .enum(['TERM', 'INT', 'QUIT', 'HUP', 'USR1', 'USR2'])
      .default('TERM')
      .describe('Signal sent on scale-in.'),
    stop_timeout: duration('How long a member may take to exit after stop_signal before it is killed.').default(30_000),
    ...sshConnectionFields,
  },
  capabilities,
);

type Config = z.output<typeof schema>;
type HostConfig = Config['hosts'][number];

interface HostState {
  config: HostConfig;
  name: string;
  dir: string;
  conn: SshConnection;
  down?: string;
}

interface RemoteMember {
  slot: number;
  pid: number;
  startedAt: number;
}

export function placeMembers(load: Map<string, number>, add: number, perHostMax: number): string[] {
  const counts = new Map(load);
  const placed: string[] = [];
  for (let i = 0; i < add; i++) {
    let best: string | undefined;
    for (const [name, n] of counts)
      if (n < perHostMax && (best === undefined || n < (counts.get(best) ?? 0))) best = name;
    if (best === undefined) break;
    placed.push(best);
    counts.set(best, (counts.get(best) ?? 0) + 1);
  }
  return placed;
}

// For each pid file: "slot pid epoch_ms" when its member lives, else runs $STALE on the file.
const EACH_PID_FILE = `for f in "$D"/slot-*.pid; do [ -f "$f" ] || continue; read p s t < "$f";
n=\${f##*/slot-}; n=\${n%.pid}; cur=$(cut -d' ' -f22 /proc/$p/stat 2>/dev/null); st=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null)
if kill -0 "$p" 2>/dev/null && [ "$cur" = "$s" ] && [ "$st" != Z ]; then echo "$n $p $t"; else $STALE "$f"; fi; done`;
/** Lists live members, changing nothing (observe). */
const LIST = `STALE=:; ${EACH_PID_FILE}`;
/** Removes the pid files of members that are gone (housekeep, never in a dry run). */
const PRUNE = `STALE='rm -f'; ${EACH_PID_FILE} >/dev/null`;

export const ssh: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'ssh',
  capabilities,
  summary:
    'Keeps N copies of a command on SSH hosts (least loaded first, per_host_max each); a down host overflows to the others.',
  schema,
  example: `[[scaler]]
type = "ssh"
id = "remote_agents"
command = "buildkite-agent start --disconnect-after-job"
per_host_max = 4
max = 8
hosts = [
  { host = "build-1.example.com", user = "ci", key_file = "keys/ci_ed25519" },
  { host = "build-2.example.com", user = "ci", key_file = "keys/ci_ed25519" },
]`,
  create(config, ctx) {
    return new SshScaler(config, ctx);
  },
};

class SshScaler {
  private readonly hosts: HostState[];
  /** Members being stopped (by member id): no longer counted, not chosen again. */
  private stopping = new Map<string, Promise<void>>();
  constructor(
    private readonly config: Config,
    private readonly ctx: ComponentContext,
  ) {
    this.hosts = config.hosts.map((h) => {
      const conn = new SshConnection(h, { ...config, configDir: ctx.configDir });
      return { config: h, name: conn.name, dir: h.dir ?? `.waymond/${ctx.id}`, conn };
    });
  }

  /** Runs a script under sh on the host; never rejects for a non-zero exit. */
  private run(h: HostState, script: string, timeoutMs: number): Promise<MemberCommandResult> {
    return h.conn.run(script, timeoutMs);
  }

  private async list(h: HostState): Promise<RemoteMember[]> {
    const r = await this.run(h, `D=${shellQuote(h.dir)}; ${LIST}`, this.config.connect_timeout);
    if (r.exitCode !== 0) throw new Error(`listing members failed (exit ${r.exitCode}): ${r.output.slice(-200)}`);
    return r.output
      .split('\n')
      .map((line) => line.trim().split(/\s+/).map(Number))
      .filter((f) => f.length === 3 && f.every(Number.isFinite))
      .map(([slot, pid, startedAt]) => ({ slot, pid, startedAt }) as RemoteMember);
  }

  /**
   * Removes stale pid files on the hosts that are up. A down host is skipped (observe tries
   * it again and reports it), so it does not cost a second connect_timeout per reconcile.
   */
  async housekeep(): Promise<void> {
    await Promise.all(
      this.hosts
        .filter((h) => !h.down)
        .map(async (h) => {
          try {
            await this.run(h, `D=${shellQuote(h.dir)}; ${PRUNE}`, this.config.connect_timeout);
          } catch (error) {
            this.ctx.logger.debug({ host: h.name, err: errorMessage(error) }, 'pid file cleanup skipped');
          }
        }),
    );
  }

  /** Lists each host's live members, changing nothing. */
  async observe() {
    const members: Member[] = [];
    await Promise.all(
      this.hosts.map(async (h) => {
        let remote: RemoteMember[];
        try {
          remote = await this.list(h);
          if (h.down) this.ctx.logger.info({ host: h.name }, 'host is reachable again');
          h.down = undefined;
        } catch (error) {
          h.conn.end();
          if (!h.down) this.ctx.emitError(`host ${h.name} is down: ${errorMessage(error)}`, { host: h.name });
          h.down = errorMessage(error);
          return;
        }
        for (const m of remote) {
          const id = `${h.name}/slot-${m.slot}`;
          const stopping = this.stopping.has(id);
          members.push({
            id,
            state: stopping ? 'stopping' : 'running',
            ready: !stopping,
            startedAt: m.startedAt,
            info: { host: h.config.host, port: h.config.port, slot: m.slot, pid: m.pid },
          });
        }
      }),
    );
    const counted = members.filter((m) => m.state !== 'stopping');
    return { count: counted.length, ready: counted.length, members };
  }

  private hostOf(member: Member): { h: HostState; slot: number } {
    const [name, slot] = member.id.split('/slot-');
    const h = this.hosts.find((x) => x.name === name);
    if (!h || slot === undefined) throw new Error(`${this.ctx.address}: unknown member ${member.id}`);
    return { h, slot: Number(slot) };
  }

  async apply(plan: Plan) {
    for (const member of plan.remove) if (!this.stopping.has(member.id)) this.stop(member);
    if (plan.add <= 0) return;
    const members = plan.observed.members ?? [];
    const up = this.hosts.filter((h) => !h.down);
    const load = new Map(up.map((h) => [h.name, members.filter((m) => m.id.startsWith(`${h.name}/`)).length]));
    const placed = placeMembers(load, plan.add, this.config.per_host_max);
    for (const name of placed) {
      const h = up.find((x) => x.name === name) as HostState;
      // A slot whose stop is still under way is not reused: its pid file is not ours yet.
      const ids = [...members.map((m) => m.id), ...this.stopping.keys()];
      const taken = ids
        .filter((id) => id.startsWith(`${h.name}/`))
        .map((id) => this.hostOf({ id, state: 'unknown' }).slot);
      const slot = lowestFree(taken);
      await this.start(h, slot);
      members.push({ id: `${h.name}/slot-${slot}`, state: 'starting' });
    }
    if (placed.length < plan.add) {
      const down = this.hosts.filter((h) => h.down).map((h) => `${h.name} (${h.down})`);
      throw new Error(
        `${this.ctx.address}: placed ${placed.length} of ${plan.add} new members: no reachable host has room (per_host_max ${this.config.per_host_max})${down.length ? `; down: ${down.join(', ')}` : ''}`,
      );
    }
  }

  private async start(h: HostState, slot: number): Promise<void> {
    const env = { ...this.config.env, WAYMOND_SCALER: this.ctx.id, WAYMOND_INDEX: String(slot) };
    const exports = Object.entries(env)
      .map(([k, v]) => `${k}=${shellQuote(v)}`)
      .join(' ');
    // Write the record, start, confirm: the member itself writes its pid file (atomically,
    // by rename) before it execs the command, so the command never runs without a record,
    // whenever waymond or this SSH session dies; the session only confirms it appeared.
    const record = `echo "$$ $(cut -d' ' -f22 /proc/$$/stat) $(($(date +%s) * 1000))" >"$1.tmp" && mv "$1.tmp" "$1" && exec sh -c "$2"`;
    const script = `D=${shellQuote(h.dir)}; mkdir -p "$D" || exit 1; cd || exit 1; f="$D/slot-${slot}.pid"; rm -f "$f"
${exports} setsid sh -c ${shellQuote(record)} waymond-member "$f" ${shellQuote(this.config.command)} >"$D/slot-${slot}.log" 2>&1 </dev/null &
i=0; until [ -s "$f" ]; do [ $i -lt 100 ] || { echo "the member wrote no pid file in 10 s"; exit 3; }; sleep 0.1; i=$((i+1)); done
cut -d' ' -f1 "$f"`;
    const r = await this.run(h, script, this.config.connect_timeout).catch((error: unknown) => {
      throw new Error(`${this.ctx.address}: starting a member on ${h.name} failed: ${errorMessage(error)}`);
    });
    if (r.exitCode !== 0) {
      throw new Error(
        `${this.ctx.address}: starting a member on ${h.name} failed (exit ${r.exitCode}): ${r.output.slice(-200)}`,
      );
    }
    this.ctx.logger.info({ host: h.name, slot, pid: r.output.trim() }, 'member started');
  }

  private stop(member: Member): void {
    const { h, slot } = this.hostOf(member);
    const seconds = Math.ceil(this.config.stop_timeout / 1000);
    // Signal the member's process group (dash's kill takes no "--"), wait, then SIGKILL;
    // the pid file goes last, and only if no new member holds the slot by then.
    const script = `D=${shellQuote(h.dir)}; f="$D/slot-${slot}.pid"; [ -f "$f" ] || exit 0; read p s t < "$f"
kill -${this.config.stop_signal} -$p 2>/dev/null || kill -${this.config.stop_signal} $p 2>/dev/null
i=0; while kill -0 $p 2>/dev/null && [ $i -lt ${seconds * 10} ]; do sleep 0.1; i=$((i+1)); done
kill -KILL -$p 2>/dev/null || kill -KILL $p 2>/dev/null
read q r u < "$f" 2>/dev/null; [ "$q" != "$p" ] || rm -f "$f"`;
    this.ctx.logger.info({ member: member.id }, 'stopping member');
    const done = this.run(h, script, this.config.stop_timeout + this.config.connect_timeout)
      .then((r) => {
        if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.output.slice(-200)}`);
      })
      .catch((error: unknown) => {
        this.ctx.emitError(`stopping member ${member.id} failed: ${errorMessage(error)}`);
      })
      .finally(() => this.stopping.delete(member.id));
    this.stopping.set(member.id, done);
  }

  /** busy_check / drain: run on the member's host, with its slot and pid in the env. */
  async runInMember(member: Member, command: string, timeoutMs: number): Promise<MemberCommandResult> {
    const { h, slot } = this.hostOf(member);
    const script = `D=${shellQuote(h.dir)}; read p s t < "$D/slot-${slot}.pid" 2>/dev/null
WAYMOND_SCALER=${shellQuote(this.ctx.id)} WAYMOND_INDEX=${slot} WAYMOND_MEMBER_PID=$p sh -c ${shellQuote(command)}`;
    return this.run(h, script, timeoutMs);
  }

  async stopAll(): Promise<void> {
    const observed = await this.observe();
    for (const m of observed.members) if (!this.stopping.has(m.id)) this.stop(m);
    await Promise.all([...this.stopping.values()]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.stopping.values()]);
    for (const h of this.hosts) h.conn.end();
  }
}

function lowestFree(taken: number[]): number {
  let slot = 1;
  while (taken.includes(slot)) slot++;
  return slot;
}
