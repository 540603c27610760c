/**
 * What an apply does, as a pure list of calls: `apply` runs them and `describeApply` (the
 * dry run) prints them, so the two cannot disagree. Placement follows the ssh scaler:
 * least loaded reachable host first, at most `per_host_max` each; slots are the lowest
 * free on that host.
 */
import type { Plan } from '../../core/types.js';
import { placeMembers } from '../ssh.js';
import { splitMemberId, systemctl, type Template } from './units.js';

export interface HostView {
  /** Transport name: `host:port` or `local`. */
  name: string;
  /** "ssh user@host:port " or "". */
  prefix: string;
  /** Why the host cannot be used now, if it cannot. */
  down?: string;
}

export interface Call {
  host: string;
  kind: 'drop-in' | 'start' | 'stop';
  units: string[];
  /** The sh script run on the host. */
  script: string;
  /** One line for the dry run. */
  shown: string;
}

export interface CallInput {
  template: Template;
  user: boolean;
  stopTimeoutMs: number;
  perHostMax: number;
  hosts: HostView[];
  /** The drop-in to write before starting instances on a host (path as a sh expression). */
  dropIn?: { path: string; text: string; keys: string[] };
  /** Member ids whose stop is under way (their slots are not free yet). */
  stopping: Iterable<string>;
}

export interface Calls {
  calls: Call[];
  /** New members that found no host with room. */
  unplaced: number;
}

function hostOf(id: string, hosts: HostView[]): string {
  return splitMemberId(id).host ?? hosts[0]?.name ?? 'local';
}

export function lowestFree(taken: Set<number>): number {
  let slot = 1;
  while (taken.has(slot)) slot++;
  return slot;
}

export function planCalls(plan: Plan, o: CallInput): Calls {
  const members = plan.observed.members ?? [];
  const calls: Call[] = [];
  const stopping = [...o.stopping];

  // Scale-in first: one stop per host, bounded by stop_timeout, then SIGKILL.
  const removeByHost = new Map<string, string[]>();
  for (const m of plan.remove) {
    const host = hostOf(m.id, o.hosts);
    removeByHost.set(host, [...(removeByHost.get(host) ?? []), splitMemberId(m.id).unit]);
  }
  for (const [host, units] of removeByHost) {
    const view = o.hosts.find((h) => h.name === host);
    calls.push(stopCall(host, view?.prefix ?? '', units, o));
  }

  if (plan.add <= 0) return { calls, unplaced: 0 };
  const up = o.hosts.filter((h) => !h.down);
  const onHost = <T extends { id: string }>(h: string, list: T[]) => list.filter((m) => hostOf(m.id, o.hosts) === h);
  const load = new Map(up.map((h) => [h.name, onHost(h.name, members).filter((m) => m.state !== 'exited').length]));
  const placed = placeMembers(load, plan.add, o.perHostMax);
  const startsByHost = new Map<string, string[]>();
  for (const host of new Set(placed)) {
    const taken = new Set<number>();
    for (const m of onHost(host, members)) taken.add(slotOfId(m.id, o.template));
    for (const id of stopping) if (hostOf(id, o.hosts) === host) taken.add(slotOfId(id, o.template));
    const units: string[] = [];
    for (let i = placed.filter((p) => p === host).length; i > 0; i--) {
      const slot = lowestFree(taken);
      taken.add(slot);
      units.push(o.template.instance(slot));
    }
    startsByHost.set(host, units);
  }
  for (const [host, units] of startsByHost) {
    const view = up.find((h) => h.name === host) as HostView;
    if (o.dropIn) calls.push(dropInCall(view, o.user, o.dropIn));
    calls.push({
      host,
      kind: 'start',
      units,
      script: systemctl(o.user, 'start', '--no-block', ...units),
      shown: `${view.prefix}${systemctl(o.user, 'start', '--no-block', ...units)}`,
    });
  }
  return { calls, unplaced: plan.add - placed.length };
}

function slotOfId(id: string, template: Template): number {
  return template.slotOf(splitMemberId(id).unit) ?? 0;
}

function stopCall(host: string, prefix: string, units: string[], o: CallInput): Call {
  const seconds = Math.max(1, Math.ceil(o.stopTimeoutMs / 1000));
  const stop = systemctl(o.user, 'stop', ...units);
  const kill = systemctl(o.user, 'kill', '--signal=SIGKILL', ...units);
  // `timeout` ends only our systemctl; the stop job goes on in systemd until the SIGKILL ends it.
  const script = `timeout ${seconds} ${stop}; r=$?; [ $r -ne 124 ] && exit $r
echo "stop took longer than ${seconds}s: killing" >&2; ${kill}`;
  return { host, kind: 'stop', units, script, shown: `${prefix}${stop} (after ${seconds}s: ${kill})` };
}

function dropInCall(view: HostView, user: boolean, dropIn: NonNullable<CallInput['dropIn']>): Call {
  const reload = systemctl(user, 'daemon-reload');
  const text = dropIn.text.replace(/'/g, `'\\''`);
  // Written only when it differs, so an unchanged config costs no daemon-reload.
  const script = `f=${dropIn.path}; t='${text}'
[ "$(cat "$f" 2>/dev/null)" = "$(printf %s "$t")" ] && exit 0
mkdir -p "$(dirname "$f")" && printf %s "$t" > "$f.tmp" && mv "$f.tmp" "$f" && ${reload}`;
  return {
    host: view.name,
    kind: 'drop-in',
    units: [],
    script,
    shown: `${view.prefix}write ${dropIn.path} (Environment ${dropIn.keys.join(', ')}) and ${reload}, if it changed`,
  };
}
