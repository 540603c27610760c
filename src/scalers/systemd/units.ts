/**
 * Pure helpers of the systemd scaler: instance names, the `systemctl` command lines, and
 * reading what `list-units --output=json` and `show` print. No I/O here.
 */
import type { Member, MemberState } from '../../core/types.js';
import { shellQuote } from '../ssh-connection.js';

export class Template {
  /** `buildkite-agent` of `buildkite-agent@.service`. */
  readonly prefix: string;

  constructor(readonly unit: string) {
    this.prefix = unit.slice(0, -'@.service'.length);
  }

  instance(slot: number): string {
    return `${this.prefix}@${slot}.service`;
  }

  /** The slot of one of our instances; undefined for anything else (`agent@x`, `agent@01`, other units). */
  slotOf(name: string): number | undefined {
    if (!name.startsWith(`${this.prefix}@`) || !name.endsWith('.service')) return undefined;
    const slot = name.slice(this.prefix.length + 1, -'.service'.length);
    return /^[1-9][0-9]{0,8}$/.test(slot) ? Number(slot) : undefined;
  }

  get glob(): string {
    return `${this.prefix}@*.service`;
  }
}

/** `systemctl [--user] --no-pager --no-ask-password ARGS`, quoted for sh. */
export function systemctl(user: boolean, ...args: string[]): string {
  return ['systemctl', ...(user ? ['--user'] : []), '--no-pager', '--no-ask-password', ...args]
    .map((a) => (/^[A-Za-z0-9@%_+=:,./-]+$/.test(a) ? a : shellQuote(a)))
    .join(' ');
}

export const SHOW_PROPERTIES = 'Id,ActiveState,SubState,MainPID,ActiveEnterTimestamp,InactiveExitTimestamp';

export interface Instance {
  unit: string;
  slot: number;
  active: string;
  sub: string;
  pid?: number;
  /** Epoch ms the instance last became active (or left inactive, while activating). */
  since?: number;
}

interface ListedUnit {
  unit: string;
  load: string;
  active: string;
  sub: string;
}

/** Our instances in `systemctl list-units --all --output=json` output; inactive ones are absent, as stopped. */
export function parseListUnits(template: Template, json: string): Instance[] {
  let rows: unknown;
  try {
    rows = JSON.parse(json.trim() === '' ? '[]' : json);
  } catch {
    throw new Error(`systemctl list-units printed something that is not JSON: ${json.slice(0, 200)}`);
  }
  if (!Array.isArray(rows)) throw new Error('systemctl list-units printed JSON that is not a list');
  const found: Instance[] = [];
  for (const row of rows as ListedUnit[]) {
    const slot = template.slotOf(String(row?.unit));
    if (slot === undefined || row.load !== 'loaded' || row.active === 'inactive') continue;
    found.push({ unit: row.unit, slot, active: row.active, sub: row.sub });
  }
  return found.sort((a, b) => a.slot - b.slot);
}

/** `systemctl show --timestamp=us+utc -p ...` of several units: blocks separated by blank lines. */
export function parseShow(text: string): Map<string, Record<string, string>> {
  const units = new Map<string, Record<string, string>>();
  for (const block of text.split(/\n\s*\n/)) {
    const props: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) props[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    if (props.Id) units.set(props.Id, props);
  }
  return units;
}

/** "Tue 2026-12-01 08:05:38.345768 UTC" (`--timestamp=us+utc`) → epoch ms; empty → undefined. */
export function parseTimestamp(text: string | undefined): number | undefined {
  const m = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? UTC/.exec(text ?? '');
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}T${m[2]}Z`);
  // Microseconds kept as a fraction of a millisecond: instances started in one burst still sort.
  return Number.isFinite(seconds) ? seconds + Number(`0${m[3] ?? ''}`) * 1000 : undefined;
}

/** Adds MainPID and the timestamps from `show` to what `list-units` said. */
export function withDetails(instances: Instance[], shown: Map<string, Record<string, string>>): Instance[] {
  return instances.map((i) => {
    const p = shown.get(i.unit);
    if (!p) return i;
    const pid = Number(p.MainPID);
    return {
      ...i,
      active: p.ActiveState || i.active,
      sub: p.SubState || i.sub,
      pid: pid > 0 ? pid : undefined,
      since: parseTimestamp(p.ActiveEnterTimestamp) ?? parseTimestamp(p.InactiveExitTimestamp),
    };
  });
}

/** systemd's ActiveState as a member state: active, activating and reloading count. */
export function memberState(active: string): MemberState {
  switch (active) {
    case 'active':
    case 'reloading':
      return 'running';
    case 'activating':
      return 'starting';
    case 'deactivating':
      return 'stopping';
    case 'failed':
      return 'exited';
    default:
      return 'unknown';
  }
}

export function counts(state: MemberState): boolean {
  return state === 'running' || state === 'starting';
}

/** Member id: the instance name, after `host:port/` for a remote host. */
export function memberId(host: string | undefined, unit: string): string {
  return host === undefined ? unit : `${host}/${unit}`;
}

export function splitMemberId(id: string): { host: string | undefined; unit: string } {
  const slash = id.lastIndexOf('/');
  return slash < 0 ? { host: undefined, unit: id } : { host: id.slice(0, slash), unit: id.slice(slash + 1) };
}

/** The drop-in that gives every instance `env`: `Environment="K=V"` lines, `%` and quotes escaped. */
export function dropInText(address: string, env: Record<string, string>): string {
  const lines = Object.entries(env).map(
    ([k, v]) => `Environment="${`${k}=${v}`.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`,
  );
  return `# Written by waymond (${address}): the environment of the instances it starts.\n[Service]\n${lines.join('\n')}\n`;
}

/** Where the drop-in lives, as a sh expression (the user manager's config dir is the remote user's). */
export function dropInPath(user: boolean, unit: string, id: string): string {
  const dir = user ? '"${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"' : '/etc/systemd/system';
  return `${dir}/${shellQuote(`${unit}.d`)}/${shellQuote(`waymond-${id}.conf`)}`;
}

export function asMember(
  host: { name: string; config?: { host: string; port: number } } | undefined,
  i: Instance,
  stopping: boolean,
): Member {
  const state = stopping ? 'stopping' : memberState(i.active);
  return {
    id: memberId(host?.config ? host.name : undefined, i.unit),
    state,
    ready: state === 'running',
    startedAt: i.since,
    info: {
      ...(host?.config ? { host: host.config.host, port: host.config.port } : {}),
      unit: i.unit,
      slot: i.slot,
      ...(i.pid ? { pid: i.pid } : {}),
      active: i.active,
      sub: i.sub,
    },
  };
}
