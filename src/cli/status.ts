/**
 * `waymond status [--url URL] [--json]`: one line per scaler of a running daemon, from
 * /api/components (desired, current, limits) and /api/decisions (the last decision and
 * its reason). Unknown fields in the answers are ignored, so a newer daemon that reports
 * more (per-target lists, say) still prints.
 */
import { authHeaders, unauthorisedHint } from './daemon-auth.js';

export interface ComponentInfo {
  address: string;
  kind: string;
  type: string;
  min?: number;
  max?: number;
  desired?: number | null;
  observed?: number | null;
  ready?: number | null;
  health?: unknown;
}

export interface DecisionInfo {
  time: number;
  scaler: string;
  desired: number | null;
  observed: number | null;
  action: string;
  outcome: string;
  error: string | null;
  reason: string;
}

export interface StatusRow {
  scaler: string;
  type: string;
  desired: string;
  current: string;
  limits: string;
  health: string;
  last: string;
  reason: string;
}

const dash = '-';
const show = (n: number | null | undefined): string => (typeof n === 'number' ? String(n) : dash);

/** ok, starting (fewer ready than running), failing (the last decision was an error), unknown. */
export function healthOf(component: ComponentInfo, last: DecisionInfo | undefined): string {
  if (typeof component.health === 'string') return component.health;
  if (last?.outcome === 'error') return 'failing';
  if (typeof component.observed !== 'number') return 'unknown';
  if (typeof component.ready === 'number' && component.ready < component.observed) return 'starting';
  return 'ok';
}

function ago(time: number, now: number): string {
  const s = Math.max(0, Math.round((now - time) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export function statusRows(components: ComponentInfo[], decisions: DecisionInfo[], now: number): StatusRow[] {
  const lastOf = new Map<string, DecisionInfo>();
  // /api/decisions answers newest first; keep the first seen per scaler.
  for (const d of [...decisions].sort((a, b) => b.time - a.time)) if (!lastOf.has(d.scaler)) lastOf.set(d.scaler, d);
  return components
    .filter((c) => c.kind === 'scaler')
    .map((c) => {
      const last = lastOf.get(c.address);
      const reason = last ? (last.error ? `${last.reason} (error: ${last.error})` : last.reason) : dash;
      return {
        scaler: c.address,
        type: c.type,
        desired: show(c.desired),
        current: show(c.observed),
        limits: `${show(c.min)}..${show(c.max)}`,
        health: healthOf(c, last),
        last: last ? `${last.action} ${last.outcome} ${ago(last.time, now)}` : dash,
        reason: reason.replace(/\s+/g, ' '),
      };
    });
}

const COLUMNS: [keyof StatusRow, string][] = [
  ['scaler', 'SCALER'],
  ['type', 'TYPE'],
  ['desired', 'DESIRED'],
  ['current', 'CURRENT'],
  ['limits', 'MIN..MAX'],
  ['health', 'HEALTH'],
  ['last', 'LAST DECISION'],
  ['reason', 'REASON'],
];

/** A plain text table; the last column (the reason) is never padded or cut. */
export function renderTable(rows: StatusRow[]): string {
  if (rows.length === 0) return 'no scalers\n';
  const widths = COLUMNS.map(([key, title]) => Math.max(title.length, ...rows.map((r) => r[key].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(COLUMNS.map(([, title]) => title)), ...rows.map((r) => line(COLUMNS.map(([key]) => r[key])))].join('\n')}\n`;
}

async function getJson(base: string, path: string, tokenEnv?: string): Promise<unknown> {
  const response = await fetch(`${base}${path}`, { headers: authHeaders(tokenEnv) });
  if (response.status === 401) throw new Error(unauthorisedHint(tokenEnv));
  if (!response.ok) throw new Error(`${path}: the daemon answered ${response.status}`);
  return response.json();
}

export async function statusCommand(options: { url: string; json?: boolean; tokenEnv?: string }): Promise<number> {
  const base = options.url.replace(/\/$/, '');
  let components: ComponentInfo[];
  let decisions: DecisionInfo[];
  try {
    components =
      ((await getJson(base, '/api/components', options.tokenEnv)) as { components?: ComponentInfo[] }).components ?? [];
    // One query per scaler: a busy scaler's decisions never crowd out a quiet one's.
    const scalers = components.filter((c) => c.kind === 'scaler');
    const answers = await Promise.all(
      scalers.map((c) =>
        getJson(base, `/api/decisions?scaler=${encodeURIComponent(c.address)}&limit=1`, options.tokenEnv),
      ),
    );
    decisions = answers.flatMap((a) => (a as { decisions?: DecisionInfo[] }).decisions ?? []);
  } catch (error) {
    const message = (error as Error).message;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    process.stderr.write(
      `error: cannot read the daemon at ${options.url}: ${cause?.code ?? cause?.message ?? message}\n`,
    );
    return 1;
  }
  const rows = statusRows(components, decisions, Date.now());
  process.stdout.write(options.json ? `${JSON.stringify(rows, null, 2)}\n` : renderTable(rows));
  return 0;
}
