// The daemon's JSON API as the dashboard reads it (same origin: the page is served by the daemon).

export interface WaymondEvent {
  id: string;
  topic: string;
  source: string;
  time: number;
  data: Record<string, unknown>;
}

export interface Target {
  id?: string;
  name?: string;
  desired?: number;
  observed?: number;
  ready?: number;
  [key: string]: unknown;
}

export interface Component {
  address: string;
  kind: string;
  type: string;
  min?: number;
  max?: number;
  desired?: number;
  observed?: number;
  ready?: number;
  members?: unknown[];
  targets?: Target[];
}

export type HealthState = 'ok' | 'failing' | 'dry_run' | 'idle';
export interface Health {
  state: HealthState;
  reason?: string;
  since?: number;
}

export interface GraphNode {
  address: string;
  kind: string;
  type: string;
  health: Health;
}

export interface Graph {
  nodes: GraphNode[];
  edges: { from: string; to: string }[];
}

export interface Decision {
  id?: number;
  time: number;
  scaler: string;
  sourceEvent: string | null;
  observed: number | null;
  desired: number | null;
  action: string;
  outcome: string;
  error: string | null;
  durationMs: number;
  reason: string;
}

export interface Point {
  time: number;
  value: number;
  source?: string;
}

export interface Series {
  scaler: string;
  since: number;
  decisions: { time: number; observed: number | null; desired: number | null; outcome: string }[];
  requested: Point[];
  signals: Record<string, Point[]>;
}

const TOKEN_KEY = 'waymond-token';

export class Unauthorized extends Error {}

function headers(): HeadersInit {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: headers() });
  if (response.status === 401 || response.status === 403) throw new Unauthorized(`${path}: ${response.status}`);
  if (!response.ok) throw new Error(`${path}: the daemon answered ${response.status}`);
  return (await response.json()) as T;
}

/**
 * Follows `/api/tap` (NDJSON, one event a line) until `signal` aborts; reconnects after a
 * dropped stream so a restarted daemon is picked up again.
 */
export async function followTap(
  onEvent: (event: WaymondEvent) => void,
  onState: (live: boolean) => void,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await fetch('/api/tap', { headers: headers(), signal });
      if (!response.ok || !response.body) throw new Error(`tap: ${response.status}`);
      onState(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onEvent(JSON.parse(line) as WaymondEvent);
      }
    } catch {
      // dropped or refused: retry below
    }
    onState(false);
    if (!signal.aborted) await new Promise((r) => setTimeout(r, 2000));
  }
}

/** The same rule as the daemon's (src/server/dashboard.ts), applied to live events. */
export function nextHealth(current: Health | undefined, event: WaymondEvent): Health | undefined {
  const channel = event.topic.slice(event.topic.lastIndexOf('.') + 1);
  const error = typeof event.data.error === 'string' ? event.data.error : 'error';
  if (channel === 'error') return { state: 'failing', reason: error, since: event.time };
  if (channel === 'output') return { state: 'ok', since: event.time };
  if (channel === 'result') {
    const outcome = event.data.outcome;
    if (outcome === 'ok') return { state: 'ok', since: event.time };
    if (outcome === 'dry_run') return { state: 'dry_run', since: event.time };
    if (outcome === 'error' || outcome === 'rejected') return { state: 'failing', reason: error, since: event.time };
  }
  return current;
}

export function addressOf(event: WaymondEvent): string {
  return event.topic.slice(0, event.topic.lastIndexOf('.'));
}

export function shortId(address: string): string {
  return address.slice(address.indexOf('.') + 1);
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}
