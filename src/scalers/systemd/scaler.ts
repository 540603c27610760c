/**
 * Keeps N instances of a systemd template unit (`agent@.service` → `agent@1.service`,
 * `agent@2.service`…) on this host or on hosts over SSH. systemd is the state: what runs is
 * what `systemctl list-units` says, so a restarted waymond adopts its instances, and only
 * numbered instances of the template are ever touched.
 *
 * - observe (pure): `list-units --all --output=json` of the template's instances, then
 *   `show` for MainPID and ActiveEnterTimestamp. active, activating and reloading count;
 *   failed ones do not; a stopped instance is absent from the list.
 * - housekeep: `reset-failed` of failed instances, so the next apply starts them again.
 * - apply: `start --no-block` of the lowest free slots (after writing the env drop-in),
 *   `stop` of the chosen members in the background, bounded by stop_timeout.
 * A host that cannot be reached is down, as in the ssh scaler: it contributes no members,
 * its share is placed on the others, and it is tried again on every observe.
 */
import { errorMessage } from '../../core/context.js';
import type { ComponentContext, Member, MemberCommandResult, Plan, ScalerDefinition } from '../../core/types.js';
import { shellQuote } from '../ssh-connection.js';
import { type Call, type CallInput, planCalls } from './calls.js';
import { capabilities, type SystemdConfig, systemdSchema } from './schema.js';
import { LocalTransport, SshTransport, type Transport } from './transport.js';
import {
  asMember,
  counts,
  dropInPath,
  dropInText,
  type Instance,
  parseListUnits,
  parseShow,
  SHOW_PROPERTIES,
  splitMemberId,
  systemctl,
  Template,
  withDetails,
} from './units.js';

export const systemd: ScalerDefinition<typeof systemdSchema> = {
  kind: 'scaler',
  type: 'systemd',
  capabilities,
  summary:
    'Keeps N instances of a systemd template unit (agent@1.service, agent@2.service…) running, here or on SSH hosts; systemd is the state.',
  schema: systemdSchema,
  example: `[[scaler]]
type = "systemd"
id = "agents"
unit = "buildkite-agent@.service"
max = 8
env = { BUILDKITE_AGENT_TAGS = "queue=build" }
busy_check = "test -n \\"$(pgrep -P $WAYMOND_MEMBER_PID)\\""`,
  create(config, ctx) {
    return new SystemdScaler(config, ctx);
  },
};

interface HostState {
  transport: Transport;
  down?: string;
}

class SystemdScaler {
  private readonly template: Template;
  private readonly hosts: HostState[];
  /** Stops under way, by member id: not counted, their slots not reused until done. */
  private readonly stopping = new Map<string, Promise<void>>();

  constructor(
    private readonly config: SystemdConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.template = new Template(config.unit);
    const settings = { ...config, configDir: ctx.configDir };
    this.hosts = config.hosts
      ? config.hosts.map((h) => ({ transport: new SshTransport(h, settings) }))
      : [{ transport: new LocalTransport() }];
  }

  private where(h: HostState): string {
    return h.transport.remote ? `host ${h.transport.name}` : 'this host';
  }

  /** Runs a systemctl script; a non-zero exit is an error naming the host and the unit. */
  private async call(h: HostState, script: string, what: string, timeoutMs = this.config.command_timeout) {
    const r = await h.transport.run(script, timeoutMs).catch((error: unknown) => {
      throw new Error(`${this.where(h)} is down: ${errorMessage(error)}`);
    });
    if (r.exitCode !== 0) {
      const how = r.exitCode === null ? `timed out after ${timeoutMs} ms` : `failed (exit ${r.exitCode})`;
      throw new Error(`${what} on ${this.where(h)} ${how}: ${r.output.slice(-300) || 'no output'}`);
    }
    return r.stdout;
  }

  private async instances(h: HostState): Promise<Instance[]> {
    const u = this.config.user;
    const listed = parseListUnits(
      this.template,
      await this.call(h, systemctl(u, 'list-units', '--all', '--output=json', this.template.glob), this.listWhat()),
    );
    if (listed.length === 0) return [];
    const shown = await this.call(
      h,
      systemctl(u, 'show', '--timestamp=us+utc', '-p', SHOW_PROPERTIES, ...listed.map((i) => i.unit)),
      `systemctl show of ${this.config.unit} instances`,
    );
    return withDetails(listed, parseShow(shown));
  }

  private listWhat(): string {
    return `systemctl${this.config.user ? ' --user' : ''} list-units of ${this.config.unit}`;
  }

  async housekeep(): Promise<void> {
    await Promise.all(
      this.hosts.map(async (h) => {
        try {
          const failed = (await this.instances(h)).filter((i) => i.active === 'failed').map((i) => i.unit);
          if (failed.length === 0) return;
          await this.call(
            h,
            systemctl(this.config.user, 'reset-failed', ...failed),
            `reset-failed ${failed.join(' ')}`,
          );
          this.ctx.logger.info({ host: h.transport.name, units: failed }, 'reset failed instances; they start again');
        } catch (error) {
          // observe, which comes next, reports the host; a reset that failed is retried next time.
          this.ctx.logger.debug({ host: h.transport.name, err: errorMessage(error) }, 'housekeeping skipped');
        }
      }),
    );
  }

  async observe() {
    const members: Member[] = [];
    const errors: string[] = [];
    await Promise.all(
      this.hosts.map(async (h) => {
        try {
          const found = await this.instances(h);
          if (h.down) this.ctx.logger.info({ host: h.transport.name }, 'host is usable again');
          h.down = undefined;
          const view = { name: h.transport.name, config: h.transport.remote };
          for (const i of found) {
            const m = asMember(view, i, false);
            members.push(this.stopping.has(m.id) ? { ...m, state: 'stopping', ready: false } : m);
          }
        } catch (error) {
          const message = `${this.ctx.address}: ${errorMessage(error)}`;
          if (!h.transport.remote) {
            errors.push(message);
            return;
          }
          h.transport.close();
          if (h.down !== message) this.ctx.emitError(message, { host: h.transport.name });
          h.down = message;
        }
      }),
    );
    // Locally there is no other host to overflow to: an unusable manager is an error.
    if (errors.length > 0) throw new Error(errors.join('; '));
    const counted = members.filter((m) => counts(m.state));
    return { count: counted.length, ready: counted.filter((m) => m.ready).length, members };
  }

  private callInput(): CallInput {
    const env = this.config.env;
    const keys = Object.keys(env);
    return {
      template: this.template,
      user: this.config.user,
      stopTimeoutMs: this.config.stop_timeout,
      perHostMax: this.config.per_host_max ?? Math.max(this.config.max, 1),
      hosts: this.hosts.map((h) => ({ name: h.transport.name, prefix: h.transport.prefix, down: h.down })),
      dropIn:
        keys.length === 0
          ? undefined
          : {
              path: dropInPath(this.config.user, this.config.unit, this.ctx.id),
              text: dropInText(this.ctx.address, env),
              keys,
            },
      stopping: this.stopping.keys(),
    };
  }

  describeApply(plan: Plan): string[] {
    const { calls, unplaced } = planCalls(plan, this.callInput());
    return [...calls.map((c) => c.shown), ...(unplaced > 0 ? [`(${unplaced} more: no reachable host has room)`] : [])];
  }

  async apply(plan: Plan) {
    const { calls, unplaced } = planCalls(plan, this.callInput());
    for (const c of calls.filter((c) => c.kind === 'stop')) this.stopInBackground(c);
    for (const c of calls.filter((c) => c.kind !== 'stop')) {
      const h = this.hostNamed(c.host);
      const what =
        c.kind === 'start' ? `systemctl start ${c.units.join(' ')}` : `writing the env drop-in of ${this.config.unit}`;
      try {
        await this.call(h, c.script, what);
      } catch (error) {
        throw new Error(`${this.ctx.address}: ${errorMessage(error)}`);
      }
      if (c.kind === 'start') this.ctx.logger.info({ host: c.host, units: c.units }, 'instances started');
    }
    if (unplaced > 0) {
      const down = this.hosts.filter((h) => h.down).map((h) => `${h.transport.name} (${h.down})`);
      throw new Error(
        `${this.ctx.address}: placed ${plan.add - unplaced} of ${plan.add} new instances of ${this.config.unit}: no reachable host has room (per_host_max ${this.config.per_host_max ?? this.config.max})${down.length ? `; down: ${down.join(', ')}` : ''}`,
      );
    }
  }

  private hostNamed(name: string): HostState {
    const h = this.hosts.find((x) => x.transport.name === name);
    if (!h) throw new Error(`${this.ctx.address}: unknown host ${name}`);
    return h;
  }

  private memberIds(c: Call): string[] {
    const h = this.hostNamed(c.host);
    return c.units.map((u) => (h.transport.remote ? `${c.host}/${u}` : u));
  }

  private stopInBackground(c: Call): void {
    const ids = this.memberIds(c).filter((id) => !this.stopping.has(id));
    if (ids.length === 0) return;
    const h = this.hostNamed(c.host);
    this.ctx.logger.info({ host: c.host, units: c.units }, 'stopping instances');
    const done = this.call(h, c.script, `systemctl stop ${c.units.join(' ')}`, this.config.stop_timeout + 15_000)
      .then(() => undefined)
      .catch((error: unknown) => {
        this.ctx.emitError(`${this.ctx.address}: ${errorMessage(error)}`, { host: c.host });
      })
      .finally(() => {
        for (const id of ids) this.stopping.delete(id);
      });
    for (const id of ids) this.stopping.set(id, done);
  }

  /** busy_check / drain: on the member's host, with its instance, slot and MainPID in the env. */
  async runInMember(member: Member, command: string, timeoutMs: number): Promise<MemberCommandResult> {
    const { host, unit } = splitMemberId(member.id);
    const h = host === undefined ? this.hosts[0] : this.hostNamed(host);
    const slot = this.template.slotOf(unit);
    if (!h || slot === undefined) throw new Error(`${this.ctx.address}: unknown member ${member.id}`);
    const pid = systemctl(this.config.user, 'show', '-p', 'MainPID', '--value', unit);
    const script = `p=$(${pid})
WAYMOND_SCALER=${shellQuote(this.ctx.id)} WAYMOND_UNIT=${shellQuote(unit)} WAYMOND_INDEX=${slot} WAYMOND_MEMBER_PID=$p sh -c ${shellQuote(command)}`;
    const r = await h.transport.run(script, timeoutMs);
    return { exitCode: r.exitCode, output: r.output };
  }

  async stopAll(): Promise<void> {
    const observed = await this.observe();
    const remove = observed.members.filter((m) => counts(m.state) && !this.stopping.has(m.id));
    const plan: Plan = { desired: 0, observed, add: 0, remove, data: {}, reason: 'stop all' };
    for (const c of planCalls(plan, this.callInput()).calls) this.stopInBackground(c);
    await Promise.all([...this.stopping.values()]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.stopping.values()]);
    for (const h of this.hosts) h.transport.close();
  }
}
